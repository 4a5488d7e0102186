"""The `fit` object of the report: memory, placement, disk size and speed for one model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from selector.catalog.schema import ModelEntry
from selector.fit import calibration, speed
from selector.fit.memory import (
    GIB,
    ModelShape,
    RuntimeSettings,
    compute_reserved_bytes,
    memory_breakdown,
    shape_from_catalog,
)
from selector.fit.placement import place
from selector.fit.quant import bits_per_weight, kv_bytes_per_element, normalize_quant
from selector.hardware import HardwareProfile

# A GGUF file holds the tensors plus metadata and the tokenizer (a few MB): 1% covers it.
GGUF_FILE_OVERHEAD = 1.01


class Fit(BaseModel):
    """Whether and where a model fits, what it needs and how fast it should decode (docs/fit.md)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    quantization: str
    memory_gb: float = Field(
        description="what must fit: the allocation on GPU/split, the resident peak on CPU"
    )
    placement: Literal["gpu", "split", "cpu", "none"]
    fits: bool
    estimated_decode_tokens_per_s: float | None = None
    estimated_time_to_first_token_ms: float | None = None
    context_tokens: int = 0
    weights_gb: float = 0.0
    kv_cache_gb: float = 0.0
    compute_gb: float = Field(0.0, description="compute buffer llama.cpp reserves")
    compute_touched_gb: float = Field(0.0, description="part of it a CPU process writes")
    overhead_gb: float = 0.0
    gpu_memory_gb: float = 0.0
    cpu_memory_gb: float = 0.0
    gpu_layers: int = 0
    allocation_gb: float = Field(0.0, description="everything llama.cpp allocates")
    resident_peak_gb: float = Field(0.0, description="peak RSS of a CPU-only process")
    memory_kind: Literal["allocation", "resident_peak"] = "allocation"
    disk_gb: float = 0.0
    basis: str = ""
    speed_basis: str = ""
    ttft_basis: str = ""
    llama_cpp_estimate_gb: float | None = None
    notes: list[str] = Field(default_factory=list)
    # The serving engine's view (SPEC §7); filled by the engine-aware fit.
    engine: str | None = Field(None, description="llama.cpp, vllm or sglang")
    precision: str | None = Field(None, description="e.g. BF16, FP8, Q4_K_M, MXFP4")
    tensor_parallel: int | None = None
    kv_capacity_tokens: int | None = Field(None, description="KV cache capacity, tokens")
    max_concurrency: float | None = Field(
        None, description="sessions of context_tokens the KV cache holds at once"
    )
    # Added by the engine-aware fit (issue 12); per replica unless named otherwise.
    pipeline_parallel: int | None = None
    data_parallel: int | None = Field(None, description="replicas on the GPUs at hand")
    gpu_memory_utilization: float | None = Field(
        None, description="vLLM --gpu-memory-utilization / SGLang --mem-fraction-static"
    )
    kv_cache_dtype: str | None = None
    concurrent_sessions: int | None = Field(None, description="the load the speed is for")
    aggregate_decode_tokens_per_s: float | None = Field(
        None, description="all sessions together, all replicas"
    )
    non_kv_reserve_gb: float | None = Field(
        None, description="per GPU: profile-run activations, sampler, non-torch, CUDA graphs"
    )
    kv_capacity_gb: float | None = Field(None, description="KV cache memory per GPU")
    checkpoint: str | None = Field(None, description="the repository (or GGUF preset) served")
    online_quantization: str | None = Field(
        None, description="vLLM --quantization when the engine converts at load (fp8)"
    )
    engine_reason: str = ""
    precision_reason: str = ""
    quality_cost: float | None = Field(
        None, description="relative quality lost at this precision, from published measurements"
    )
    quality_basis: str = ""


def disk_size_gb(model: ModelEntry, quantization: str) -> float:
    """GGUF file size: parameters x the preset's bits per weight, plus metadata."""
    return model.params_b * 1e9 * bits_per_weight(quantization) / 8 * GGUF_FILE_OVERHEAD / GIB


