"""`recommend`: requirements + catalog + hardware -> filter -> smoke -> rank -> report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from selector import __version__
from selector.catalog import Catalog
from selector.decision import decide
from selector.errors import ExitCode
from selector.filtering import Assessment, assess_catalog, finish_assessment
from selector.hardware import HardwareProfile
from selector.provenance import build_provenance
from selector.ranking import QUALITY_BENCHMARKS, rank
from selector.ranking import why as why_of
from selector.report.schema import (
    CandidateReport,
    ExcludedReport,
    ExclusionReason,
    LicenseSummary,
    NearMiss,
    Report,
    ScoreBreakdown,
)
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.smoke_stage import SmokePlan, SmokeProgress, requirements_suite, run_smoke_stage
from selector.vocab import ReasonCode, Tuning

if TYPE_CHECKING:
    from selector.weights.model import LocalWeights

__all__ = ["SmokePlan", "SmokeProgress", "exit_code", "recommend"]


def _smoke_notes(req: Requirements, ties: dict[str, list[str]]) -> list[str]:
    """Needs no probe can check here, and shortlisted candidates whose smoke pass rates the
    samples cannot tell apart (their 95% intervals overlap), each pair once."""
    from selector.smoke.probes import unprobed

    notes = []
    missing = unprobed([n.value for n in req.use_case.needs])
    if missing:
        notes.append(f"not smoke-tested (no probes for it here): {', '.join(missing)}")
    for model_id, others in ties.items():
        later = [o for o in others if list(ties).index(o) > list(ties).index(model_id)]
        if later:
            notes.append(
                f"smoke: {model_id} cannot be told apart from {', '.join(later)} at this sample "
                f"size (95% intervals of the pass rates overlap; [smoke] repeats = "
                f"{req.smoke.repeats})"
            )
    return notes


def _risks(a: Assessment, hw: HardwareProfile) -> list[str]:
    risks = []
    if a.model.tuning is Tuning.BASE:
        risks.append(
            "base model, not instruction-tuned: it continues text rather than following "
            "instructions; fine-tune it or pick its instruct variant before serving users"
        )
    if a.model.unverified:
        risks.append(f"unverified catalog facts: {', '.join(a.model.unverified)}")
    if a.smoke is None or a.smoke.status is SmokeStatus.SKIPPED:
        risks.append("no smoke evidence: quality and speed are estimates")
    elif a.smoke.setup_error:
        risks.append(f"no smoke evidence: the smoke test could not run: {a.smoke.reason}")
    elif a.smoke.status is SmokeStatus.ERROR:
        risks.append(f"smoke test error: {a.smoke.reason}")
    elif a.smoke.speed is not None and not a.smoke.speed.usable:
        risks.append(f"measured speed not used: {a.smoke.speed.why_not_usable}")
    if a.fit.placement == "split":
        risks.append("model is split between GPU and CPU memory: decode is bound by the CPU side")
    if a.license.clauses:
        kinds = sorted({c.kind.value for c in a.license.clauses})
        risks.append(f"license obligations to review: {', '.join(kinds)}")
    if not a.license.clauses_verified:
        risks.append(f"license clauses not read from the text of {a.license.name}: legal review")
    if not any(b.name in QUALITY_BENCHMARKS for b in a.model.benchmarks):
        risks.append("quality is a prior from parameter count: no sourced MMLU-Pro/GPQA-Diamond")
    if hw.source == "declared" and not any(g.bandwidth_gb_s for g in hw.gpus) and hw.gpus:
        risks.append("GPU bandwidth unknown: speed estimate is weak")
    return risks


def _candidate(
    a: Assessment,
    position: int,
    total: float,
    terms: dict,
    req: Requirements,
    hw: HardwareProfile,
    catalog: Catalog,
) -> CandidateReport:
    m, lic = a.model, a.license
    return CandidateReport(
        id=m.id,
        rank=position,
        score=total,
        name=m.name,
        family=m.family,
        organization=m.organization,
        origin_country=m.origin_country,
        params_b=m.params_b,
        active_params_b=m.active_b,
        license=lic.spdx or lic.id,
        license_terms=LicenseSummary(
            id=lic.id,
            name=lic.name,
            spdx=lic.spdx,
            commercial_use=lic.commercial_use,
            clauses=[
                {"kind": c.kind.value, "detail": c.detail, "threshold": c.threshold}
                for c in lic.clauses
            ],
            url=str(lic.url),
            version=lic.version,
            clauses_verified=lic.clauses_verified,
        ),
        context_tokens=m.context_tokens,
        capabilities=[c.value for c in m.capabilities],
        runtimes=[r.value for r in m.runtimes],
        fit=a.fit,
        disk_gb=round(a.disk_gb, 2),
        smoke=a.smoke or SmokeResult.skipped("not smoke-tested"),
        smoke_prediction=a.smoke_prediction,
        score_breakdown=ScoreBreakdown(
            **{k: round(t.value, 4) for k, t in terms.items()},
            weights=req.ranking.weights.model_dump(),
            why=why_of(terms),
        ),
        risks=_risks(a, hw),
        sources=[str(s) for s in m.sources],
    )


# An estimate this close to its limit may be on the wrong side of it: docs/fit.md measures decode
# estimates within 0.8-1.2x and memory within a few percent, so 25% is the band a measurement
# on the target hardware could still move a model across.
NEAR_MISS_MARGIN = 0.25


def _near_fit(a: Assessment, req: Requirements, hw: HardwareProfile) -> str | None:
    """The memory assumption when the estimate exceeds the capacity by at most the margin."""
    f = a.fit
    offload = req.hardware.allow_offload or not hw.gpus
    capacity = hw.total_vram_gb + (hw.ram_gb if offload else 0.0)
    if capacity <= 0 or f.memory_gb > capacity * (1 + NEAR_MISS_MARGIN):
        return None
    return (
        f"memory estimate {f.memory_gb:.1f} GB at {f.quantization}, {f.context_tokens:,} "
        f"context, against {capacity:g} GB: {f.basis}"
    )


def _near_latency(a: Assessment, req: Requirements, message: str) -> str | None:
    """The speed assumption when an estimated (not measured) figure misses by at most the margin."""
    f, target = a.fit, req.latency
    if not message.startswith("estimated"):
        return None
    if "decode" in message and target.min_decode_tokens_per_s:
        est = f.estimated_decode_tokens_per_s or 0.0
        if est >= target.min_decode_tokens_per_s * (1 - NEAR_MISS_MARGIN):
            return f"decode estimate ~{est:.1f} tokens/s: {f.speed_basis}"
    if "first token" in message and target.max_time_to_first_token_ms:
        ttft = f.estimated_time_to_first_token_ms or 0.0
        if ttft <= target.max_time_to_first_token_ms * (1 + NEAR_MISS_MARGIN):
            return f"first-token estimate ~{ttft:.0f} ms: {f.ttft_basis}"
    return None


def near_misses(
    assessments: list[Assessment], req: Requirements, hw: HardwareProfile
) -> list[NearMiss]:
    """Models excluded only by estimated figures (memory fit, estimated latency) that miss their
    limit by at most NEAR_MISS_MARGIN, with the assumption behind each estimate."""
    out = []
    for a in assessments:
        if not a.excluded:
            continue
        assumptions: list[str | None] = []
        for r in a.reasons:
            if r.code is ReasonCode.FIT:
                assumptions.append(_near_fit(a, req, hw))
            elif r.code is ReasonCode.LATENCY:
                assumptions.append(_near_latency(a, req, r.message))
            else:
                assumptions.append(None)
        if None in assumptions:
            continue
        out.append(
            NearMiss(
                id=a.model.id,
                name=a.model.name,
                reasons=[ExclusionReason(code=r.code, message=r.message) for r in a.reasons],
                assumptions=list(dict.fromkeys(x for x in assumptions if x)),
            )
        )
    return out


def recommend(
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
    plan: SmokePlan | None = None,
    *,
    progress: SmokeProgress | None = None,
    top: int | None = None,
    now: dt.datetime | None = None,
    requirements_path: Path | None = None,
) -> Report:
    """Run the stages; `requirements_path` is the file `req` was read from, for provenance."""
    plan = plan or SmokePlan()
    assessments = assess_catalog(req, catalog, hw)
    notes = list(hw.notes)
    stage = run_smoke_stage(assessments, req, hw, catalog, plan, progress)
    notes += stage.notes
    for a in assessments:
        finish_assessment(a, req)
    ranked = rank([a for a in assessments if not a.excluded], req)
    from selector.ranking import indistinguishable

    ties = indistinguishable([a for a, _ in ranked]) if plan.enabled else {}
    if plan.enabled:
        notes += _smoke_notes(req, ties)
    decision = decide(ranked, [a for a in assessments if a.excluded], req, catalog, hw)
    if top is not None:
        if len(ranked) > top:
            notes.append(f"showing the top {top} of {len(ranked)} candidates (--top)")
        ranked = ranked[:top]
    candidates = [
        _candidate(a, i, s.total, s.terms, req, hw, catalog).model_copy(
            update={"smoke_not_distinguishable_from": ties.get(a.model.id, [])}
        )
        for i, (a, s) in enumerate(ranked, start=1)
    ]
    _attach_artifacts(candidates, catalog, stage.local_weights)
    decision.annotate(candidates)
    excluded = [
        ExcludedReport(
            id=a.model.id,
            name=a.model.name,
            params_b=a.model.params_b,
            license=a.license.spdx or a.license.id,
            origin_country=a.model.origin_country,
            reasons=[ExclusionReason(code=r.code, message=r.message) for r in a.reasons],
            smoke=a.smoke if a.smoke and a.smoke.status is not SmokeStatus.SKIPPED else None,
        )
        for a in assessments
        if a.excluded
    ]
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    generated_at = stamp.isoformat().replace("+00:00", "Z")
    return Report(
        generated_at=generated_at,
        selector_version=__version__,
        requirements=req.model_dump(mode="json"),
        hardware=hw,
        candidates=candidates,
        excluded=excluded,
        unmatched_files=stage.unmatched,
        notes=notes,
        near_misses=near_misses(assessments, req, hw),
        provenance=build_provenance(
            requirements_path, catalog, hw, generated_at, requirements_suite(req)
        ),
        sensitivity=decision.sensitivity,
        what_if=decision.what_if,
    )


def _attach_artifacts(
    candidates: list[CandidateReport], catalog: Catalog, local_weights: dict[str, LocalWeights]
) -> None:
    """Each candidate's `artifact`: the file tested here, else the pinned one (SPEC §7)."""
    from selector.weights.artifacts import artifact_report

    for c in candidates:
        local = local_weights.get(c.id)
        c.artifact = artifact_report(catalog, c.id, c.fit.quantization, local)


def exit_code(report: Report) -> ExitCode:
    """OK when at least one candidate survives, NONE_SURVIVES when none does (SPEC §1)."""
    return ExitCode.OK if report.candidates else ExitCode.NONE_SURVIVES
