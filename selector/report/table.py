"""The Rich table for a person at a terminal."""

from __future__ import annotations

import io

from selector.report.schema import CandidateReport, Report


def _speed(c: CandidateReport, declared: bool) -> str:
    """'measured' only for a usable figure taken on the deployment target; otherwise the
    estimate for the target, with this machine's figure beside it as evidence."""
    s = c.smoke
    usable = s.status.value == "passed" and s.speed_usable
    if usable and s.taken_on_target(declared) and s.decode_tokens_per_s is not None:
        return f"{s.decode_tokens_per_s:.1f} measured"
    est = c.fit.estimated_decode_tokens_per_s
    text = f"~{est:.0f} est." if est else "n/a"
    if usable and s.decode_tokens_per_s is not None:
        text += f" ({s.decode_tokens_per_s:.0f} here)"
    return text


def _figure(value: float | None, fmt: str, unit: str) -> str:
    return "not measured" if value is None else f"{value:{fmt}} {unit}"


def _smoke_cell(c: CandidateReport) -> str:
    s = c.smoke
    if s.setup_error:
        return "not run"
    if s.status.value in ("passed", "failed"):
        return f"{s.status.value} {s.probes_passed}/{s.probes_total}"
    return s.status.value


def format_table(report: Report, *, color: bool = False, width: int = 150) -> str:
    """A Rich table for a person at a terminal; the JSON and Markdown formats carry the detail."""
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(
        file=buf, width=width, force_terminal=color, color_system="auto" if color else None
    )
    hw = report.hardware
    gpus = ", ".join(f"{g.count}x {g.model}" for g in hw.gpus) or "no GPU"
    console.print(f"Hardware ({hw.source}): {gpus}, {hw.ram_gb:g} GB RAM")
    table = Table(title=f"{len(report.candidates)} candidate(s)", show_lines=False)
    for col in (
        "#",
        "model",
        "params",
        "license",
        "origin",
        "fit",
        "memory",
        "tok/s",
        "smoke",
        "score",
    ):
        table.add_column(
            col,
            justify="right" if col in ("#", "params", "memory", "score") else "left",
            no_wrap=col in ("model", "params", "license", "fit"),
        )
    for c in report.candidates:
        params = f"{c.params_b:g}B" + (
            f"/{c.active_params_b:g}B" if c.active_params_b != c.params_b else ""
        )
        table.add_row(
            str(c.rank),
            c.id,
            params,
            c.license_terms.id,
            c.origin_country,
            f"{c.fit.placement} {c.fit.quantization}",
            f"{c.fit.memory_gb:.1f} GB",
            _speed(c, hw.source != "detected"),
            _smoke_cell(c),
            f"{c.score:.3f}",
        )
    console.print(table)
    if report.candidates:
        best = report.candidates[0]
        console.print(
            f"Top pick: {best.id} — "
            + "; ".join(
                f"{k} {getattr(best.score_breakdown, k):.2f} ({best.score_breakdown.why[k]})"
                for k in ("quality", "size_preference", "license", "tooling", "smoke")
            )
        )
    for line in smoke_evidence_lines(report.candidates, declared=hw.source != "detected"):
        console.print(line, markup=False)
    if report.excluded:
        console.print(f"\nExcluded: {len(report.excluded)} model(s)")
        for e in report.excluded:
            codes = ",".join(sorted({r.code.value for r in e.reasons}))
            console.print(f"  {e.id} [{codes}] {e.reasons[0].message}", markup=False)
    for f in report.unmatched_files:
        console.print(f"Unmatched GGUF: {f.path}: {f.reason}", markup=False)
    for note in report.notes:
        console.print(f"Note: {note}", markup=False)
    return buf.getvalue()


def smoke_evidence_lines(candidates: list[CandidateReport], *, declared: bool = False) -> list[str]:
    """Measured figures beside what the fit model predicted for the same run, labelled with
    where they were taken; a run that could not start says why, whole."""
    lines = []
    for c in candidates:
        s = c.smoke
        if s.setup_error:
            lines.append(f"Smoke {c.id}: not run, no penalty: {s.reason}")
            continue
        if s.status.value not in ("passed", "failed"):
            continue
        line = (
            f"Smoke {c.id}: {s.status.value} {s.probes_passed}/{s.probes_total} probes, "
            f"decode {_figure(s.decode_tokens_per_s, '.1f', 'tokens/s')}, "
            f"first token {_figure(s.time_to_first_token_ms, '.0f', 'ms')}, "
            f"peak RSS {_figure(s.peak_rss_gb, '.2f', 'GB')}"
        )
        if c.smoke_prediction is not None and s.peak_rss_gb is not None:
            line += f" (predicted {c.smoke_prediction.memory_gb:.2f} GB)"
        if s.speed is not None and not s.speed.usable:
            line += f"; speed not used: {s.speed.why_not_usable}"
        elif s.decode_tokens_per_s is not None and not s.taken_on_target(declared):
            line += "; measured on this machine, not the declared target: evidence of behaviour"
        lines.append(line + (" [cached]" if s.cached else ""))
    return lines
