"""Which candidates `recommend` can smoke-test, and with which backend.

What the pipeline learns from the results (calibration, re-assessment) is
`selector.smoke_stage.after_smoke`: smoke knows nothing of filtering.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from selector.catalog import Catalog, ModelEntry
from selector.hardware import GIB, HardwareProfile
from selector.requirements import Requirements
from selector.smoke.runner import SmokeJob
from selector.weights.model import LocalWeights

# A local file is only loaded when it leaves this much of the available RAM free.
LOCAL_RAM_HEADROOM = 1.2


@dataclass
class LocalChoice:
    """The local file each candidate will be tested with, and what to tell the reader."""

    chosen: dict[str, LocalWeights] = field(default_factory=dict)
    unmatched: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def local_weights_for(
    models: list[ModelEntry],
    req: Requirements,
    catalog: Catalog,
    *,
    models_dir: Path | None,
    include_demo: bool,
    discover: bool = True,
    fetched: dict[str, LocalWeights] | None = None,
) -> LocalChoice:
    """Find weights in the tool caches (with `discover`), `models_dir`, what --fetch-top fetched
    and the demo extra, and pick one file per candidate (selector/weights/discover.py).

    Reported as unmatched: a file in `models_dir` that matches no entry or lost to another
    file, and a file anywhere whose hash contradicts its catalog pin. Files in the tool caches
    that match nothing are only counted (`selector models` lists them).
    """
    from selector.smoke.discovery import DEMO_MODEL_ID, demo_model_path
    from selector.weights.discover import find_weights, select_local
    from selector.weights.identify import ArtifactIndex, identify
    from selector.weights.model import Candidate, HashStatus, Source

    wanted = {m.id for m in models}
    out = LocalChoice()
    dirs: list[Path] = []
    if models_dir is not None:
        if models_dir.is_dir():
            dirs.append(models_dir)
        else:
            out.unmatched.append((models_dir, "models_dir does not exist"))
    inventory = find_weights(catalog, models_dirs=dirs, standard=discover, bundled=include_demo)
    weights = list((fetched or {}).values())
    seen = {os.path.realpath(w.path) for w in weights}
    weights += [w for w in inventory.weights if os.path.realpath(w.path) not in seen]
    has_demo = any(w.catalog_id == DEMO_MODEL_ID for w in weights)
    if include_demo and DEMO_MODEL_ID in wanted and not has_demo:
        demo = demo_model_path()
        if demo is not None:
            cand = Candidate(path=demo, source=Source.BUNDLED, shards=(demo,), name=demo.name)
            weights.append(identify(cand, catalog, ArtifactIndex.build(catalog)))
    # a fixed quantization prefers files at it; with "auto" the fit chooses per model, and any
    # verified file of the model serves its smoke test
    prefer = None if req.size.quantization == "auto" else req.size.quantization
    selection = select_local([w for w in weights if w.catalog_id in wanted], prefer_quant=prefer)
    out.chosen = selection.chosen
    for w in weights:
        if w.hash is HashStatus.MISMATCH:
            out.unmatched.append((Path(w.path), f"hash mismatch: {w.reason}"))
        elif w.catalog_id is None and w.source is Source.MODELS_DIR:
            out.unmatched.append((Path(w.path), w.reason))
    out.unmatched += [
        (Path(w.path), why)
        for w, why in selection.passed_over
        if w.source is Source.MODELS_DIR and w.hash is not HashStatus.MISMATCH
    ]
    elsewhere = sum(w.catalog_id is None and w.source is not Source.MODELS_DIR for w in weights)
    if elsewhere:
        out.notes.append(
            f"{elsewhere} GGUF file(s) in the tool caches match no catalog entry "
            "(`selector models` lists them)"
        )
    return out


def build_jobs(
    models: list[ModelEntry],
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
    *,
    models_dir: Path | None,
    include_demo: bool,
    local: LocalChoice | None = None,
    fetch_failures: dict[str, str] | None = None,
) -> tuple[list[SmokeJob], dict[str, str], list[tuple[Path, str]]]:
    """Jobs for the candidates with an endpoint or local weights; a reason for every other one.

    Returns (jobs, skipped reasons by model id, unmatched local files with their reason).
    """
    import psutil

    wanted = {m.id: m for m in models}
    if local is None:
        local = local_weights_for(
            models, req, catalog, models_dir=models_dir, include_demo=include_demo
        )

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
        elif model_id in local.chosen:
            weights = local.chosen[model_id]
            path = Path(weights.path)
            size_gb = (weights.size_bytes or path.stat().st_size) / GIB
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
        elif fetch_failures and model_id in fetch_failures:
            skipped[model_id] = f"fetch failed: {fetch_failures[model_id]}"
        else:
            where = f"the tool caches or {models_dir}" if models_dir else "the tool caches"
            skipped[model_id] = (
                f"no local GGUF in {where} and no endpoint configured "
                f"(`selector fetch {model_id}` downloads its pinned artifact)"
            )
    return jobs, skipped, local.unmatched
