"""The Markdown decision record: a checklist procurement and legal can take as-is.

One small function per section, each returning its lines, so a section can be added (a launch
command, a Pareto mark, capability results) without touching the others. Catalog strings and
model answers are data: `_md` keeps them from breaking a table or a line.
"""

from __future__ import annotations

from collections.abc import Callable

from selector.report.decision import (
    artifact_text,
    minimum_hardware,
    policy_lines,
    rationale,
)
from selector.report.decision_text import sensitivity_line
from selector.report.figures import declared, smoke_evidence, speed_text
from selector.report.schema import CandidateReport, Report
from selector.smoke.interface import SmokeResult
from selector.textsafe import md, md_code

Section = Callable[[Report], list[str]]

# Every string below that selector did not write (names, reasons, answers, paths, catalog
# text) passes through _md() (Markdown and HTML escaped, one line, controls made visible),
# md_code() inside backticks, or _url(): nothing from outside is ever Markdown or HTML.


def _md(text: object) -> str:
    """One table cell or list item: escaped, no pipe, no line break, controls visible."""
    return md(text)


def _md_spans(text: str) -> str:
    """Text selector composed with `code spans` around outside values (an artifact line, the
    inputs, the rationale): each span through md_code(), the rest through md()."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: no spans to keep
        return md(text)
    return "".join(f"`{md_code(p)}`" if i % 2 else _md_keep_edges(p) for i, p in enumerate(parts))


def _md_keep_edges(text: str) -> str:
    """md(), keeping one space where `text` starts or ends with whitespace (around a span)."""
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() and text.strip() else ""
    return lead + md(text) + trail


def _url(url: object) -> str:
    """A URL as an autolink (nothing inside <...> is Markdown); escaped text if it cannot be."""
    text = str(url)
    if any(c in text for c in " <>\n\r\t\\`") or not text.startswith(("http://", "https://")):
        return md(text)
    return f"<{text}>"


def launch_command(c: CandidateReport) -> str | None:
    """The command that starts the chosen engine with the fit's layout (docs/fit.md)."""
    f = c.fit
    if f.engine in ("vllm", "sglang") and f.checkpoint:
        tp, pp, dp = f.tensor_parallel or 1, f.pipeline_parallel or 1, f.data_parallel or 1
        util = f.gpu_memory_utilization
        if f.engine == "sglang":
            parts = ["python -m sglang.launch_server", f"--model-path {f.checkpoint}"]
            parts += [f"--tp {tp}", f"--context-length {f.context_tokens}"]
            parts += [f"--pp-size {pp}"] if pp > 1 else []
            parts += [f"--dp {dp}"] if dp > 1 else []
            parts += [f"--mem-fraction-static {util:g}"] if util else []
        else:
            parts = [f"vllm serve {f.checkpoint}", f"--tensor-parallel-size {tp}"]
            parts += [f"--pipeline-parallel-size {pp}"] if pp > 1 else []
            parts += [f"--data-parallel-size {dp}"] if dp > 1 else []
            parts += [f"--max-model-len {f.context_tokens}"]
            parts += [f"--gpu-memory-utilization {util:g}"] if util else []
            parts += [f"--quantization {f.online_quantization}"] if f.online_quantization else []
        if f.kv_cache_dtype and f.kv_cache_dtype not in ("auto", "f16"):
            parts.append(f"--kv-cache-dtype {f.kv_cache_dtype}")
        return " ".join(parts)
    if f.engine == "llama.cpp":
        art = c.artifact
        model_file = (art.local_path or art.file) if art else None
        model_file = model_file or f"<{c.id} {f.quantization} GGUF>"
        sessions = f.concurrent_sessions or 1
        parts = [f"llama-server -m {model_file}", f"-c {f.context_tokens * sessions}"]
        parts += [f"-np {sessions}"] if sessions > 1 else []
        if f.placement in ("gpu", "split"):
            parts.append(f"-ngl {f.gpu_layers}")
        return " ".join(parts)
    return None


