"""The pipeline's smoke stage: which candidates to test, the runs, and what the pipeline learns.

This is the glue between `selector.smoke` (which runs models and knows nothing of filtering),
`selector.fit` (memory prediction beside the measured peak, speed calibration) and
`selector.filtering` (estimates refreshed once calibrated). `recommend()` calls
`run_smoke_stage`; `selector smoke` calls `smoke_one`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selector.errors import InputError
from selector.smoke.interface import SmokeProgress, SmokeResult, SmokeSettings, SmokeStatus
from selector.vocab import Tuning

if TYPE_CHECKING:
    from selector.catalog import Catalog
    from selector.filtering import Assessment
    from selector.hardware import HardwareProfile
    from selector.provenance import SuiteProvenance
    from selector.report.schema import UnmatchedFile
    from selector.requirements import Requirements
    from selector.smoke.runner import SmokeJob
    from selector.weights.model import LocalWeights

__all__ = [
    "SmokePlan",
    "SmokeProgress",
    "SmokeStageResult",
    "after_smoke",
    "run_smoke_stage",
    "smoke_one",
]


@dataclass(frozen=True)
class SmokePlan:
    """What the smoke stage may do in this run (CLI options over the requirements file).

    `discover`: look in the tool caches too (docs/weights.md); `fetched` and `fetch_failures`:
    what `recommend --fetch-top` downloaded, or could not, before the stage.
    """

    enabled: bool = True
    models_dir: Path | None = None
    use_cache: bool = True
    include_demo: bool = True
    discover: bool = True
    fetched: Mapping[str, LocalWeights] = field(default_factory=dict)
    fetch_failures: Mapping[str, str] = field(default_factory=dict)


@dataclass
class SmokeStageResult:
    """What the stage tells the report: notes, local files that matched nothing, and the local
    file each candidate was tested with (its `artifact`)."""

    notes: list[str] = field(default_factory=list)
    unmatched: list[UnmatchedFile] = field(default_factory=list)
    local_weights: dict[str, LocalWeights] = field(default_factory=dict)


def smoke_settings(req: Requirements) -> SmokeSettings:
    """The smoke run a requirements file asks for: the always-on probes, those of `needs`,
    the team's own probe files, long-context at `context_tokens`, repeats and sampling."""
    from selector.smoke.probes import plan_for

    plan = plan_for(
        [n.value for n in req.use_case.needs],
        suites=req.smoke.suites,
        context_tokens=req.use_case.context_tokens,
    )
    return SmokeSettings(
        n_ctx=req.smoke.n_ctx,
        threads=req.smoke.threads,
        timeout_s=req.smoke.timeout_s,
        repeats=req.smoke.repeats,
        seed=req.smoke.seed,
        temperature=req.smoke.temperature,
        memory_limit_gb=req.smoke.memory_limit_gb,
        suite=plan,
    )


def requirements_suite(req: Requirements) -> SuiteProvenance:
    """The fingerprint of the suite `smoke_settings(req)` runs, without loading its probes."""
    from selector.provenance import suite_fingerprint
    from selector.smoke.probes import wanted_capabilities

    return suite_fingerprint(
        wanted_capabilities([n.value for n in req.use_case.needs]),
        req.smoke.suites,
        req.use_case.context_tokens,
    )


def run_smoke_stage(
    assessments: list[Assessment],
    req: Requirements,
    hw: HardwareProfile,
    catalog: Catalog,
    plan: SmokePlan,
    progress: SmokeProgress | None = None,
) -> SmokeStageResult:
    """Smoke-test the statically admissible candidates that have weights or an endpoint.

    Sets each survivor's `smoke` (and `smoke_prediction`), calibrates this machine's speed
    model from fresh, usable local measurements, and refreshes the estimates when it did.
    """
    from selector.report.schema import UnmatchedFile

    out = SmokeStageResult()
    survivors = [a for a in assessments if not a.excluded]
    if not plan.enabled:
        for a in survivors:
            a.smoke = SmokeResult.skipped(
                "smoke tests disabled (--no-smoke or [smoke] enabled = false)"
            )
        return out

    # imported here: keeps --no-smoke runs light
    from selector.filtering import refresh_estimates
    from selector.smoke.jobs import build_jobs, local_weights_for
    from selector.smoke.runner import run_many

    models = [a.model for a in survivors]
    local = local_weights_for(
        models,
        req,
        catalog,
        models_dir=plan.models_dir,
        include_demo=plan.include_demo,
        discover=plan.discover,
        fetched=dict(plan.fetched),
    )
    out.local_weights.update(local.chosen)
    out.notes += local.notes
    jobs, skipped, unmatched = build_jobs(
        models,
        req,
        catalog,
        hw,
        models_dir=plan.models_dir,
        include_demo=plan.include_demo,
        local=local,
        fetch_failures=dict(plan.fetch_failures),
    )
    out.unmatched = [UnmatchedFile(path=str(p), reason=r) for p, r in unmatched]
    by_id = {a.model.id: a for a in survivors}
    for model_id, reason in skipped.items():
        by_id[model_id].smoke = SmokeResult.skipped(reason)
    if jobs:
        results = run_many(
            jobs,
            smoke_settings(req),
            use_cache=plan.use_cache,
            concurrency=req.smoke.concurrency,
            progress=progress,
        )
        for model_id, result in results.items():
            by_id[model_id].smoke = result
        more, calibrated = after_smoke(jobs, results, [by_id[j.model_id] for j in jobs], req, hw)
        out.notes += more
        if calibrated and hw.source == "detected":
            artifacts = {a.model.id: catalog.artifacts_for(a.model.id) for a in assessments}
            refresh_estimates(assessments, req, hw, artifacts)
    return out


