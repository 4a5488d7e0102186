"""`recommend`: requirements + catalog + hardware -> filter -> smoke -> rank -> report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from selector import __version__
from selector.catalog import Catalog
from selector.decision import decide
from selector.filtering import (
    Assessment,
    assess_catalog,
    finish_assessment,
    refresh_estimates,
)
from selector.hardware import HardwareProfile
from selector.ranking import rank
from selector.report.schema import (
    CandidateReport,
    ExcludedReport,
    ExclusionReason,
    LicenseSummary,
    Report,
    ScoreBreakdown,
    UnmatchedFile,
)
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeSettings, SmokeStatus


@dataclass
class SmokePlan:
    """What the smoke stage may do in this run (CLI options over the requirements file)."""

    enabled: bool = True
    models_dir: Path | None = None
    use_cache: bool = True
    include_demo: bool = True
    on_start: Callable[[str, str], None] | None = None
    on_done: Callable[[str, SmokeResult], None] | None = None
    unmatched: list[UnmatchedFile] = field(default_factory=list)


def _smoke_stage(
    assessments: list[Assessment],
    req: Requirements,
    hw: HardwareProfile,
    catalog: Catalog,
    plan: SmokePlan,
) -> list[str]:
    """Smoke-test the statically admissible candidates that have weights or an endpoint."""
    notes: list[str] = []
    survivors = [a for a in assessments if not a.excluded]
    if not plan.enabled:
        for a in survivors:
            a.smoke = SmokeResult.skipped(
                "smoke tests disabled (--no-smoke or [smoke] enabled = false)"
            )
        return notes

    # imported here: keeps --no-smoke runs light
    from selector.smoke.jobs import after_smoke, build_jobs
    from selector.smoke.runner import run_many

    jobs, skipped, unmatched = build_jobs(
        [a.model for a in survivors],
        req,
        catalog,
        hw,
        models_dir=plan.models_dir,
        include_demo=plan.include_demo,
    )
    plan.unmatched.extend(UnmatchedFile(path=str(p), reason=r) for p, r in unmatched)
    by_id = {a.model.id: a for a in survivors}
    for model_id, reason in skipped.items():
        by_id[model_id].smoke = SmokeResult.skipped(reason)
    if jobs:
        settings = SmokeSettings(
            n_ctx=req.smoke.n_ctx, threads=req.smoke.threads, timeout_s=req.smoke.timeout_s
        )
        start, done = plan.on_start, plan.on_done
        results = run_many(
            jobs,
            settings,
            use_cache=plan.use_cache,
            concurrency=req.smoke.concurrency,
            on_start=(lambda job: start(job.model_id, job.backend.name)) if start else None,
            on_done=(lambda job, result: done(job.model_id, result)) if done else None,
        )
        for model_id, result in results.items():
            by_id[model_id].smoke = result
        more, calibrated = after_smoke(jobs, results, [by_id[j.model_id] for j in jobs], req, hw)
        notes += more
        if calibrated and hw.source == "detected":
            refresh_estimates(assessments, req, hw)
    return notes


def _risks(a: Assessment, hw: HardwareProfile) -> list[str]:
    risks = []
    if a.model.unverified:
        risks.append(f"unverified catalog facts: {', '.join(a.model.unverified)}")
    if a.smoke is None or a.smoke.status is SmokeStatus.SKIPPED:
        risks.append("no smoke evidence: quality and speed are estimates")
    elif a.smoke.status is SmokeStatus.ERROR:
        risks.append(f"smoke test error: {a.smoke.reason}")
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
    top: int | None = None,
    now: dt.datetime | None = None,
) -> Report:
    plan = plan or SmokePlan()
    assessments = assess_catalog(req, catalog, hw)
    notes = list(hw.notes)
    notes += _smoke_stage(assessments, req, hw, catalog, plan)
    for a in assessments:
        finish_assessment(a, req)
    ranked = rank([a for a in assessments if not a.excluded], req)
    decision = decide(ranked, [a for a in assessments if a.excluded], req, catalog, hw)
    if top is not None:
        if len(ranked) > top:
            notes.append(f"showing the top {top} of {len(ranked)} candidates (--top)")
        ranked = ranked[:top]
    candidates = [
        _candidate(a, i, s.total, s.terms, req, hw) for i, (a, s) in enumerate(ranked, start=1)
    ]
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
    stamp = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    return Report(
        generated_at=stamp.isoformat().replace("+00:00", "Z"),
        selector_version=__version__,
        requirements=req.model_dump(mode="json"),
        hardware=hw,
        candidates=candidates,
        excluded=excluded,
        unmatched_files=plan.unmatched,
        notes=notes,
        sensitivity=decision.sensitivity,
        what_if=decision.what_if,
    )


def exit_code(report: Report) -> int:
    """0 when at least one candidate survives, 1 when none does (SPEC §1)."""
    return 0 if report.candidates else 1
