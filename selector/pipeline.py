"""`recommend`: requirements + catalog + hardware -> filter -> smoke -> rank -> report."""

from __future__ import annotations

import datetime as dt

from selector import __version__
from selector.catalog import Catalog
from selector.filtering import Assessment, assess_catalog, finish_assessment
from selector.hardware import HardwareProfile
from selector.ranking import rank
from selector.report.schema import (
    CandidateReport,
    ExcludedReport,
    ExclusionReason,
    LicenseSummary,
    Report,
    ScoreBreakdown,
)
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.smoke_stage import SmokePlan, SmokeProgress, run_smoke_stage

__all__ = ["SmokePlan", "SmokeProgress", "exit_code", "recommend"]


def _risks(a: Assessment, hw: HardwareProfile) -> list[str]:
    risks = []
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
    if hw.source == "declared" and not any(g.bandwidth_gb_s for g in hw.gpus) and hw.gpus:
        risks.append("GPU bandwidth unknown: speed estimate is weak")
    return risks


def _candidate(
    a: Assessment, position: int, total: float, terms: dict, req: Requirements, hw: HardwareProfile
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
            why={k: t.why for k, t in terms.items()},
        ),
        risks=_risks(a, hw),
        sources=[str(s) for s in m.sources],
    )


def recommend(
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
    plan: SmokePlan | None = None,
    *,
    progress: SmokeProgress | None = None,
    top: int | None = None,
    now: dt.datetime | None = None,
) -> Report:
    plan = plan or SmokePlan()
    assessments = assess_catalog(req, catalog, hw)
    notes = list(hw.notes)
    smoke_notes, unmatched = run_smoke_stage(assessments, req, hw, catalog, plan, progress)
    notes += smoke_notes
    for a in assessments:
        finish_assessment(a, req)
    ranked = rank([a for a in assessments if not a.excluded], req)
    if top is not None:
        if len(ranked) > top:
            notes.append(f"showing the top {top} of {len(ranked)} candidates (--top)")
        ranked = ranked[:top]
    candidates = [
        _candidate(a, i, s.total, s.terms, req, hw) for i, (a, s) in enumerate(ranked, start=1)
    ]
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
    stamp = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    return Report(
        generated_at=stamp.isoformat().replace("+00:00", "Z"),
        selector_version=__version__,
        requirements=req.model_dump(mode="json"),
        hardware=hw,
        candidates=candidates,
        excluded=excluded,
        unmatched_files=unmatched,
        notes=notes,
    )


def exit_code(report: Report) -> int:
    """0 when at least one candidate survives, 1 when none does (SPEC §1)."""
    return 0 if report.candidates else 1
