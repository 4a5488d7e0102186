"""llama.cpp's own memory estimate, as a cross-check beside ours (optional).

`llama-fit-params --fit-print on` loads the model and context with `no_alloc` and prints the
bytes llama.cpp would allocate per device (model, context, compute; MiB). llama-cpp-python
0.3.36 does not export that function (it lives in llama.cpp's `common` library), so the tool
is built from the llama.cpp source vendored in the llama-cpp-python sdist by
bench/fit_accuracy.py (`build_fit_params`; a normal run never builds anything).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ENV_BINARY = "SELECTOR_LLAMA_FIT_PARAMS"
REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_CACHE = REPO_ROOT / ".bench-cache"
BUILT_BINARY = BENCH_CACHE / "llama.cpp-build" / "bin" / "llama-fit-params"


@dataclass(frozen=True)
class LlamaCppEstimate:
    """llama.cpp's no_alloc estimate, MiB per device ("Host" is system memory)."""

    devices: dict[str, tuple[int, int, int]]  # name -> (model, context, compute) MiB
    command: str

    @property
    def total_mib(self) -> int:
        return sum(sum(parts) for parts in self.devices.values())

    @property
    def total_gb(self) -> float:
        return self.total_mib / 1024

    def describe(self) -> str:
        parts = [
            f"{name}: {m} model + {c} context + {k} compute MiB"
            for name, (m, c, k) in self.devices.items()
            if m or c or k
        ]
        return "; ".join(parts) or "nothing allocated"


def find_fit_params() -> Path | None:
    """`$SELECTOR_LLAMA_FIT_PARAMS`, the bench build under .bench-cache/, or PATH."""
    env = os.environ.get(ENV_BINARY)
    if env and Path(env).is_file():
        return Path(env)
    if BUILT_BINARY.is_file():
        return BUILT_BINARY
    found = shutil.which("llama-fit-params")
    return Path(found) if found else None


def parse_fit_print(stdout: str) -> dict[str, tuple[int, int, int]]:
    """`NAME model context compute` lines (common/fit.cpp, common_fit_print)."""
    devices: dict[str, tuple[int, int, int]] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[1:]):
            devices[parts[0]] = (int(parts[1]), int(parts[2]), int(parts[3]))
    return devices


def llama_cpp_estimate(
    gguf_path: Path,
    n_ctx: int,
    *,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    swa_full: bool = False,
    flash_attn: bool | None = None,
    n_gpu_layers: int | None = None,
    binary: Path | None = None,
    timeout_s: float = 120,
) -> LlamaCppEstimate | None:
    """Run `llama-fit-params --fit-print on`; None when the tool is missing or fails."""
    exe = binary or find_fit_params()
    if exe is None:
        return None
    args = [str(exe), "-m", str(gguf_path), "-c", str(n_ctx), "-b", str(n_batch)]
    args += ["-ub", str(n_ubatch), "--fit-print", "on"]
    if swa_full:
        args.append("--swa-full")
    if flash_attn is not None:
        args += ["-fa", "on" if flash_attn else "off"]
    if n_gpu_layers is not None:
        args += ["-ngl", str(n_gpu_layers)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError):
        return None
    devices = parse_fit_print(proc.stdout)
    if proc.returncode != 0 or not devices:
        return None
    return LlamaCppEstimate(devices, " ".join(args[1:]))
