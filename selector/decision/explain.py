"""`selector explain`: everything about one model under one requirements file.

Built from a `recommend` report and the filter re-run for that model (decision/rerun.py), so
what it says is what `recommend` did: the same reasons, the same score, the same rank.
"""

from __future__ import annotations

from selector.catalog import Catalog
from selector.decision.cost import cost_of
from selector.decision.rerun import Rerun, decode_figure
from selector.decision.whatif import what_if
from selector.filtering import Assessment, describe_hardware, has_capability
from selector.hardware import HardwareProfile
from selector.ranking import Score, score
from selector.report.decision_schema import Explanation, FilterCheck, TermReport
from selector.report.schema import Report
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.vocab import ReasonCode

R = ReasonCode


def _passed_details(a: Assessment, req: Requirements, hw: HardwareProfile) -> dict[R, str]:
    """The figures behind each constraint the model meets (the filter's own reasons say why
    it fails the others)."""
    m, lic, fit = a.model, a.license, a.fit
    pol = req.license
    lic_parts = [f"{lic.name} ({lic.spdx or lic.id})"]
    lic_parts.append("in allow" if pol.allow is not None else "any license allowed")
    lic_parts.append("commercial use " + ("permitted" if lic.commercial_use else "not permitted"))
    if pol.deny_clauses:
        lic_parts.append(f"none of {', '.join(c.value for c in pol.deny_clauses)}")
    excl = req.origin.exclude_countries
    needs = [n.value for n in req.use_case.needs if has_capability(m, n)]
    speed, basis = decode_figure(a, req)
    lat = req.latency
    lat_parts = []
    if lat.min_decode_tokens_per_s is not None:
        lat_parts.append(
            f"{basis} decode {speed or 0:.1f} tokens/s >= {lat.min_decode_tokens_per_s:g}"
        )
    if lat.max_time_to_first_token_ms is not None:
        measured = basis == "measured" and a.smoke is not None
        ttft = a.smoke.time_to_first_token_ms if measured and a.smoke else None
        ttft = ttft if ttft is not None else fit.estimated_time_to_first_token_ms
        lat_parts.append(
            f"{basis} first token {ttft or 0:.0f} ms <= {lat.max_time_to_first_token_ms:g}"
        )
    smoke = a.smoke
    if smoke is None and a.excluded:
        smoke_text = "not smoke-tested: the filter excluded it before the smoke stage"
    elif smoke is None or smoke.status is SmokeStatus.SKIPPED:
        smoke_text = f"not smoke-tested{': ' + smoke.reason if smoke and smoke.reason else ''}"
    else:
        smoke_text = f"{smoke.status.value}, {smoke.probes_passed}/{smoke.probes_total} probes"
    return {
        R.LICENSE: "; ".join(lic_parts),
        R.ORIGIN: f"{m.origin_country} ({m.organization})"
        + (f" not in exclude_countries [{', '.join(excl)}]" if excl else ", no country excluded"),
        R.CAPABILITY: f"has {', '.join(needs)}" if needs else "no capability required",
        R.CONTEXT: f"native context {m.context_tokens:,} >= required "
        f"{req.use_case.context_tokens:,}",
        R.SIZE: f"{m.params_b:g}B parameters"
        + (
            f" <= max_params_b {req.size.max_params_b:g}"
            if req.size.max_params_b is not None
            else ", no size limit"
        ),
        R.DISK: f"{a.disk_gb:.1f} GB at {fit.quantization}"
        + (
            f" <= max_disk_gb {req.size.max_disk_gb:g}"
            if req.size.max_disk_gb is not None
            else ", no disk limit"
        ),
        R.FIT: f"{fit.memory_gb:.1f} GB at {fit.quantization} with "
        f"{req.use_case.context_tokens:,} context, placement {fit.placement} on "
        f"{describe_hardware(hw)}",
        R.LATENCY: "; ".join(lat_parts) if lat_parts else "no latency target",
        R.SMOKE: smoke_text,
    }


def filter_checks(a: Assessment, req: Requirements, hw: HardwareProfile) -> list[FilterCheck]:
    passed = _passed_details(a, req, hw)
    out = []
    for code in ReasonCode:
        failed = [r.message for r in a.reasons if r.code is code]
        out.append(FilterCheck(code=code, passed=not failed, details=failed or [passed[code]]))
    return out


def term_reports(s: Score, req: Requirements) -> list[TermReport]:
    weights = req.ranking.weights.model_dump()
    weight_sum = sum(weights.values()) or 1.0
    return [
        TermReport(
            name=name,
            value=round(t.value, 4),
            weight=weights[name],
            contribution=round(weights[name] * t.value / weight_sum, 4),
            why=t.why,
        )
        for name, t in s.terms.items()
    ]


def _smoke_from_report(report: Report, model_id: str) -> SmokeResult | None:
    for c in report.candidates:
        if c.id == model_id:
            return c.smoke
    for e in report.excluded:
        if e.id == model_id:
            return e.smoke
    return None


def explain(
    model_id: str,
    report: Report,
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
) -> Explanation:
    """One model's checks, terms, rank, Pareto and cost, and for an excluded model what
    would admit it. `report` is `recommend`'s report for the same inputs, without `--top`."""
    model = catalog.model(model_id)
    rerun = Rerun(req, catalog, hw)
    a = rerun.assess(model, req, _smoke_from_report(report, model_id))
    notes: list[str] = []
    in_report = next((c for c in report.candidates if c.id == model_id), None)
    listed = next((e for e in report.excluded if e.id == model_id), None)
    if listed is not None and {r.code for r in listed.reasons} != {r.code for r in a.reasons}:
        notes.append(
            "the re-run's reasons differ from the report's (the speed calibration changed "
            "during the run); the re-run's are shown"
        )
    s = score(a, req)
    key = (-s.total, model.params_b, model.id)
    position = 1 + sum(
        1 for c in report.candidates if c.id != model_id and (-c.score, c.params_b, c.id) < key
    )
    explanation = Explanation(
        id=model.id,
        name=model.name,
        status="excluded" if a.excluded else "candidate",
        rank=in_report.rank if in_report else None,
        candidates_total=len(report.candidates),
        would_rank=position if a.excluded else None,
        score=s.total,
        terms=term_reports(s, req),
        checks=filter_checks(a, req, hw),
        fit=a.fit,
        smoke=a.smoke,
        cost=cost_of(a.fit, req),
        notes=notes,
    )
    if in_report is not None:
        explanation.pareto = in_report.pareto
        explanation.dominated_by = in_report.dominated_by
        sens = report.sensitivity
        share = next((c for c in sens.candidates if c.id == model_id), None) if sens else None
        explanation.first_share = share.first_share if share else None
    if a.excluded:
        explanation.what_if = what_if(rerun, a)
    return explanation
