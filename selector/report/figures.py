"""How a candidate's speed and smoke figures read in every report (table, Markdown, HTML)."""

from __future__ import annotations

from selector.filtering import decode_figure, measured_on_target
from selector.report.schema import CandidateReport, Report


def declared(report: Report) -> bool:
    """The report plans for declared hardware, not this machine (local runs are then evidence)."""
    return report.hardware.source != "detected"


def figure(value: float | None, fmt: str, unit: str) -> str:
    """A measured figure, or 'not measured' (never a made-up 0)."""
    return "not measured" if value is None else f"{value:{fmt}} {unit}"


def speed_text(c: CandidateReport, is_declared: bool) -> str:
    """'measured' only for a usable figure taken on the deployment target; otherwise the
    estimate for the target, with this machine's figure beside it as evidence."""
    s = c.smoke
    value, basis = decode_figure(s, c.fit, is_declared)
    if basis == "measured" and value is not None:
        return f"{value:.1f} measured"
    text = f"~{value:.0f} est." if value else "n/a"
    if s.status.value == "passed" and s.speed_usable and s.decode_tokens_per_s is not None:
        text += f" ({s.decode_tokens_per_s:.0f} here)"
    return text


def speed_cell(c: CandidateReport, is_declared: bool) -> str:
    """`speed_text` for a narrow table column: `42.0` measured on the target, `~50` the
    estimate, `~50 (42 here)` with this machine's measurement beside it (the legend says so)."""
    return speed_text(c, is_declared).replace(" measured", "").replace(" est.", "")


def speed_value(c: CandidateReport, is_declared: bool) -> tuple[float | None, bool]:
    """The decode speed that stands for the deployment, and whether it was measured."""
    value, basis = decode_figure(c.smoke, c.fit, is_declared)
    return value, basis == "measured" and measured_on_target(c.smoke, is_declared)


def smoke_evidence(c: CandidateReport, is_declared: bool) -> str | None:
    """One line of smoke evidence: the verdict, the measured figures (beside the predicted
    memory), and where the speed may not stand for the target; None where nothing ran."""
    s = c.smoke
    if s.setup_error:
        return f"not run, no penalty: {s.reason}"
    if s.status.value not in ("passed", "failed"):
        return None
    line = (
        f"{s.status.value} {s.probes_passed}/{s.probes_total} probes, "
        f"decode {figure(s.decode_tokens_per_s, '.1f', 'tokens/s')}, "
        f"first token {figure(s.time_to_first_token_ms, '.0f', 'ms')}, "
        f"peak RSS {figure(s.peak_rss_gb, '.2f', 'GB')}"
    )
    if c.smoke_prediction is not None and s.peak_rss_gb is not None:
        line += f" (predicted {c.smoke_prediction.memory_gb:.2f} GB)"
    if s.speed is not None and not s.speed.usable:
        line += f"; speed not used: {s.speed.why_not_usable}"
    elif s.decode_tokens_per_s is not None and not s.taken_on_target(is_declared):
        line += "; measured on this machine, not the declared target: evidence of behaviour"
    return line + (" [cached]" if s.cached else "")
