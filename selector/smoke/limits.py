"""What a llama.cpp smoke child may take: its memory bound and its context size.

The bound is RLIMIT_DATA (see `selector.smoke.child._bound_memory`): measured on Gemma 3 270M
Q4_K_M at n_ctx 2048 (bench/child_memory_bound.py), the child's private writable memory
(VmData) is 1.24 GiB while its resident peak is 0.37 GiB, of which 0.25 GiB are the mapped
file's pages. The cap bounds what
is allocated (llama.cpp's compute buffer and llama-cpp-python's logits array are reserved whole
and touched in part), never the model file, so it can sit far below RAM without counting the
weights twice. RLIMIT_AS would count the file, the shared libraries and every thread's malloc
arena reservation (64 MiB each) as well.
"""

from __future__ import annotations

GIB = 2**30

# Without `memory_limit_gb`, the child may allocate this share of the available RAM, less the
# model file (whose pages must stay resident for the speed figures to mean anything).
DEFAULT_RAM_SHARE = 0.85
MIN_DEFAULT_GB = 2.0  # below this not even a small model's reserved buffers fit
# A context larger than this (or than the model was trained for) is capped, with a note.
MAX_N_CTX = 1 << 20


def available_ram_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def memory_limit(
    configured_gb: float | None, file_bytes: int, available_bytes: int | None = None
) -> tuple[float, str]:
    """The bound the child runs under (GiB) and a note that says where it comes from."""
    if configured_gb is not None:
        return configured_gb, (
            f"memory bound {configured_gb:.3g} GiB of private memory (memory_limit_gb; "
            "RLIMIT_DATA, the mapped model file not counted)"
        )
    available = available_ram_bytes() if available_bytes is None else available_bytes
    derived = (DEFAULT_RAM_SHARE * available - file_bytes) / GIB
    limit = round(max(MIN_DEFAULT_GB, derived), 2)
    return limit, (
        f"memory bound {limit:.3g} GiB of private memory (default: {DEFAULT_RAM_SHARE:.0%} of "
        f"the {available / GIB:.1f} GiB available RAM less the {file_bytes / GIB:.2f} GiB model "
        "file; set [smoke] memory_limit_gb to change it)"
    )


def cap_n_ctx(requested: int, trained: int | None) -> tuple[int, str | None]:
    """The context to load: at most what the model was trained for and MAX_N_CTX."""
    limits = [(MAX_N_CTX, f"selector's cap of {MAX_N_CTX:,}")]
    if trained and trained > 0:
        limits.append((trained, f"the model's trained context ({trained:,} tokens)"))
    cap, why = min(limits, key=lambda pair: pair[0])
    if requested <= cap:
        return requested, None
    return cap, f"n_ctx {requested:,} capped to {cap:,}: {why}"
