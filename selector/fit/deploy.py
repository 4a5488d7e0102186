"""Per candidate: which engine serves it, at which precision, on which GPU layout.

`plan_deployment` is what filtering calls for every catalog model. With `[size] quantization =
"auto"` it walks the precisions best first (serving checkpoints for vLLM/SGLang, the GGUF
ladder for llama.cpp) and keeps the first that fits, holds the concurrent sessions and meets
the latency targets; a fixed quantization is sized as asked. docs/fit.md explains each rule;
the engine, checkpoint and layout rules themselves are in selector/fit/engines.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from selector.catalog.schema import Artifact, ModelEntry
from selector.fit import serving, serving_speed
from selector.fit.engines import (
    CUDA_RESERVED_GIB,
    CUDA_TOTAL_GIB,
    Deployment,
    GPUPool,
    ServingOption,
    choose_engine,
    gpu_pool,
    layouts,
    native_precision,
    serving_options,
)
from selector.fit.estimate import Fit, disk_size_gb, estimate_fit
from selector.fit.memory import GIB, RuntimeSettings
from selector.fit.precision import (
    GGUF_LADDER,
    SERVING_PRECISIONS,
    gguf_name,
    quality_cost,
    quantization_family,
    serving_precision,
)
from selector.fit.quant import normalize_quant
from selector.hardware import HardwareProfile
from selector.vocab import Runtime

__all__ = [
    "CUDA_RESERVED_GIB",
    "CUDA_TOTAL_GIB",
    "Deployment",
    "Plan",
    "ServingOption",
    "choose_engine",
    "layouts",
    "plan_deployment",
    "serving_options",
]


# ---------------------------------------------------------------- plans


@dataclass(frozen=True)
class Plan:
    fit: Fit
    disk_gb: float


def _meets(fit: Fit, d: Deployment) -> bool:
    """Latency targets against the estimate (None: no figure, so no verdict)."""
    tps, ttft = fit.estimated_decode_tokens_per_s, fit.estimated_time_to_first_token_ms
    slow = d.min_decode_tokens_per_s is not None and tps is not None
    late = d.max_time_to_first_token_ms is not None and ttft is not None
    if slow and tps is not None and d.min_decode_tokens_per_s is not None:
        slow = tps < d.min_decode_tokens_per_s
    if late and ttft is not None and d.max_time_to_first_token_ms is not None:
        late = ttft > d.max_time_to_first_token_ms
    return not (slow or late)


def _holds(fit: Fit, d: Deployment) -> bool:
    if fit.max_concurrency is None:
        return True
    return fit.max_concurrency * (fit.data_parallel or 1) >= d.sessions


def _disk_ok(disk: float, d: Deployment) -> bool:
    return d.max_disk_gb is None or disk <= d.max_disk_gb


def plan_deployment(
    model: ModelEntry,
    hardware: HardwareProfile,
    d: Deployment,
    artifacts: list[Artifact] | None = None,
) -> Plan:
    """The fit of `model` as it would be served, with the engine and precision chosen."""
    artifacts = artifacts or []
    engine, why = choose_engine(hardware, d)
    runtimes = set(model.runtimes)
    if engine in ("vllm", "sglang") and Runtime.VLLM not in runtimes:
        if d.engine == "auto" and Runtime.LLAMA_CPP in runtimes:
            engine, why = "llama.cpp", f"{why}; but the catalog lists no vLLM support: llama.cpp"
        elif d.engine == "auto":
            why += "; the catalog lists no vLLM support (sized anyway)"
    if engine == "llama.cpp":
        if d.quantization != "auto" and quantization_family(d.quantization) == "serving":
            plan = _plan_llama_cpp(model, hardware, d, artifacts, ladder=("Q8_0",))
            note = f"{d.quantization} is a serving precision llama.cpp cannot load"
            fit = plan.fit.model_copy(update={"fits": False, "notes": [*plan.fit.notes, note]})
            return Plan(fit.model_copy(update={"engine_reason": why}), plan.disk_gb)
        plan = _plan_llama_cpp(model, hardware, d, artifacts)
    else:
        plan = _plan_serving(model, hardware, d, artifacts, engine)
    return Plan(plan.fit.model_copy(update={"engine_reason": why}), plan.disk_gb)


def _plan_llama_cpp(
    model: ModelEntry,
    hardware: HardwareProfile,
    d: Deployment,
    artifacts: list[Artifact],
    ladder: tuple[str, ...] | None = None,
) -> Plan:
    native = native_precision(model, artifacts)
    if native == "MXFP4":
        quants: tuple[str, ...] = ("MXFP4",)
        rule = "MXFP4 is the model's released format (sized in it)"
    elif ladder is not None:
        quants, rule = ladder, ""
    elif d.quantization != "auto":
        quants = (gguf_name(d.quantization),)
        rule = f"[size] quantization = {d.quantization!r}"
    else:
        quants, rule = published_first(GGUF_LADDER, artifacts), ""
    published = published_presets(artifacts)
    runtime = RuntimeSettings(n_seq=d.sessions)
    tried: list[tuple[Fit, float]] = []
    for quant in quants:
        fit = estimate_fit(
            model,
            hardware,
            quantization=quant,
            context_tokens=d.context_tokens,
            runtime=runtime,
            prompt_tokens=d.prompt_tokens,
        )
        disk = disk_size_gb(model, quant)
        tried.append((fit, disk))
        ok = fit.fits and (fit.placement != "split" or d.allow_offload)
        if ok and _meets(fit, d) and _disk_ok(disk, d):
            if not rule:
                skipped = ", ".join(f.quantization for f, _ in tried[:-1])
                kind = (
                    "published GGUF (a catalog artifact)"
                    if quant in published
                    else (
                        "GGUF preset"
                        + (" (no published file at it: convert one)" if published else "")
                    )
                )
                rule = f"the best {kind} that fits" + (
                    f" and meets the targets ({skipped} did not)" if skipped else ""
                )
            return Plan(_llama_cpp_fields(fit, quant, native == quant, rule, d), disk)
    placed = [(f, k) for f, k in tried if f.fits and (f.placement != "split" or d.allow_offload)]
    fit, disk = placed[0] if placed else tried[-1]
    rule = rule or (
        "no GGUF preset meets every target; the best that fits is shown"
        if placed
        else "no GGUF preset fits; the smallest is shown"
    )
    return Plan(_llama_cpp_fields(fit, fit.quantization, native == fit.quantization, rule, d), disk)


def published_presets(artifacts: list[Artifact]) -> set[str]:
    """The GGUF presets the catalog lists a file for (normalized spelling)."""
    out = set()
    for a in artifacts:
        if a.format == "gguf":
            try:
                out.add(normalize_quant(a.quantization))
            except ValueError:
                continue  # `catalog validate` reports an unknown preset
    return out


def published_first(ladder: tuple[str, ...], artifacts: list[Artifact]) -> tuple[str, ...]:
    """The ladder with the presets a catalog artifact publishes first, each part best first.

    A recommendation names a file that exists where one does: a published Q4_K_M that fits
    beats a Q8_0 nobody has uploaded, which the team would have to convert itself.
    """
    published = published_presets(artifacts)
    return tuple(q for q in ladder if q in published) + tuple(
        q for q in ladder if q not in published
    )


def _llama_cpp_fields(fit: Fit, quant: str, native: bool, rule: str, d: Deployment) -> Fit:
    cost = quality_cost(quant, native=native)
    return fit.model_copy(
        update={
            "engine": "llama.cpp",
            "precision": quant,
            "checkpoint": quant,
            "concurrent_sessions": d.sessions,
            "precision_reason": rule,
            "quality_cost": round(cost.cost, 5),
            "quality_basis": cost.basis,
            "kv_cache_dtype": "f16",
        }
    )


def _plan_serving(
    model: ModelEntry,
    hardware: HardwareProfile,
    d: Deployment,
    artifacts: list[Artifact],
    engine: str,
) -> Plan:
    options = serving_options(model, artifacts)
    if d.quantization != "auto":
        wanted = serving_precision(d.quantization)
        name = wanted.name if wanted else d.quantization
        options = [o for o in options if o.precision == name or o.native]
        if not options and model.hf_repo and name == "FP8":
            options = [ServingOption("FP8", model.hf_repo, online="fp8")]
    sm = serving.serving_model(model)
    if not hardware.gpus or not options:
        why = "no GPU to serve on" if not hardware.gpus else "no checkpoint at that precision"
        return _unplaceable(model, sm, options, d, engine, why)
    pool = gpu_pool(hardware)
    candidates: list[tuple[Fit, float]] = []
    for option in options:
        disk = serving.weight_bytes(sm, "BF16" if option.online else option.precision) / GIB
        for tp, pp in layouts(model, pool.count, d):
            fit = _serving_fit(sm, option, pool, tp, pp, d, engine)
            candidates.append((fit, disk))
            if fit.fits and _holds(fit, d) and _meets(fit, d) and _disk_ok(disk, d):
                rule = _rule(options, option, candidates)
                update = {"precision_reason": rule, "disk_gb": round(disk, 2)}
                return Plan(fit.model_copy(update=update), round(disk, 2))
    if not candidates:
        heads = model.attention.heads
        why = (
            f"tensor_parallel = {d.tensor_parallel} does not divide the {heads} attention heads "
            f"or fit {pool.count} GPU(s)"
            if d.tensor_parallel
            else f"no tensor-parallel size up to {pool.count} GPU(s) divides the {heads} heads"
        )
        return _unplaceable(model, sm, options, d, engine, why)
    holding = [c for c in candidates if c[0].fits and _holds(c[0], d)]
    fitting = [c for c in candidates if c[0].fits]
    if holding:
        fit, disk = max(holding, key=lambda c: c[0].estimated_decode_tokens_per_s or 0.0)
        rule = "no checkpoint meets every target on these GPUs; the fastest that holds the load"
    elif fitting:
        fit, disk = max(
            fitting, key=lambda c: (c[0].max_concurrency or 0) * (c[0].data_parallel or 1)
        )
        rule = "no checkpoint holds the concurrent sessions; the one that holds the most"
    else:
        fit, disk = min(candidates, key=lambda c: c[0].memory_gb - c[0].allocation_gb)
        rule = "no checkpoint fits these GPUs; the closest is shown"
    return Plan(
        fit.model_copy(update={"precision_reason": rule, "disk_gb": round(disk, 2)}), round(disk, 2)
    )


def _rule(
    options: list[ServingOption], chosen: ServingOption, tried: list[tuple[Fit, float]]
) -> str:
    better = [o.precision for o in options[: options.index(chosen)]]
    how = "at load (--quantization fp8)" if chosen.online else f"checkpoint {chosen.repo}"
    text = f"{chosen.precision} {how}"
    if better:
        text += f": {', '.join(dict.fromkeys(better))} did not fit or meet the targets"
    else:
        text += ": the highest-quality checkpoint, and it fits"
    return text


def _serving_fit(
    sm: serving.ServingModel,
    option: ServingOption,
    pool: GPUPool,
    tp: int,
    pp: int,
    d: Deployment,
    engine: str,
) -> Fit:
    settings = serving.ServingSettings(
        engine="sglang" if engine == "sglang" else "vllm",
        precision=option.precision,
        tensor_parallel=tp,
        pipeline_parallel=pp,
        gpu_memory_utilization=d.gpu_memory_utilization,
        max_model_len=d.context_tokens,
        kv_cache_dtype=d.kv_cache_dtype,
    )
    est = serving.estimate_serving(sm, pool.total_gib, settings, pool.name)
    replicas = max(pool.count // (tp * pp), 1)
    per_replica = max(math.ceil(d.sessions / replicas), 1)
    speed = (
        serving_speed.decode_estimate(sm, est, pool.bandwidth_gb_s, per_replica, d.context_tokens)
        if pool.bandwidth_gb_s
        else None
    )
    ttft = serving_speed.prefill_ms(sm, tp, pool.tflops, d.prompt_tokens)
    gpus = tp * pp
    kv_needed = est.kv_bytes_per_token * d.context_tokens * per_replica
    kv_used = min(max(est.kv_memory, 0.0), kv_needed) if est.fits else kv_needed
    need = (est.weights + est.reserve.total) * gpus + kv_used * gpus
    cost = quality_cost(option.precision, native=option.native)
    fits = est.fits
    notes = list(est.notes)
    if sm.global_layers + sm.sliding_layers < sm.layers:
        notes.append(
            f"{sm.layers - sm.global_layers - sm.sliding_layers} of {sm.layers} layers keep a "
            "recurrent state (Mamba / linear attention), not counted here: the engine's token "
            "capacity and concurrency are lower than shown"
        )
    if not fits:
        notes.append(
            f"KV cache {max(est.kv_memory, 0) / GIB:.1f} GiB per GPU holds "
            f"{est.capacity.tokens:,} tokens < max_model_len {d.context_tokens:,}"
        )
    return Fit(
        quantization=option.precision,
        memory_gb=round(need / GIB, 2),
        placement="gpu" if fits else "none",
        fits=fits,
        estimated_decode_tokens_per_s=round(speed.per_session_tokens_per_s, 1) if speed else None,
        estimated_time_to_first_token_ms=round(ttft, 0) if ttft is not None else None,
        context_tokens=d.context_tokens,
        weights_gb=round(est.weights * gpus / GIB, 2),
        kv_cache_gb=round(max(est.kv_memory, 0.0) * gpus / GIB, 2),
        gpu_memory_gb=round(need / GIB, 2),
        gpu_layers=sm.layers,
        allocation_gb=round(est.gpu_total * est.utilization * gpus / GIB, 2),
        memory_kind="allocation",
        disk_gb=0.0,
        basis=(
            f"{engine} accounting per GPU: {pool.total_gib:g} GiB x {est.utilization:g} "
            f"utilization - {est.weights / GIB:.2f} GiB weights ({option.precision}, TP {tp}, "
            f"PP {pp}) - {est.reserve.total / GIB:.2f} GiB reserve = "
            f"{est.kv_memory / GIB:.2f} GiB KV cache; "
            f"{est.kv_bytes_per_token / 1024:.1f} KiB per token"
        ),
        speed_basis=f"estimate: {speed.basis}" if speed else "GPU bandwidth unknown",
        ttft_basis=(
            f"estimate: {d.prompt_tokens} tokens x 2 x {sm.active_params / 1e9:.3g}B active "
            f"parameters / ({tp} x {pool.tflops:g} TFLOPS x {serving_speed.PREFILL_EFFICIENCY:g})"
            if pool.tflops
            else "GPU FP16 throughput unknown"
        ),
        notes=notes,
        engine=engine,
        precision=option.precision,
        tensor_parallel=tp,
        kv_capacity_tokens=est.capacity.tokens,
        max_concurrency=round(est.capacity.max_concurrency, 2),
        pipeline_parallel=pp,
        data_parallel=replicas,
        gpu_memory_utilization=est.utilization,
        kv_cache_dtype=d.kv_cache_dtype,
        concurrent_sessions=d.sessions,
        aggregate_decode_tokens_per_s=(
            round(speed.aggregate_tokens_per_s * replicas, 1) if speed else None
        ),
        non_kv_reserve_gb=round(est.reserve.total / GIB, 2),
        kv_capacity_gb=round(max(est.kv_memory, 0.0) / GIB, 2),
        checkpoint=option.repo,
        online_quantization=option.online,
        quality_cost=round(cost.cost, 5),
        quality_basis=cost.basis,
    )


def _unplaceable(
    model: ModelEntry,
    sm: serving.ServingModel,
    options: list[ServingOption],
    d: Deployment,
    engine: str,
    why: str,
) -> Plan:
    precision = options[-1].precision if options else "BF16"
    bytes_ = serving.weight_bytes(sm, precision if precision in SERVING_PRECISIONS else "BF16")
    fit = Fit(
        quantization=precision,
        memory_gb=round(bytes_ / GIB, 2),
        placement="none",
        fits=False,
        context_tokens=d.context_tokens,
        weights_gb=round(bytes_ / GIB, 2),
        basis=f"{engine}: {why}",
        notes=[why],
        engine=engine,
        precision=precision,
        concurrent_sessions=d.sessions,
    )
    return Plan(fit, round(bytes_ / GIB, 2))
