"""The choices before sizing: which engine, which checkpoints exist, which GPU layouts to try.

`selector/fit/deploy.py` walks them; docs/fit.md ("Serving engines") gives each rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from selector.catalog.schema import Artifact, ModelEntry
from selector.fit.precision import quality_cost, quantization_family, serving_precision
from selector.hardware import GPUSlot, HardwareProfile

# Most GPUs one tensor-parallel group spans: one NVLink/xGMI node of 8.
MAX_TENSOR_PARALLEL = 8
# What CUDA reports as a GPU's total memory (torch.cuda.mem_get_info), GiB, where a log shows
# it; it is less than the nominal size (ECC, reserved firmware memory, the driver).
CUDA_TOTAL_GIB: dict[str, tuple[float, str]] = {
    "h100-sxm": (79.22, "https://github.com/vllm-project/vllm/pull/10511"),
    "rtx-3090": (23.58, "https://github.com/vllm-project/vllm/issues/10517"),
    "rtx-4090": (23.55, "https://github.com/vllm-project/vllm/issues/13061"),
    "rtx-5090": (31.37, "https://github.com/Wan-Video/Wan2.1/issues/465"),
}
# nvidia-smi's memory.total exceeds CUDA's total by about this much (3090: 24.00 vs 23.58 GiB;
# 5090: 31.84 vs 31.37 GiB); taken off detected GPUs and, with no log, off nominal sizes.
CUDA_RESERVED_GIB = 0.45


@dataclass(frozen=True)
class Deployment:
    """The requirements that decide how a candidate is served."""

    engine: str = "auto"
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_dtype: str = "auto"
    quantization: str = "auto"
    context_tokens: int = 8192
    sessions: int = 1
    min_decode_tokens_per_s: float | None = None
    max_time_to_first_token_ms: float | None = None
    prompt_tokens: int = 512
    allow_offload: bool = False
    max_disk_gb: float | None = None

    @classmethod
    def from_requirements(cls, req: object) -> Deployment:
        r = req  # a selector.requirements.Requirements (not imported: requirements imports fit)
        d = r.deployment  # type: ignore[attr-defined]
        return cls(
            engine=d.engine,
            tensor_parallel=d.tensor_parallel,
            pipeline_parallel=d.pipeline_parallel,
            gpu_memory_utilization=d.gpu_memory_utilization,
            kv_cache_dtype=d.kv_cache_dtype,
            quantization=r.size.quantization,  # type: ignore[attr-defined]
            context_tokens=r.use_case.context_tokens,  # type: ignore[attr-defined]
            sessions=r.use_case.concurrent_sessions,  # type: ignore[attr-defined]
            min_decode_tokens_per_s=r.latency.min_decode_tokens_per_s,  # type: ignore[attr-defined]
            max_time_to_first_token_ms=r.latency.max_time_to_first_token_ms,  # type: ignore[attr-defined]
            prompt_tokens=r.latency.prompt_tokens,  # type: ignore[attr-defined]
            allow_offload=r.hardware.allow_offload,  # type: ignore[attr-defined]
            max_disk_gb=r.size.max_disk_gb,  # type: ignore[attr-defined]
        )


# ---------------------------------------------------------------- engine


def choose_engine(hardware: HardwareProfile, d: Deployment) -> tuple[str, str]:
    """(engine, why) for this hardware and requirements, before looking at the model."""
    if d.engine != "auto":
        return d.engine, f"[deployment] engine = {d.engine!r}"
    family = quantization_family(d.quantization) if d.quantization != "auto" else "both"
    if family == "gguf":
        return "llama.cpp", f"[size] quantization = {d.quantization!r} is a GGUF preset"
    if not hardware.gpus:
        return "llama.cpp", "CPU only: llama.cpp runs GGUF files on CPUs"
    if any(g.unified_memory or g.segment == "apple" for g in hardware.gpus):
        return "llama.cpp", "Apple unified memory: vLLM and SGLang have no Metal backend"
    if family == "serving":
        return "vllm", f"[size] quantization = {d.quantization!r} is a serving-checkpoint precision"
    segments = {g.segment for g in hardware.gpus}
    count = hardware.gpu_count
    if segments <= {"datacenter", "workstation"}:
        kind = "/".join(sorted(s for s in segments if s))
        return "vllm", f"{kind} GPUs: vLLM serves many sessions with a paged KV cache"
    if count > 1:
        return "vllm", f"{count} GPUs: vLLM splits the model over them (tensor parallelism)"
    what = "a single consumer GPU" if "consumer" in segments else "a single GPU of unknown class"
    return "llama.cpp", f"{what}: llama.cpp runs quantized GGUF files in its memory"


# ---------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class ServingOption:
    """One checkpoint vLLM/SGLang can load for a model."""

    precision: str
    repo: str
    native: bool = False  # the model was released in this precision
    online: str | None = None  # vLLM --quantization converting a 16-bit checkpoint at load
    source: str = ""


def native_precision(model: ModelEntry, artifacts: list[Artifact]) -> str | None:
    """The precision of the model's own repository, when the catalog names one (gpt-oss: MXFP4)."""
    for art in artifacts:
        if art.format == "safetensors" and art.repo == model.hf_repo:
            sp = serving_precision(art.quantization)
            return sp.name if sp else None
    return None


