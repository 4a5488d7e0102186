"""`recommend --format html`: one self-contained page with the ranking, its charts and reasons.

Charts are drawn by matplotlib as inline SVG (the optional `html` extra): vector graphics
that print to PDF sharply, need no JavaScript, no server and no CDN, and add tens of
kilobytes rather than the megabytes of an inlined JavaScript charting library. A
Content-Security-Policy of `default-src 'none'` makes the browser refuse any load from
outside the file. Every string from outside (catalog text, license details, reasons) is
HTML-escaped; the charts themselves carry only catalog ids and numbers.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from html import escape
from typing import TYPE_CHECKING

from selector.errors import InputError
from selector.report.decision_schema import WhatIf
from selector.report.decision_text import toml_value
from selector.report.figures import declared, speed_value
from selector.report.schema import CandidateReport, Report
from selector.vocab import SCORE_TERMS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TERM_COLOURS = ("#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974")
FRONT_COLOUR, DOMINATED_COLOUR = "#1b6ca8", "#b0b0b0"
MISSING = "the HTML report needs matplotlib: pip install 'selector[html]'"


def require_charting() -> None:
    """Fail with one line before a run whose report could not be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(f"--format html: {MISSING}") from None


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an inline <svg> element: no XML prologue, no date, stable ids."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _speed(c: CandidateReport, is_declared: bool) -> float | None:
    """The decode speed that stands for the deployment (report/figures.py)."""
    return speed_value(c, is_declared)[0]