def calibration_refusal(result: SmokeResult) -> str | None:
    """Why a local result must not calibrate the speed model, or None when it may."""
    if result.status is not SmokeStatus.PASSED:
        return "the suite did not pass"
    if result.cached:
        return "a cached result, counted when it was measured"
    if not result.speed_usable:
        why = result.speed.why_not_usable if result.speed is not None else ""
        return why or "no usable speed measurement"
    return None


def after_smoke(
    jobs: list[SmokeJob],
    results: dict[str, SmokeResult],
    assessments: list[Assessment],
    req: Requirements,
    hw: HardwareProfile,
) -> tuple[list[str], bool]:
    """Predict memory beside each local peak, and calibrate the speed model from fresh runs.

    Local runs measure this machine, so prediction and calibration use its detected profile
    even when the report plans for declared hardware. A cached result was counted when it was
    measured and is not counted again; a busy or too-short run is not counted at all.
    Returns (notes, calibrated).
    """
    from selector.fit.smoke_link import calibrate_from_smoke, predict_smoke
    from selector.hardware import this_machine

    notes: list[str] = []
    calibrated = False
    here = hw if hw.source == "detected" else this_machine()
    for job, a in zip(jobs, assessments, strict=True):
        result = results.get(job.model_id)
        path = getattr(job.backend, "model_path", None)
        if result is None or path is None or result.status is SmokeStatus.ERROR:
            continue
        n_ctx = result.n_ctx or req.smoke.n_ctx
        try:
            a.smoke_prediction = predict_smoke(here, n_ctx, gguf_path=path, model=a.model)
            refusal = calibration_refusal(result)
            if refusal is not None:
                if not result.cached:
                    notes.append(f"speed of {job.model_id} not used for calibration: {refusal}")
                continue
            quant = result.quantization or a.fit.quantization  # the file tested, not "auto"
            factor = calibrate_from_smoke(a.model, here, quant, n_ctx, result, path)
            if factor is not None:
                calibrated = True
                notes.append(
                    f"CPU decode efficiency on this machine calibrated to {factor:.2f} "
                    f"from the {job.model_id} smoke test"
                )
        except Exception as exc:  # a prediction we cannot make is a note, not a failed run
            notes.append(f"no memory prediction for {job.model_id}: {type(exc).__name__}: {exc}")
    return notes, calibrated


# -- `selector smoke`: one model ------------------------------------------------------------
@dataclass(frozen=True)
class SingleSmoke:
    """One model's smoke run, with what `selector smoke` prints beside the result."""

    result: SmokeResult
    extra: dict[str, Any]
    settings: SmokeSettings


def smoke_one(
    *,
    model: Path | None,
    endpoint: str | None,
    served_model: str | None,
    api_key_env: str | None,
    tuning: Tuning | None,
    settings: SmokeSettings,
    use_cache: bool,
    catalog_paths: list[Path] | None,
    on_wait: Callable[[str], None] | None = None,
) -> SingleSmoke:
    """Run the suite on one GGUF file or one endpoint; bad input is an InputError."""
    from selector.hardware import detect_hardware
    from selector.smoke.cache import SmokeCache
    from selector.smoke.runner import run_suite

    hardware = detect_hardware()
    extra: dict[str, Any]
    backend: Any
    if endpoint is not None:
        if model is not None:
            raise InputError("give either MODEL or --endpoint, not both")
        if not served_model:
            raise InputError("--endpoint needs --model NAME (the model the server serves)")
        from selector.smoke.endpoint import EndpointBackend

        chosen, catalog_id = endpoint_tuning(served_model, tuning, catalog_paths)
        backend = EndpointBackend(
            endpoint,
            served_model,
            api_key_env=api_key_env,
            tuning=chosen,
            timeout_s=settings.timeout_s,
        )
        extra = {
            "model_path": None,
            "endpoint": endpoint,
            "model": served_model,
            "catalog_id": catalog_id,
            "tuning": backend.tuning.value,
            "fit": None,
        }
    else:
        if model is None:
            raise InputError("give a GGUF file, or --endpoint URL --model NAME")
        backend, extra = _local_backend(model, tuning, catalog_paths)

    cache = SmokeCache() if use_cache else None
    result = run_suite(
        backend, settings, cache=cache, fingerprint=hardware.fingerprint(), on_wait=on_wait
    )
    if extra.get("model_path") is not None:
        extra["fit"] = _predicted_fit(Path(extra["model_path"]), hardware, result, extra)
    return SingleSmoke(result=result, extra=extra, settings=settings)


