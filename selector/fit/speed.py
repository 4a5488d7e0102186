"""Decode and prefill speed projections: bandwidth over bytes per token, FLOPS over FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

from selector.fit.decode_model import DecodeModel
from selector.fit.memory import LayerKV, ModelShape
from selector.hardware import HardwareProfile

# When the machine's RAM bandwidth is unknown: a dual-channel DDR4-3200 desktop or laptop
# (2 x 25.6 GB/s), the common low end of what a CPU-only deployment runs on.
DEFAULT_RAM_BANDWIDTH_GB_S = 51.2
# CPU prefill throughput assumed per physical core for llama.cpp's quantized matmuls
# (AVX2/AVX-512): 40 GFLOPS, measured for Gemma 3 270M Q4_K_M prefill on this project's
# 2-core build machine (docs/fit.md); the calibrated prefill factor scales it.
CPU_GFLOPS_PER_CORE = 40.0
PROMPT_TOKENS_FOR_TTFT = 512


@dataclass(frozen=True)
class SpeedEstimate:
    """A projection with the arithmetic that produced it, for the report."""

    tokens_per_s: float | None
    raw_tokens_per_s: float | None
    basis: str


def attended_cells(
    shape: ModelShape, lay: LayerKV, context_tokens: float, *, swa_full: bool = False
) -> float:
    """Cells one layer attends per generated token with `context_tokens` in the cache.

    Sliding-window layers attend at most their window, unless the cache is full-size
    (`swa_full`): llama.cpp then attends over every used cell and masks the rest.
    """
    if lay.sliding and shape.sliding_window and not swa_full:
        return min(context_tokens, shape.sliding_window)
    return context_tokens


def kv_read_bytes_per_token(
    shape: ModelShape, context_tokens: float, kv_elem_bytes: float, *, swa_full: bool = False
) -> float:
    """KV bytes read per generated token with `context_tokens` already in the cache."""
    return sum(
        attended_cells(shape, lay, context_tokens, swa_full=swa_full)
        * (lay.k_width + lay.v_width)
        * kv_elem_bytes
        for lay in shape.kv_layers
    )


def attention_macs_per_token(
    shape: ModelShape, context_tokens: float, *, swa_full: bool = False
) -> float:
    """Multiply-adds of attention per generated token with `context_tokens` in the cache.

    Every query head takes a dot product with each attended cell's K and adds its V: query
    heads x (key + value length) per cell and layer.
    """
    return sum(
        attended_cells(shape, lay, context_tokens, swa_full=swa_full) * lay.macs_per_cell
        for lay in shape.kv_layers
    )


def ram_bandwidth(hardware: HardwareProfile) -> tuple[float, str]:
    if hardware.ram_bandwidth_gb_s:
        return hardware.ram_bandwidth_gb_s, "declared RAM bandwidth"
    return DEFAULT_RAM_BANDWIDTH_GB_S, "assumed RAM bandwidth (dual-channel DDR4-3200)"


def gpu_bandwidth(hardware: HardwareProfile) -> float | None:
    """The slowest GPU's bandwidth: layers are split across GPUs and read one after another."""
    rates = [g.bandwidth_gb_s for g in hardware.gpus]
    if not rates or any(r is None for r in rates):
        return None
    return min(r for r in rates if r is not None)


def decode_speed(
    gpu_bytes: float,
    cpu_bytes: float,
    hardware: HardwareProfile,
    model: DecodeModel,
    n_layers: int,
    n_vocab: int,
    attn_macs: float = 0.0,
    cpu_slow_extra: float = 0.0,
) -> SpeedEstimate:
    """Tokens/s = 1 / (bytes / (bandwidth x efficiency) + attention + per-token overhead).

    Bytes: GPU bytes over GPU bandwidth plus CPU bytes over RAM bandwidth (the KV cache read
    is inside them). The attention term (`attn_macs` multiply-adds at the model's cost each)
    and the overhead (per layer, per vocabulary entry, fixed) are the model's.
    `cpu_slow_extra`: bytes-equivalent added on the CPU for weight types with a slow kernel.
    """
    seconds = 0.0
    parts: list[str] = []
    if gpu_bytes > 0:
        bw = gpu_bandwidth(hardware)
        if bw is None:
            return SpeedEstimate(None, None, "GPU memory bandwidth unknown (declare a catalog GPU)")
        seconds += gpu_bytes / (bw * 1e9)
        parts.append(f"{bw:g} GB/s GPU / {gpu_bytes / 1e9:.3g} GB per token")
    if cpu_bytes > 0:
        bw, bw_basis = ram_bandwidth(hardware)
        seconds += (cpu_bytes + cpu_slow_extra) / (bw * 1e9)
        slow = (
            f" (+ {cpu_slow_extra / 1e9:.2g} GB-equivalent for Q5_0/Q5_1's slower CPU kernel)"
            if cpu_slow_extra > 0
            else ""
        )
        parts.append(f"{bw:g} GB/s RAM ({bw_basis}) / {cpu_bytes / 1e9:.3g} GB per token{slow}")
    if seconds <= 0:
        return SpeedEstimate(None, None, "nothing to read")
    raw = 1.0 / seconds
    per_token = model.seconds_per_token(seconds, n_layers, n_vocab, attn_macs)
    basis = (
        " + ".join(parts)
        + f" x {model.efficiency:.2f} efficiency{model.describe_attention(attn_macs)}"
        + f" + {model.describe_overhead(n_layers, n_vocab)} ({model.source})"
    )
    return SpeedEstimate(1.0 / per_token, raw, basis)


def prefill_flops_per_token(shape: ModelShape) -> float:
    """2 FLOPs per weight that takes part in a matmul for every prompt token.

    The input embedding is a row lookup, and the output head only runs for the token whose
    logits are wanted, so both are left out of the per-token figure.
    """
    output = 0.0 if shape.tied_embeddings else shape.output_params
    body = shape.active_params - shape.embedding_params - output
    return 2.0 * max(body, 0.1 * shape.active_params)


def time_to_first_token_ms(
    flops_per_token: float,
    output_flops: float,
    on_gpu: bool,
    hardware: HardwareProfile,
    efficiency: float,
    efficiency_basis: str,
    prompt_tokens: int = PROMPT_TOKENS_FOR_TTFT,
) -> tuple[float | None, str]:
    """Prefill time of a prompt, compute-bound: FLOPs / (peak FLOPS x efficiency)."""
    flops = flops_per_token * prompt_tokens + output_flops
    if on_gpu:
        tflops = [g.fp16_tflops for g in hardware.gpus]
        if not tflops or any(t is None for t in tflops):
            return None, "GPU FP16 throughput unknown"
        peak = min(t for t in tflops if t is not None) * 1e12
        basis = f"{peak / 1e12:g} TFLOPS FP16"
    else:
        cores = hardware.cpu_cores or 4
        peak = cores * CPU_GFLOPS_PER_CORE * 1e9
        basis = f"{cores} cores x {CPU_GFLOPS_PER_CORE:g} GFLOPS (assumed)"
    ms = flops / (peak * efficiency) * 1000
    return ms, (
        f"{prompt_tokens} tokens x {flops_per_token / 1e9:.2f} GFLOP / ({basis} x "
        f"{efficiency:.2f} efficiency, {efficiency_basis})"
    )