def score_bars(report: Report) -> str:
    """Each candidate's score as stacked bars: weight x term / sum of weights, per term."""
    from matplotlib.figure import Figure

    cands = report.candidates
    fig = Figure(figsize=(8.5, 0.8 + 0.32 * len(cands)), layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{c.rank}. {c.id}" for c in cands]
    left = [0.0] * len(cands)
    for term, colour in zip(SCORE_TERMS, TERM_COLOURS, strict=True):
        widths = []
        for c in cands:
            b = c.score_breakdown
            weight_sum = sum(b.weights.values()) or 1.0
            widths.append(b.weights.get(term, 0.0) * getattr(b, term) / weight_sum)
        ax.barh(labels, widths, left=left, color=colour, label=term, height=0.7)
        left = [x + w for x, w in zip(left, widths, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (each segment: weight x term / sum of weights)")
    ax.legend(ncols=5, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    return _svg(fig, "bars")


def quality_speed_scatter(report: Report) -> str:
    """Quality against decode speed, memory as point size, the Pareto front filled in."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    cands = report.candidates
    xs = [_speed(c, declared(report)) or 0.0 for c in cands]
    ys = [c.score_breakdown.quality for c in cands]
    mem = [c.fit.memory_gb for c in cands]
    biggest = max(mem, default=1.0) or 1.0
    sizes = [40 + 560 * m / biggest for m in mem]
    colours = [FRONT_COLOUR if c.pareto else DOMINATED_COLOUR for c in cands]
    fig = Figure(figsize=(8.5, 5.2), layout="constrained")
    ax = fig.add_subplot()
    points = ax.scatter(xs, ys, s=sizes, c=colours, alpha=0.75, edgecolors="#333333")
    points.set_gid("candidate-points")
    for c, x, y in zip(cands, xs, ys, strict=True):
        ax.annotate(str(c.rank), (x, y), ha="center", va="center", fontsize=7)
    ax.set_xlabel("decode tokens/s per session (measured where smoke-tested, else estimated)")
    ax.set_ylabel("quality term")
    ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], marker="o", ls="", color=FRONT_COLOUR, label="Pareto front"),
        Line2D([], [], marker="o", ls="", color=DOMINATED_COLOUR, label="dominated"),
    ]
    for gb in sorted({round(biggest / 4), round(biggest)}):
        if gb > 0:
            area = 40 + 560 * gb / biggest
            handles.append(
                Line2D(
                    [], [], marker="o", ls="", color="#dddddd", markeredgecolor="#333333",
                    markersize=area**0.5, label=f"{gb} GB memory",
                )
            )  # fmt: skip
    ax.legend(handles=handles, loc="best", fontsize=8, labelspacing=1.2)
    return _svg(fig, "scatter")


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.front{color:#1b6ca8;font-weight:600}.muted{color:#666}.chart svg{max-width:100%;height:auto}
code{font-size:.85em}td.nw{white-space:nowrap}figure{margin:.5rem 0}
@page{size:A4;margin:12mm}
@media print{body{margin:0;max-width:none;font-size:9pt}table{font-size:7.5pt}
th,td{padding:.1rem .25rem}h2,h3{break-after:avoid}figure,tr,li,.keep{break-inside:avoid}
a{color:inherit;text-decoration:none}.chart svg{width:100%}}
"""


def _row(cells: list[str], num: set[int] | None = None, nowrap: set[int] | None = None) -> str:
    """One table row; `num` cells right-aligned, `nowrap` cells kept on one line."""
    num, nowrap = num or set(), nowrap or set()
    tds = "".join(
        f'<td class="num">{cell}</td>'
        if i in num
        else f'<td class="nw">{cell}</td>'
        if i in nowrap
        else f"<td>{cell}</td>"
        for i, cell in enumerate(cells)
    )
    return f"<tr>{tds}</tr>"


def _ranked_table(report: Report) -> str:
    priced = any(c.cost is not None for c in report.candidates)
    head = (
        "<tr><th>#</th><th>model</th><th>params</th><th>license</th><th>origin</th>"
        "<th>placement</th><th>memory</th><th>decode tok/s</th><th>smoke</th><th>score</th>"
        "<th>Pareto (dominated by)</th>" + ("<th>cost / M tokens</th>" if priced else "") + "</tr>"
    )
    rows = []
    for c in report.candidates:
        speed, measured = speed_value(c, declared(report))
        front = (
            '<span class="front">front</span>'
            if c.pareto
            else f"by {escape(c.dominated_by or '')}"
            if c.pareto is False
            else ""
        )
        cost = c.cost.cost_per_million_tokens if c.cost else None
        rows.append(
            _row(
                [
                    str(c.rank),
                    f'<span id="cand-{escape(c.id)}">{escape(c.id)}</span>',
                    f"{c.params_b:g}B"
                    + (f" / {c.active_params_b:g}B" if c.active_params_b != c.params_b else ""),
                    escape(c.license),
                    escape(c.origin_country),
                    escape(f"{c.fit.placement} {c.fit.quantization}"),
                    f"{c.fit.memory_gb:.1f} GB",
                    (f"{speed:.1f}" if speed else "n/a") + ("" if measured else " est."),
                    escape(c.smoke.status.value),
                    f"{c.score:.3f}",
                    front,
                    *([f"{cost:.4g}" if cost is not None else "n/a"] if priced else []),
                ],
                num={0, 2, 6, 7, 9, 11},
                nowrap={1, 10},
            )
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _sensitivity(report: Report) -> str:
    s = report.sensitivity
    if s is None or not s.candidates:
        return ""
    shares = ", ".join(f"{escape(c.id)} {c.first_share:.0%}" for c in s.candidates)
    out = (
        f"<p>Share of {s.samples} weightings (each weight moved within ±{s.spread:.0%}, seed "
        f"{s.seed}) under which each ranks first: {shares}.</p>"
    )
    if s.smallest_flip is not None:
        f = s.smallest_flip
        out += (
            f"<p>The smallest single-weight change that puts {escape(s.runner_up or '')} above "
            f"{escape(s.top or '')}: <code>{escape(f.key)}</code> from {f.current:g} to "
            f"{f.needed:g}.</p>"
        )
    elif s.runner_up:
        out += (
            f"<p>No single weight change puts {escape(s.runner_up)} above "
            f"{escape(s.top or '')}.</p>"
        )
    return out


def _what_if_html(w: WhatIf) -> str:
    if not w.admitted:
        return "no combination of the changes tried admits it"
    return "; ".join(
        f"<code>{escape(c.key)}</code>: {escape(toml_value(c.current))} → "
        f"{escape(toml_value(c.needed))}"
        for c in w.changes
    )


def _exclusions(report: Report) -> str:
    by_code: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for e in report.excluded:
        for r in e.reasons:
            by_code[r.code.value].append((e.id, r.message))
    what_if = {w.id: w for w in report.what_if}
    parts = []
    for code in sorted(by_code, key=lambda k: -len({m for m, _ in by_code[k]})):
        rows = "".join(_row([escape(mid), escape(msg)], nowrap={0}) for mid, msg in by_code[code])
        models = len({m for m, _ in by_code[code]})
        parts.append(
            f"<h3>{escape(code)} ({models} model{'s' if models != 1 else ''})</h3>"
            f"<table><tr><th>model</th><th>reason</th></tr>{rows}</table>"
        )
    if what_if:
        rows = "".join(_row([escape(i), _what_if_html(w)]) for i, w in what_if.items())
        parts.append(
            "<h3>What would admit the best excluded models</h3><p class=muted>Found by "
            "re-running the filter on changed requirements; the changes together admit the "
            "model.</p>"
            f"<table><tr><th>model</th><th>changes</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _licenses(report: Report) -> str:
    seen: dict[str, list[str]] = defaultdict(list)
    terms = {}
    for c in report.candidates:
        seen[c.license_terms.id].append(c.id)
        terms[c.license_terms.id] = c.license_terms
    parts = []
    for lic_id, models in seen.items():
        lic = terms[lic_id]
        clauses = "".join(
            f"<li><b>{escape(cl.get('kind', ''))}</b>"
            + (f" (threshold: {escape(cl['threshold'])})" if cl.get("threshold") else "")
            + f": {escape(cl.get('detail', ''))}</li>"
            for cl in lic.clauses
        )
        commercial = "permitted" if lic.commercial_use else "NOT permitted"
        parts.append(
            f"<h3>{escape(lic.name)} ({escape(lic.spdx or 'no SPDX id')})</h3>"
            f"<p>Models: {escape(', '.join(models))}. Commercial use {commercial}. "
            f'Text: <a href="{escape(lic.url)}">{escape(lic.url)}</a></p>'
            + (f"<ul>{clauses}</ul>" if clauses else "<p>No restrictive clauses.</p>")
        )
    return "".join(parts)


def format_html(report: Report) -> str:
    """The whole page; charts need matplotlib (`selector[html]`), checked up front."""
    require_charting()
    req = report.requirements
    name = req.get("use_case", {}).get("name") or "deployment"
    hw = report.hardware
    gpus = ", ".join(f"{g.count}x {g.model} ({g.vram_gb:g} GB)" for g in hw.gpus) or "no GPU"
    body = [
        f"<h1>Model selection: {escape(name)}</h1>",
        f"<p class=muted>Generated {escape(report.generated_at)} by selector "
        f"{escape(report.selector_version)}. Hardware ({escape(hw.source)}): {escape(gpus)}; "
        f"{hw.ram_gb:g} GB RAM. {len(report.candidates)} candidate(s), "
        f"{len(report.excluded)} excluded.</p>",
    ]
    if report.candidates:
        top = report.candidates[0]
        body.append(
            f"<section><h2>Ranking</h2><p>Top pick: <b>{escape(top.id)}</b> "
            f"({escape(top.name)}), score {top.score:.3f}.</p>{_sensitivity(report)}"
            f"{_ranked_table(report)}</section>"
        )
        body.append(
            '<section class="keep"><h2>Score breakdown</h2><figure class="chart" id="score-chart">'
            f"{score_bars(report)}</figure></section>"
        )
        body.append(
            '<section class="keep"><h2>Quality against decode speed</h2><p class=muted>Point '
            "size is the "
            "memory the model needs; filled blue points are on the Pareto front (no other "
            "candidate is better on quality, speed and memory at once); numbers are ranks."
            '</p><figure class="chart" id="scatter-chart">'
            f"{quality_speed_scatter(report)}</figure></section>"
        )
        body.append(f"<section><h2>License obligations</h2>{_licenses(report)}</section>")
    else:
        body.append("<p><b>No candidate survives the requirements.</b></p>")
    if report.excluded:
        body.append(f"<section><h2>Exclusions by reason</h2>{_exclusions(report)}</section>")
    notes = [*report.notes, *(f"unmatched {u.path}: {u.reason}" for u in report.unmatched_files)]
    if notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in notes)
        body.append(f"<section><h2>Notes</h2><ul>{items}</ul></section>")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>selector: {escape(name)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    return re.sub(r"[ \t]+\n", "\n", page)