def endpoint_tuning(
    served_model: str, tuning: Tuning | None, catalog_paths: list[Path] | None
) -> tuple[Tuning, str | None]:
    """Base or instruct for a served model: --tuning, else the catalog entry whose id (or GGUF
    file name) is the served name, else instruct (what servers mostly serve). A base model
    sent chat requests is judged on a format it was never trained for."""
    from selector.catalog import load_catalog

    cat = load_catalog(catalog_paths or [])
    name = served_model.strip().lower()
    base = name.rsplit("/", 1)[-1]  # llama_cpp.server serves a model under its file path
    stems = {name, base, name.removesuffix(".gguf"), base.removesuffix(".gguf")}
    found = None
    for entry in cat.models.values():
        files = {f.lower().removesuffix(".gguf") for f in entry.gguf_files}
        if entry.id in stems or files & stems:
            found = entry
            break
    if tuning is not None:
        return tuning, found.id if found else None
    if found is not None:
        return found.tuning, found.id
    return Tuning.INSTRUCT, None


def _local_backend(
    model: Path, tuning: Tuning | None, catalog_paths: list[Path] | None
) -> tuple[Any, dict[str, Any]]:
    """The llama.cpp backend for a file, its tuning from the catalog entry when one matches."""
    from selector.catalog import load_catalog
    from selector.paths import expand_user, regular_file_problem
    from selector.smoke.discovery import match_entry, read_gguf_metadata
    from selector.smoke.llamacpp import LlamaCppBackend

    path = expand_user(model, "model")
    problem = regular_file_problem(path)
    if problem:  # a directory or a FIFO is named as such, not "no such file"
        raise InputError(f"{model}: {problem}")
    info = read_gguf_metadata(path)  # GGUFFormatError (exit 2) for a file that is not a GGUF
    cat = load_catalog(catalog_paths or [])
    by_name = [
        m.id for m in cat.models.values() if path.name.lower() in map(str.lower, m.gguf_files)
    ]
    catalog_id = by_name[0] if len(by_name) == 1 else match_entry(info, cat)[0]
    if tuning is None and catalog_id is not None:
        tuning = cat.models[catalog_id].tuning
    backend = LlamaCppBackend(path, tuning=tuning)
    extra = {
        "model_path": str(path.resolve()),
        "catalog_id": catalog_id,
        "tuning": backend.tuning.value,
        "gguf": {"architecture": info.architecture, "name": info.get("general.name")},
    }
    return backend, extra


def _predicted_fit(
    path: Path, hardware: HardwareProfile, result: SmokeResult, extra: dict[str, Any]
) -> dict[str, Any] | None:
    """What the fit model predicts for this run's settings, to set beside the measured peak."""
    try:
        from selector.fit.smoke_link import SMOKE_PROMPT_TOKENS, predict_smoke

        fit = predict_smoke(
            hardware,
            result.n_ctx or 2048,
            gguf_path=path,
            quantization=result.quantization or "Q4_K_M",
            # the long-context probes are the run's longest prompts when they ran
            prompt_tokens=max(result.long_context_tokens, SMOKE_PROMPT_TOKENS),
        )
    except Exception as exc:  # a prediction we cannot make is noted, not fatal
        extra["fit_error"] = f"{type(exc).__name__}: {exc}"
        return None
    fit = fit.model_copy(update={"llama_cpp_estimate_gb": _llama_cpp_cross_check(path, result)})
    return fit.model_dump(mode="json")


def _llama_cpp_cross_check(path: Path, result: SmokeResult) -> float | None:
    """llama.cpp's own no_alloc estimate for the child's settings, where `llama-fit-params` is
    installed (PATH, $SELECTOR_LLAMA_FIT_PARAMS, or the bench build); the llama-cpp-python
    bindings do not expose it."""
    from selector.fit.llama_cpp_check import find_fit_params, llama_cpp_estimate

    if find_fit_params() is None:
        return None
    from selector.smoke.runtime import child_runtime

    runtime = child_runtime(result.n_ctx or 2048)
    estimate = llama_cpp_estimate(
        path,
        runtime.n_ctx,
        n_batch=runtime.n_batch,
        n_ubatch=runtime.n_ubatch,
        swa_full=runtime.swa_full,
        flash_attn=runtime.flash_attn,
        n_gpu_layers=0,
        timeout_s=60,
    )
    return round(estimate.total_gb, 3) if estimate else None
