"""The Rich table for a person at a terminal."""

from __future__ import annotations

import io
from collections.abc import Callable

from selector.report.decision_text import sensitivity_line
from selector.report.figures import declared, smoke_evidence, speed_cell
from selector.report.schema import CandidateReport, Report
from selector.smoke.interface import SmokeResult
from selector.tables import Column, fit_table, left_out_line, make_console, natural_width
from selector.textsafe import one_line, rich_text


def _fit_cell(c: CandidateReport) -> str:
    f = c.fit
    if f.engine in ("vllm", "sglang"):
        layout = f"TP{f.tensor_parallel}" + (
            f"xPP{f.pipeline_parallel}" if (f.pipeline_parallel or 1) > 1 else ""
        )
        return f"{f.engine} {f.quantization} {layout}"
    return f"{f.placement} {f.quantization}"


def _concurrency(c: CandidateReport) -> str:
    """vLLM's max concurrency at the requirements' context (the serving fit), e.g. `47.4x`."""
    conc = c.fit.max_concurrency
    return f"{conc:.1f}x" if conc is not None else ""


def _smoke_cell(c: CandidateReport) -> str:
    s = c.smoke
    if s.setup_error:
        return "not run"
    if s.status.value in ("passed", "failed"):
        return f"{s.status.value} {s.probes_passed}/{s.probes_total}"
    return s.status.value


def _params(c: CandidateReport) -> str:
    total = f"{c.params_b:g}B"
    return total + (f"/{c.active_params_b:g}B" if c.active_params_b != c.params_b else "")


# The columns, and the order they are given up in when the terminal is narrow (priority 0 is
# always shown, then 1, 2, ... while they fit): what tells candidates apart first. License and
# origin come late because the requirements' policy already admitted every license and origin
# shown; `front` is explained under the table. docs/usage.md, "Narrow terminals".
COLUMNS: tuple[tuple[Column, Callable[[CandidateReport], str]], ...] = (
    (Column("#", 0, "right"), lambda c: str(c.rank)),
    (Column("model", 0), lambda c: c.id),
    (Column("params", 9, "right"), _params),
    (Column("license", 7), lambda c: c.license_terms.id),
    (Column("origin", 8), lambda c: c.origin_country),
    (Column("fit", 2), _fit_cell),
    (Column("conc", 6, "right"), _concurrency),
    (Column("memory", 3, "right"), lambda c: f"{c.fit.memory_gb:.1f} GB"),
    (Column("tok/s", 4, "right"), lambda c: speed_cell(c, False)),  # set per report below
    (Column("smoke", 5), _smoke_cell),
    (Column("score", 1, "right"), lambda c: f"{c.score:.3f}"),
    (Column("front", 10), lambda c: "yes" if c.pareto else ""),
)


def format_table(report: Report, *, color: bool = False, width: int | None = None) -> str:
    """A table for a person at a terminal `width` columns wide (None: every column, as wide as
    it needs); the JSON and Markdown formats carry the detail."""
    from rich.console import Console

    columns = [col for col, _ in COLUMNS]
    is_declared = declared(report)  # a local measurement is the target's only without it
    cells = [
        (lambda c: speed_cell(c, is_declared)) if col.header == "tok/s" else cell
        for col, cell in COLUMNS
    ]
    rows = [[rich_text(cell(c)) for cell in cells] for c in report.candidates]
    table, dropped = fit_table(f"{len(report.candidates)} candidate(s)", columns, rows, width)
    buf = io.StringIO()
    console: Console = make_console(buf, width or natural_width(table), color=color)
    hw = report.hardware
    # piped or written to a file: a line is as long as it is (a file name is never broken)
    whole_lines = width is None

    def say(text: str) -> None:
        # every line mixes in outside text (GPU and model names, reasons, paths): never
        # markup, never emoji codes, control characters made visible
        console.print(rich_text(text), highlight=False, soft_wrap=whole_lines)

    def note(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=whole_lines)

    gpus = ", ".join(f"{g.count}x {g.model}" for g in hw.gpus) or "no GPU"
    say(f"Hardware ({hw.source}): {gpus}, {hw.ram_gb:g} GB RAM")
    console.print(table)
    shown = {c.header for c in columns} - {c.header for c in dropped}
    left_out = left_out_line(dropped, width)
    if left_out:
        note(left_out)
    if report.candidates:
        if "conc" in shown and any(c.fit.max_concurrency for c in report.candidates):
            note("conc: requests vLLM/SGLang serve at once at the full context (the serving fit)")
        if "tok/s" in shown:
            note(
                "tok/s: measured on the deployment target by the smoke test; ~N estimated for "
                "the target from memory bandwidth ((N here): measured on this machine instead)"
            )
        if "front" in shown:
            note(
                "front: on the Pareto front (no other candidate beats it on quality, decode "
                "speed and memory at once)"
            )
        best = report.candidates[0]
        say(
            f"Top pick: {best.id} — "
            + "; ".join(
                f"{k} {value:.2f} ({best.score_breakdown.why[k]})"
                for k, value in best.score_breakdown.terms().items()
            )
        )
        line = sensitivity_line(report)
        if line:
            note(line)
    for line in smoke_evidence_lines(report.candidates, declared=declared(report)):
        say(line)
    if report.excluded:
        say(f"\nExcluded: {len(report.excluded)} model(s)")
        for e in report.excluded:
            codes = ",".join(sorted({r.code.value for r in e.reasons}))
            say(f"  {e.id} [{codes}] {one_line(e.reasons[0].message)}")
    for f in report.unmatched_files:
        say(f"Unmatched GGUF: {one_line(f.path)}: {one_line(f.reason)}")
    for text in report.notes:
        say(f"Note: {one_line(text)}")
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


def smoke_evidence_lines(candidates: list[CandidateReport], *, declared: bool = False) -> list[str]:
    """Measured figures beside what the fit model predicted for the same run, labelled with
    where they were taken; a run that could not start says why, whole."""
    lines = []
    for c in candidates:
        text = smoke_evidence(c, declared)
        if text is not None:
            lines.append(f"Smoke {c.id}: {text}")
            if c.smoke.capabilities:
                lines.append("  capabilities: " + capability_summary(c.smoke))
            if c.smoke_not_distinguishable_from:
                lines.append(
                    "  not distinguishable by smoke from "
                    + ", ".join(c.smoke_not_distinguishable_from)
                    + " at this sample size"
                )
    return lines


def capability_summary(s: SmokeResult) -> str:
    """`tool-calling 5/6 0.83 [0.44-0.97] pass, ...`: each capability's rate and its interval."""
    from selector.smoke.stats import capability_passes

    parts = []
    for name, r in s.capabilities.items():
        if not r.total:
            parts.append(f"{name} not measured")
            continue
        verdict = "pass" if capability_passes(r) else "FAIL"
        part = (
            f"{name} {r.passed}/{r.total} {r.rate:.2f} [{r.ci_low:.2f}-{r.ci_high:.2f}] {verdict}"
        )
        if name == "long-context" and s.long_context_tokens:
            part += f" at {s.long_context_tokens:,} tokens"
        parts.append(part)
    return ", ".join(parts)
