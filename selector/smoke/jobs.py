"""Which candidates `recommend` can smoke-test, and with which backend.

What the pipeline learns from the results (calibration, re-assessment) is
`selector.smoke_stage.after_smoke`: smoke knows nothing of filtering.
"""

from __future__ import annotations

from pathlib import Path

from selector.catalog import Catalog, ModelEntry
from selector.hardware import GIB, HardwareProfile
from selector.requirements import Requirements
from selector.smoke.runner import SmokeJob

# A local file is only loaded when it leaves this much of the available RAM free.
LOCAL_RAM_HEADROOM = 1.2


def build_jobs(
    models: list[ModelEntry],
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
    *,
    models_dir: Path | None,
    include_demo: bool,
) -> tuple[list[SmokeJob], dict[str, str], list[tuple[Path, str]]]:
    """Jobs for the candidates with an endpoint or local weights; a reason for every other one.

    Returns (jobs, skipped reasons by model id, unmatched local files with their reason).
    """
    import psutil

    from selector.smoke.discovery import demo_model_path, discover_models

    wanted = {m.id: m for m in models}
    local: dict[str, Path] = {}
    unmatched: list[tuple[Path, str]] = []
    if models_dir is not None:
        if models_dir.is_dir():
            found = discover_models(models_dir, catalog)
            local.update(found.matches)
            unmatched += [(u.path, u.reason) for u in found.unmatched]
        else:
            unmatched.append((models_dir, "models_dir does not exist"))
    if include_demo and "gemma-3-270m" not in local:
        demo = demo_model_path()
        if demo is not None:
            local["gemma-3-270m"] = demo

    jobs: list[SmokeJob] = []
    skipped: dict[str, str] = {}
    endpoints = {e.model_id: e for e in req.smoke.endpoints}
    available_gb = psutil.virtual_memory().available / GIB
    for model_id, model in wanted.items():
        if model_id in endpoints:
            from selector.smoke.endpoint import EndpointBackend

            spec = endpoints[model_id]
            backend = EndpointBackend(
                spec.base_url,
                spec.served_model,
                api_key_env=spec.api_key_env,
                tuning=model.tuning,
                timeout_s=req.smoke.timeout_s,
            )
            jobs.append(SmokeJob(model_id=model_id, backend=backend))
        elif model_id in local:
            path = local[model_id]
            size_gb = path.stat().st_size / GIB
            if size_gb * LOCAL_RAM_HEADROOM > available_gb:
                skipped[model_id] = (
                    f"local file {path.name} ({size_gb:.1f} GB) is too large for this machine's "
                    f"{available_gb:.1f} GB of available RAM; use an endpoint ([[smoke.endpoints]])"
                )
                continue
            from selector.smoke.llamacpp import LlamaCppBackend

            jobs.append(
                SmokeJob(model_id=model_id, backend=LlamaCppBackend(path, tuning=model.tuning))
            )
        else:
            where = f"in {models_dir}" if models_dir else "(no models_dir given)"
            skipped[model_id] = f"no local GGUF {where} and no endpoint configured"
    return jobs, skipped, unmatched