def serving_lines(report: Report, c: CandidateReport) -> list[str]:
    """Engine, precision, layout, KV capacity and the launch command of one candidate."""
    f = c.fit
    if not f.engine:
        return []
    lines = [f"  - engine: {f.engine} ({_md(f.engine_reason)})"]
    if f.precision:
        cost = f" (quality cost {f.quality_cost:.2%})" if f.quality_cost else ""
        lines.append(f"  - precision: {f.precision}{cost}: {_md(f.precision_reason)}")
    if f.tensor_parallel:
        lines.append(
            f"  - layout: TP {f.tensor_parallel} x PP {f.pipeline_parallel or 1}, "
            f"{f.data_parallel or 1} replica(s); KV cache {f.kv_capacity_tokens or 0:,} tokens "
            f"per replica, {f.max_concurrency or 0:g} sessions of {f.context_tokens:,} tokens"
        )
    command = launch_command(c)
    if command:
        lines.append(f"- [ ] Launch: `{md_code(command)}`")
    return lines


def _capability_lines(s: SmokeResult) -> list[str]:
    """One checklist line per capability the smoke run tested, with its 95% interval."""
    from selector.smoke.stats import CAPABILITY_PASS_RATE, capability_passes

    lines = []
    for name, r in s.capabilities.items():
        if not r.total:
            lines.append(f"  - {_md(name)}: not measured (every probe errored)")
            continue
        ok = capability_passes(r)
        where = (
            f" at {s.long_context_tokens:,} tokens"
            if name == "long-context" and s.long_context_tokens
            else ""
        )
        lines.append(
            f"  - [{'x' if ok else ' '}] {_md(name)}: {r.passed}/{r.total} probe runs passed "
            f"({r.rate:.0%}, 95% interval {r.ci_low:.0%}–{r.ci_high:.0%}){where}"
            + ("" if ok else f" — **below {CAPABILITY_PASS_RATE:.0%}**")
        )
    return lines


def format_markdown(report: Report) -> str:
    """The decision record: summary, policy, inputs, shortlist, rationale, one section per
    candidate, near-misses, exclusions, notes, approvals."""
    out: list[str] = []
    for section in SECTIONS:
        out += section(report)
    return "\n".join(out)


def header_section(report: Report) -> list[str]:
    name = report.requirements.get("use_case", {}).get("name") or "deployment"
    out = [f"# Model selection checklist: {_md(name)}\n"]
    out.append(f"Generated {report.generated_at} by selector {report.selector_version}.\n")
    if report.candidates:
        top = report.candidates[0]
        out.append(
            f"**Recommended: {_md(top.name)} (`{top.id}`) at {top.fit.quantization}**, rank 1 of "
            f"{len(report.candidates)} shortlisted; {len(report.excluded)} models excluded.\n"
        )
    else:
        out.append("**No candidate survives the requirements.** See the exclusions below.\n")
    return out


def policy_section(report: Report) -> list[str]:
    out = [
        "## Policy applied\n",
        "The requirements as selector understood them (defaults filled in):\n",
    ]
    out += [f"- {_md(line)}" for line in policy_lines(report.requirements)]
    hw = report.hardware
    gpus = ", ".join(f"{g.count}x {g.model} ({g.vram_gb:g} GB)" for g in hw.gpus) or "no GPU"
    out.append(f"- Hardware planned against ({hw.source}): {_md(gpus)}; {hw.ram_gb:g} GB RAM")
    return [*out, ""]


def inputs_section(report: Report) -> list[str]:
    p = report.provenance
    if p is None:
        return []
    req = p.requirements
    cat = p.catalog
    rows = [
        (
            "requirements file",
            f"`{req.path}`, sha256 `{req.sha256}`" if req.sha256 else "not read from a file",
        ),
        (
            "catalog",
            f"sha256 `{cat.sha256}` over {len(cat.files)} files, {cat.models} models; "
            f"as of {cat.date or 'unknown'} ({cat.date_basis})",
        ),
        ("hardware", f"{p.hardware.summary}; sha256 `{p.hardware.sha256}`"),
        ("smoke suite", f"version {p.smoke_suite.version}, sha256 `{p.smoke_suite.sha256}`"),
        ("selector", p.selector_version),
        ("generated", p.generated_at),
    ]
    out = ["## Inputs\n", "| input | exact version |", "|---|---|"]
    out += [f"| {k} | {_md_spans(v)} |" for k, v in rows]
    return [*out, ""]


def _smoke_cell(c: CandidateReport) -> str:
    s = c.smoke
    if s.status.value in ("passed", "failed"):
        return f"{s.status.value} {s.probes_passed}/{s.probes_total}"
    return s.status.value


