"""Where fit meets the smoke runner: predict what a smoke run will measure, learn from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selector.catalog.schema import ModelEntry
from selector.fit import calibration, speed
from selector.fit.decode_model import DecodeSample
from selector.fit.estimate import Fit, fit_from_shape
from selector.fit.memory import KV_PAD, ModelShape, RuntimeSettings, pad, shape_from_catalog
from selector.fit.quant import kv_bytes_per_element
from selector.hardware import HardwareProfile

# What the smoke child (selector/smoke/child.py) runs is selector/smoke/runtime.py's
# child_runtime(n_ctx): n_batch = min(512, n_ctx), swa_full = true, flash attention off.
# A deployment on llama-server differs (swa_full = false, flash attention on), which is why
# estimate_fit defaults to RuntimeSettings(). The prompt length only matters below n_ubatch.
SMOKE_PROMPT_TOKENS = 800


def smoke_runtime(n_ctx: int, *, prompt_tokens: int = SMOKE_PROMPT_TOKENS) -> RuntimeSettings:
    """The runtime settings of a llama-cpp-python smoke child at `n_ctx`."""
    from selector.smoke.runtime import child_runtime

    child = child_runtime(n_ctx)
    return RuntimeSettings(
        n_ubatch=child.n_ubatch,
        swa_full=child.swa_full,
        flash_attn=child.flash_attn,
        prompt_tokens=prompt_tokens,
    )


def _shape(model: ModelEntry | None, quantization: str, gguf_path: Path | None) -> ModelShape:
    if gguf_path is not None:
        from selector.fit.gguf_read import shape_from_gguf

        return shape_from_gguf(gguf_path)
    if model is None:
        raise ValueError("need a catalog model or a GGUF path")
    return shape_from_catalog(model, quantization)


def predict_smoke(
    hardware: HardwareProfile,
    n_ctx: int,
    *,
    gguf_path: Path | None = None,
    model: ModelEntry | None = None,
    quantization: str = "Q4_K_M",
    prompt_tokens: int = SMOKE_PROMPT_TOKENS,
) -> Fit:
    """The fit for the exact settings a CPU smoke run uses, to print beside its peak RSS."""
    shape = _shape(model, quantization, gguf_path)
    cpu_only = hardware.model_copy(update={"gpus": []})
    fit = fit_from_shape(
        shape,
        cpu_only,
        context_tokens=n_ctx,
        runtime=smoke_runtime(n_ctx, prompt_tokens=prompt_tokens),
        quantization=quantization,
    )
    return fit


def decode_bytes_per_token(
    shape: ModelShape, context_used: float, kv_cache_type: str = "f16", *, swa_full: bool = False
) -> tuple[float, float]:
    """Bytes a CPU decode reads per token, and the KV cache's part of them.

    Weights (less a row-lookup input embedding; types with a slow CPU kernel counted at their
    time cost) plus the KV cache attended at `context_used`.
    """
    weights = shape.active_weights_bytes - (0.0 if shape.tied_embeddings else shape.embedding_bytes)
    weights += shape.cpu_slow_kernel_extra_bytes
    kv = speed.kv_read_bytes_per_token(
        shape, context_used, kv_bytes_per_element(kv_cache_type), swa_full=swa_full
    )
    return weights + kv, kv


def smoke_attended_cells(prompt_tokens: int, speed_tokens: int, n_ctx: int) -> float:
    """Mean KV cells a smoke run's decode attends: llama.cpp pads the used cells to 256.

    (`llama_kv_cache::get_n_kv`); step i of the timed run has prompt + i cells used.
    """
    size = pad(n_ctx, KV_PAD)
    steps = [min(pad(prompt_tokens + i, KV_PAD), size) for i in range(1, speed_tokens + 1)]
    return sum(steps) / max(len(steps), 1)


def decode_sample(
    shape: ModelShape,
    hardware: HardwareProfile,
    cells: float,
    measured_tps: float,
    *,
    context_used: int = 0,
    threads: int = 0,
    detail: str = "",
) -> DecodeSample:
    """What the calibration stores of one measured smoke decode run attending `cells` cells.

    The smoke child runs with swa_full = true, so sliding layers attend every used cell.
    """
    bw, _ = speed.ram_bandwidth(hardware)
    total, kv = decode_bytes_per_token(shape, cells, swa_full=True)
    macs = speed.attention_macs_per_token(shape, cells, swa_full=True)
    return DecodeSample(
        bytes_per_token=total,
        bandwidth_gb_s=bw,
        n_layers=shape.n_layers,
        n_vocab=shape.n_vocab,
        context_used=context_used or round(cells),
        measured_tps=measured_tps,
        threads=threads,
        kv_bytes_per_token=kv,
        attn_macs_per_token=macs,
        detail=detail,
    )


def raw_prefill_tps(shape: ModelShape, hardware: HardwareProfile) -> float:
    """CPU prefill tokens/s at efficiency 1: assumed FLOPS / FLOPs per prompt token."""
    cores = hardware.cpu_cores or 4
    return cores * speed.CPU_GFLOPS_PER_CORE * 1e9 / speed.prefill_flops_per_token(shape)


def calibrate_from_smoke(
    model: ModelEntry | None,
    hardware: HardwareProfile,
    quantization: str,
    n_ctx: int,
    smoke_result: Any,
    gguf_path: Path | None = None,
) -> float | None:
    """Record the decode sample (and prefill ratio) a passed CPU llama.cpp smoke run measured.

    `smoke_result` is a SmokeResult (or anything with `decode_tokens_per_s`,
    `prefill_tokens_per_s`, `prompt_tokens`, `speed_tokens`, `threads`). Returns the decode
    bandwidth efficiency of the refitted model (its per-token overhead comes on top), or None
    when the run measured no decode speed, when the result came from the smoke cache (it was
    counted when measured), or when its speed evidence is not usable (runs shorter than 64
    tokens, a busy machine). Runs with layers on a GPU are not calibrated here.
    """
    measured = float(getattr(smoke_result, "decode_tokens_per_s", 0.0) or 0.0)
    if measured <= 0:
        return None
    evidence = getattr(smoke_result, "speed", None)
    if getattr(smoke_result, "cached", False) or (
        evidence is not None and not getattr(evidence, "usable", False)
    ):
        return None  # counted when measured; or too short, or taken on a busy machine
    shape = _shape(model, quantization, gguf_path)
    speed_tokens = int(getattr(smoke_result, "speed_tokens", 0) or 128)
    prompt = int(getattr(smoke_result, "prompt_tokens", 0) or 64)
    threads = int(getattr(smoke_result, "threads", 0) or 0) or (hardware.cpu_cores or 0)
    name = gguf_path.name if gguf_path else (model.id if model else "?")
    sample = decode_sample(
        shape,
        hardware,
        smoke_attended_cells(prompt, speed_tokens, n_ctx),
        measured,
        context_used=min(n_ctx, prompt + speed_tokens // 2),
        threads=threads,
        detail=f"{name} n_ctx={n_ctx}",
    )
    fitted = calibration.record_decode_sample(hardware, sample, target="cpu")
    prefill = float(getattr(smoke_result, "prefill_tokens_per_s", 0.0) or 0.0)
    if prefill > 0:
        calibration.record_prefill_calibration(
            hardware,
            raw_prefill_tps(shape, hardware),
            prefill,
            target="cpu",
            detail=f"{name} n_ctx={n_ctx}",
        )
    return fitted.efficiency