def serving_options(model: ModelEntry, artifacts: list[Artifact]) -> list[ServingOption]:
    """The checkpoints that exist, best quality first; FP8 at load when none is published."""
    native = native_precision(model, artifacts)
    options: list[ServingOption] = []
    if model.hf_repo and native is None:
        options.append(ServingOption("BF16", model.hf_repo, source=model.hf_repo))
    for art in artifacts:
        sp = serving_precision(art.quantization)
        if art.format != "safetensors" or sp is None:
            continue
        options.append(
            ServingOption(sp.name, art.repo, native=sp.name == native, source=str(art.source))
        )
    if model.hf_repo and native is None and not any(o.precision == "FP8" for o in options):
        options.append(ServingOption("FP8", model.hf_repo, online="fp8", source=model.hf_repo))
    seen: set[tuple[str, str]] = set()
    unique = []
    for opt in options:
        if (opt.precision, opt.repo) not in seen:
            seen.add((opt.precision, opt.repo))
            unique.append(opt)
    return sorted(unique, key=lambda o: quality_cost(o.precision, native=o.native).cost)


# ---------------------------------------------------------------- GPUs


@dataclass(frozen=True)
class GPUPool:
    """The GPUs a replica can span: the smallest memory and bandwidth of the slots (vLLM needs
    identical GPUs; a mix is planned as if all were the smallest)."""

    name: str
    count: int
    total_gib: float
    bandwidth_gb_s: float | None
    tflops: float | None


def cuda_total_gib(slot: GPUSlot, declared: bool) -> float:
    """What CUDA will report as the GPU's memory."""
    if slot.catalog_id in CUDA_TOTAL_GIB and declared:
        return CUDA_TOTAL_GIB[slot.catalog_id][0]
    return max(slot.vram_gb - CUDA_RESERVED_GIB, 0.1)


def gpu_pool(hardware: HardwareProfile) -> GPUPool:
    declared = hardware.source == "declared"
    slots = hardware.gpus
    bandwidths = [g.bandwidth_gb_s for g in slots]
    tflops = [g.fp16_tflops for g in slots]
    return GPUPool(
        name=slots[0].model,
        count=hardware.gpu_count,
        total_gib=min(cuda_total_gib(g, declared) for g in slots),
        bandwidth_gb_s=None if None in bandwidths else min(b for b in bandwidths if b),
        tflops=None if None in tflops else min(t for t in tflops if t),
    )


def layouts(model: ModelEntry, gpus: int, d: Deployment) -> list[tuple[int, int]]:
    """(tensor_parallel, pipeline_parallel) pairs to try: every TP size first (fewest GPUs
    first), pipeline stages only when TP alone cannot hold the model (PP 2 with TP 1, 2, ...).

    vLLM needs the attention heads to divide by TP, and the KV heads to divide by it or it by
    them (fewer KV heads than GPUs are replicated).
    """
    heads, kv = model.attention.heads, model.attention.kv_heads

    def divides(t: int) -> bool:
        return heads % t == 0 and (kv % t == 0 or t % kv == 0)

    if d.tensor_parallel:
        tps = [d.tensor_parallel] if divides(d.tensor_parallel) else []
    else:
        tps = [t for t in (1, 2, 4, 8) if t <= min(gpus, MAX_TENSOR_PARALLEL) and divides(t)]
    out = []
    for tp in tps:
        pps = [d.pipeline_parallel] if d.pipeline_parallel else range(1, gpus // tp + 1)
        out += [(tp, pp) for pp in pps if tp * pp <= gpus and pp <= model.layers]
    return sorted(out, key=lambda lay: (lay[1], lay[0]))