def estimate_fit(
    model: ModelEntry,
    hardware: HardwareProfile,
    *,
    quantization: str,
    context_tokens: int,
    gguf_path: Path | None = None,
    kv_cache_type: str = "f16",
    runtime: RuntimeSettings | None = None,
    prompt_tokens: int = speed.PROMPT_TOKENS_FOR_TTFT,
) -> Fit:
    """Fit of a catalog model; read from `gguf_path` instead when that file is at hand.

    Raises ValueError for an unknown quantization or KV cache type.
    """
    quant = normalize_quant(quantization)
    kv_bytes_per_element(kv_cache_type)  # validate early
    rt = runtime or RuntimeSettings(kv_cache_type=kv_cache_type)
    if gguf_path is not None:
        from selector.fit.gguf_read import shape_from_gguf

        shape = shape_from_gguf(gguf_path)
        disk = gguf_path.stat().st_size / GIB
    else:
        shape = shape_from_catalog(model, quant)
        disk = disk_size_gb(model, quant)
    fit = fit_from_shape(
        shape, hardware, context_tokens=context_tokens, runtime=rt, prompt_tokens=prompt_tokens
    )
    return fit.model_copy(update={"quantization": quant, "disk_gb": round(disk, 2)})


def fit_from_shape(
    shape: ModelShape,
    hardware: HardwareProfile,
    *,
    context_tokens: int,
    runtime: RuntimeSettings,
    quantization: str = "",
    prompt_tokens: int = speed.PROMPT_TOKENS_FOR_TTFT,
) -> Fit:
    """Memory, placement and speed from a model shape (catalog- or GGUF-derived).

    With `runtime.n_seq` > 1 (llama-server -np), each sequence holds `context_tokens`, and the
    decode speed is per sequence with all of them decoding at once.
    """
    rt = runtime
    mem = memory_breakdown(shape, context_tokens, rt)
    layer_phase = compute_reserved_bytes(
        ModelShape(**{**shape.__dict__, "n_vocab": 0}), context_tokens, rt
    )
    kv_elem = kv_bytes_per_element(rt.kv_cache_type)
    weights_read = shape.active_weights_bytes - (
        0.0 if shape.tied_embeddings else shape.embedding_bytes
    )
    kv_read = speed.kv_read_bytes_per_token(shape, context_tokens, kv_elem)
    # n_seq sequences decode together: one step reads the weights once and every KV cache
    decode_read = weights_read + kv_read * max(rt.n_seq, 1)
    where = place(shape, mem, layer_phase, decode_read, hardware)

    target = "cpu" if where.kind in ("cpu", "none") else "gpu"
    # weight types with a slow CPU kernel cost more than their bytes, on the CPU's share
    cpu_share = where.cpu_read_per_token / decode_read if decode_read > 0 else 0.0
    spd = speed.decode_speed(
        where.gpu_read_per_token,
        where.cpu_read_per_token,
        hardware,
        calibration.load_decode_model(hardware, target=target),
        shape.n_layers,
        shape.n_vocab,
        speed.attention_macs_per_token(shape, context_tokens),
        cpu_slow_extra=shape.cpu_slow_kernel_extra_bytes * cpu_share,
    )
    p_eff, p_basis = calibration.load_efficiency(hardware, target=target, kind="prefill")
    ttft, ttft_basis = speed.time_to_first_token_ms(
        speed.prefill_flops_per_token(shape),
        2.0 * shape.output_params if shape.output_params else 2.0 * shape.embedding_params,
        target == "gpu",
        hardware,
        p_eff,
        p_basis,
        prompt_tokens=prompt_tokens,
    )
    allocation = mem.allocation
    resident = mem.resident
    if where.kind == "cpu" or (where.kind == "none" and not hardware.gpus):
        memory, kind = resident, "resident_peak"
    else:
        memory, kind = allocation, "allocation"
    notes = [where.note] if where.note else []
    return Fit(
        quantization=quantization,
        memory_gb=_gb(memory),
        memory_kind=kind,
        placement=where.kind,
        fits=where.fits,
        estimated_decode_tokens_per_s=_round(spd.tokens_per_s, 1),
        estimated_time_to_first_token_ms=_round(ttft, 0),
        context_tokens=context_tokens,
        weights_gb=_gb(mem.weights + mem.repack),
        kv_cache_gb=_gb(mem.kv_cache),
        compute_gb=_gb(mem.compute_reserved),
        compute_touched_gb=_gb(mem.compute_touched),
        overhead_gb=_gb(mem.overhead),
        gpu_memory_gb=_gb(where.gpu_bytes),
        cpu_memory_gb=_gb(where.cpu_bytes),
        gpu_layers=where.gpu_layers,
        allocation_gb=_gb(allocation),
        resident_peak_gb=_gb(resident),
        basis=shape.basis,
        speed_basis=f"estimate: {spd.basis}",
        ttft_basis=f"estimate: {ttft_basis}",
        notes=notes,
    )


def _gb(value: float) -> float:
    return round(value / GIB, 4)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