def shortlist_section(report: Report) -> list[str]:
    if not report.candidates:
        return []
    out = [
        "## Shortlist\n",
        "| # | model | params | license | origin | placement | memory | tokens/s | smoke | score "
        "| Pareto |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report.candidates:
        out.append(
            f"| {c.rank} | {c.id} | {c.params_b:g}B | {_md(c.license)} | {c.origin_country} | "
            f"{c.fit.placement} | {c.fit.memory_gb:.1f} GB | {speed_text(c, declared(report))} | "
            f"{_smoke_cell(c)} | {c.score:.3f} | {'front' if c.pareto else ''} |"
        )
    out += [
        "",
        "Pareto front: no other candidate beats the model on quality, decode speed and memory "
        "at once.",
    ]
    stability = sensitivity_line(report)
    if stability:
        out.append(f"\n{_md(stability)}.")
    return [*out, ""]


def rationale_section(report: Report) -> list[str]:
    if not report.candidates:
        return []
    return [f"## Why `{report.candidates[0].id}`\n", _md_spans(rationale(report)), ""]


def candidates_section(report: Report) -> list[str]:
    out: list[str] = []
    for c in report.candidates:
        out += candidate_lines(report, c)
    return out


def candidate_lines(report: Report, c: CandidateReport) -> list[str]:
    out = [f"## {c.rank}. {_md(c.name)} (`{c.id}`)\n"]
    out.append(f"- Organization: {_md(c.organization)} ({c.origin_country}); family `{c.family}`")
    out.append(
        f"- Size: {c.params_b:g}B total, {c.active_params_b:g}B active; "
        f"context {c.context_tokens:,} tokens"
    )
    for lines in (
        license_lines,
        artifact_lines,
        hardware_lines,
        serving_lines,
        evidence_lines,
        pareto_cost_lines,
        score_lines,
        risk_lines,
    ):
        out += lines(report, c)
    out.append("- Sources: " + ", ".join(_url(u) for u in c.sources))
    return [*out, ""]


def license_lines(report: Report, c: CandidateReport) -> list[str]:
    lic = c.license_terms
    verified = {True: "yes", False: "no (read from summaries or a copy)", None: "not recorded"}
    return [
        f"- [ ] License review: {_md(lic.name)} ({_md(lic.spdx or 'no SPDX id')}) — "
        f"{_url(lic.url)}",
        f"  - text version: {_md(lic.version) or 'not recorded'}; clauses verified against the "
        f"license text: {verified[lic.clauses_verified]}",
        f"  - commercial use: {'permitted' if lic.commercial_use else 'NOT permitted'}",
        *(
            f"  - [ ] {cl['kind']}"
            + (f" (threshold: {_md(cl['threshold'])})" if cl.get("threshold") else "")
            + f": {_md(cl['detail'])}"
            for cl in lic.clauses
        ),
    ]


def artifact_lines(report: Report, c: CandidateReport) -> list[str]:
    return [
        f"- [ ] Artifact to deploy ({c.fit.quantization}): {_md_spans(artifact_text(c.artifact))}"
    ]


def hardware_lines(report: Report, c: CandidateReport) -> list[str]:
    hw = report.hardware
    unified = bool(hw.gpus) and all(g.unified_memory for g in hw.gpus)
    need = minimum_hardware(c.fit, c.disk_gb, unified=unified, gpus=hw.gpu_count)
    out = [f"- [ ] Minimum hardware: {_md(need)}"]
    out.append(f"  - memory basis: {_md(c.fit.basis)}")
    if c.fit.estimated_decode_tokens_per_s:
        out.append(
            f"  - decode estimate ~{c.fit.estimated_decode_tokens_per_s:.0f} tokens/s on the "
            f"planned hardware: {_md(c.fit.speed_basis)}"
        )
    return out


def evidence_lines(report: Report, c: CandidateReport) -> list[str]:
    s = c.smoke
    if s.setup_error:
        return [
            f"- [ ] Smoke evidence: none, the run could not start (no penalty) — {_md(s.reason)}"
        ]
    if s.status.value == "skipped":
        return [f"- [ ] Smoke evidence: none — {_md(s.reason)}"]
    text = smoke_evidence(c, declared(report)) or s.status.value
    out = [f"- [ ] Smoke evidence (suite v{s.suite_version or '?'}): {_md(text)}"]
    out += _capability_lines(s)
    if c.smoke_not_distinguishable_from:
        out.append(
            "  - not distinguishable by smoke from "
            + ", ".join(f"`{md_code(m)}`" for m in c.smoke_not_distinguishable_from)
            + " at this sample size (95% intervals overlap)"
        )
    if s.model_sha256:
        out.append(f"  - tested file sha256 `{md_code(s.model_sha256)}` ({_md(s.backend)})")
    return out


def pareto_cost_lines(report: Report, c: CandidateReport) -> list[str]:
    """Whether another candidate dominates this one, and the cost where the team priced its GPUs."""
    out = []
    if c.pareto is not None:
        out.append(
            "- Pareto: on the front"
            if c.pareto
            else f"- Pareto: dominated by `{c.dominated_by}` (better or equal on quality, "
            "decode speed and memory)"
        )
    if c.cost is not None:
        per_m, hourly = c.cost.cost_per_million_tokens, c.cost.hardware_cost_per_hour
        out.append(
            f"- Cost: {f'{hourly:g}' if hourly is not None else 'n/a'}"
            f" per hour, {f'{per_m:.4g}' if per_m is not None else 'n/a'} per million "
            f"generated tokens ({_md(c.cost.basis)})"
        )
    return out


def score_lines(report: Report, c: CandidateReport) -> list[str]:
    b = c.score_breakdown
    return ["- Score: " + ", ".join(f"{k} {v:.2f}" for k, v in b.terms().items())]


def risk_lines(report: Report, c: CandidateReport) -> list[str]:
    if not c.risks:
        return []
    return ["- Open risks:", *(f"  - {_md(r)}" for r in c.risks)]


def near_miss_section(report: Report) -> list[str]:
    if not report.near_misses:
        return []
    out = [
        "## Near misses\n",
        "Excluded only by an estimate that misses its limit narrowly; a measurement on the "
        "target hardware could admit them.\n",
        "| model | excluded by | assumption |",
        "|---|---|---|",
    ]
    for n in report.near_misses:
        reasons = "; ".join(f"**{r.code.value}**: {_md(r.message)}" for r in n.reasons)
        out.append(f"| {n.id} | {reasons} | {_md('; '.join(n.assumptions))} |")
    return [*out, ""]


def excluded_section(report: Report) -> list[str]:
    if not report.excluded:
        return []
    out = [
        "## Why the other models were excluded\n",
        "| model | params | license | reasons |",
        "|---|---|---|---|",
    ]
    for e in report.excluded:
        reasons = "; ".join(f"**{r.code.value}**: {_md(r.message)}" for r in e.reasons)
        out.append(f"| {e.id} | {e.params_b:g}B | {_md(e.license)} | {reasons} |")
    return [*out, ""]


def notes_section(report: Report) -> list[str]:
    if not (report.notes or report.unmatched_files):
        return []
    out = ["## Notes\n"]
    out += [f"- {_md(n)}" for n in report.notes]
    out += [f"- unmatched GGUF file {_md(u.path)}: {_md(u.reason)}" for u in report.unmatched_files]
    return [*out, ""]


def approvals_section(report: Report) -> list[str]:
    out = [
        "## Approvals\n",
        "| role | name | signature | date |",
        "|---|---|---|---|",
        "| Legal (license terms above) |  |  |  |",
        "| Security (artifact and supply chain) |  |  |  |",
        "| Platform owner (hardware and operation) |  |  |  |",
        "",
    ]
    if report.candidates:
        top = report.candidates[0]
        out.append(
            f"Decision: [ ] approve `{top.id}` with the artifact above  "
            "[ ] approve another shortlisted model: ________  [ ] reject  "
            "— date: ________"
        )
        out.append("")
        out.append(
            f"Once approved, pin it: `selector lock REQUIREMENTS.toml {top.id}` writes "
            "`selector.lock.json`; `selector verify selector.lock.json FILE` checks a deployed "
            "file against it."
        )
    else:
        out.append("Decision: [ ] relax the requirements  [ ] reject — date: ________")
    return [*out, ""]


SECTIONS: list[Section] = [
    header_section,
    policy_section,
    inputs_section,
    shortlist_section,
    rationale_section,
    candidates_section,
    near_miss_section,
    excluded_section,
    notes_section,
    approvals_section,
]
