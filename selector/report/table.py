"""The Rich table for a person at a terminal."""

from __future__ import annotations

import io

from selector.report.decision_text import sensitivity_line
from selector.report.schema import CandidateReport, Report
from selector.textsafe import one_line, rich_text


def _speed(c: CandidateReport) -> str:
    if c.smoke.status.value == "passed" and c.smoke.decode_tokens_per_s:
        return f"{c.smoke.decode_tokens_per_s:.1f} measured"
    est = c.fit.estimated_decode_tokens_per_s
    return f"~{est:.0f} est." if est else "n/a"


def _fit_cell(c: CandidateReport) -> str:
    f = c.fit
    if f.engine in ("vllm", "sglang"):
        layout = f"TP{f.tensor_parallel}" + (
            f"xPP{f.pipeline_parallel}" if (f.pipeline_parallel or 1) > 1 else ""
        )
        conc = f" {f.max_concurrency:g}x" if f.max_concurrency is not None else ""
        return f"{f.engine} {f.quantization} {layout}{conc}"
    return f"{f.placement} {f.quantization}"


def _smoke_cell(c: CandidateReport) -> str:
    s = c.smoke
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

    def say(text: str) -> None:
        # every line mixes in outside text (GPU and model names, reasons, paths): never
        # markup, never emoji codes, control characters made visible
        console.print(rich_text(text), highlight=False)

    gpus = ", ".join(f"{g.count}x {g.model}" for g in hw.gpus) or "no GPU"
    say(f"Hardware ({hw.source}): {gpus}, {hw.ram_gb:g} GB RAM")
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
        "front",
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
        cells = (
            str(c.rank),
            c.id,
            params,
            c.license_terms.id,
            c.origin_country,
            _fit_cell(c),
            f"{c.fit.memory_gb:.1f} GB",
            _speed(c),
            _smoke_cell(c),
            f"{c.score:.3f}",
            "yes" if c.pareto else "",
        )
        table.add_row(*(rich_text(cell) for cell in cells))
    console.print(table)
    if report.candidates:
        best = report.candidates[0]
        say(
            f"Top pick: {best.id} — "
            + "; ".join(
                f"{k} {value:.2f} ({best.score_breakdown.why[k]})"
                for k, value in best.score_breakdown.terms().items()
            )
        )
        console.print(
            "front: on the Pareto front (no other candidate beats it on quality, decode speed "
            "and memory at once)",
            markup=False,
        )
        line = sensitivity_line(report)
        if line:
            console.print(line, markup=False)
    for line in smoke_evidence_lines(report.candidates):
        say(line)
    if report.excluded:
        say(f"\nExcluded: {len(report.excluded)} model(s)")
        for e in report.excluded:
            codes = ",".join(sorted({r.code.value for r in e.reasons}))
            say(f"  {e.id} [{codes}] {one_line(e.reasons[0].message)}")
    for f in report.unmatched_files:
        say(f"Unmatched GGUF: {one_line(f.path)}: {one_line(f.reason)}")
    for note in report.notes:
        say(f"Note: {one_line(note)}")
    if report.provenance is not None:
        console.print(provenance_line(report), markup=False, overflow="ignore", crop=False)
    return buf.getvalue()


def provenance_line(report: Report) -> str:
    """The inputs in one line, digests shortened to 12 hex digits (JSON and Markdown carry them
    whole)."""
    p = report.provenance
    if p is None:
        return ""
    req = (
        f"requirements {p.requirements.sha256[:12]}" if p.requirements.sha256 else "requirements -"
    )
    return (
        f"Provenance: {req}, catalog {p.catalog.sha256[:12]} (as of {p.catalog.date or '?'}), "
        f"hardware {p.hardware.source} {p.hardware.sha256[:12]}, "
        f"suite v{p.smoke_suite.version} {p.smoke_suite.sha256[:12]}, "
        f"selector {p.selector_version}, {p.generated_at}"
    )


def smoke_evidence_lines(candidates: list[CandidateReport]) -> list[str]:
    """Measured figures beside what the fit model predicted for the same run."""
    lines = []
    for c in candidates:
        s = c.smoke
        if s.status.value not in ("passed", "failed"):
            continue
        line = (
            f"Smoke {c.id}: {s.status.value} {s.probes_passed}/{s.probes_total} probes, "
            f"{s.decode_tokens_per_s:.1f} tokens/s, first token {s.time_to_first_token_ms:.0f} ms, "
            f"peak RSS {s.peak_rss_gb:.2f} GB"
        )
        if c.smoke_prediction is not None:
            line += f" (predicted {c.smoke_prediction.memory_gb:.2f} GB)"
        lines.append(line + (" [cached]" if s.cached else ""))
    return lines
