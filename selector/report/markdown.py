"""The Markdown procurement checklist."""

from __future__ import annotations

from selector.report.schema import Report
from selector.textsafe import md, md_code

# Every string below that selector did not write (names, reasons, answers, paths, catalog
# text) passes through md() (Markdown and HTML escaped, one line, controls made visible),
# md_code() inside backticks, or _url(): nothing from outside is ever Markdown or HTML.


def _md_escape(text: str) -> str:
    return md(text)


def _url(url: str) -> str:
    """A URL as an autolink (nothing inside <...> is Markdown); escaped text if it cannot be."""
    text = str(url)
    if any(c in text for c in " <>\n\r\t\\`") or not text.startswith(("http://", "https://")):
        return md(text)
    return f"<{text}>"


def format_markdown(report: Report) -> str:
    """A procurement checklist: what to review, buy and verify for each shortlisted model."""
    out: list[str] = []
    req = report.requirements
    hw = report.hardware
    name = md(req.get("use_case", {}).get("name") or "deployment")
    out.append(f"# Model selection checklist: {name}\n")
    out.append(f"Generated {report.generated_at} by selector {report.selector_version}.\n")
    gpus = ", ".join(f"{g.count}x {md(g.model)} ({g.vram_gb:g} GB)" for g in hw.gpus) or "no GPU"
    out.append(f"Hardware ({hw.source}): {gpus}; {hw.ram_gb:g} GB RAM.\n")
    if not report.candidates:
        out.append("**No candidate survives the requirements.** See the exclusions below.\n")
    else:
        out.append("## Shortlist\n")
        out.append("| # | model | params | license | origin | placement | memory | score |")
        out.append("|---|---|---|---|---|---|---|---|")
        for c in report.candidates:
            out.append(
                f"| {c.rank} | {md(c.id)} | {c.params_b:g}B | {md(c.license)} | "
                f"{md(c.origin_country)} | {md(c.fit.placement)} | {c.fit.memory_gb:.1f} GB | "
                f"{c.score:.3f} |"
            )
        out.append("")
    for c in report.candidates:
        out.append(f"## {c.rank}. {md(c.name)} (`{md_code(c.id)}`)\n")
        out.append(
            f"- Organization: {md(c.organization)} ({md(c.origin_country)}); "
            f"family `{md_code(c.family)}`"
        )
        out.append(
            f"- Size: {c.params_b:g}B total, {c.active_params_b:g}B active; "
            f"context {c.context_tokens:,} tokens"
        )
        lic = c.license_terms
        out.append(
            f"- [ ] License review: {md(lic.name)} ({md(lic.spdx or 'no SPDX id')}) — "
            f"{_url(lic.url)}"
        )
        out.append(f"  - commercial use: {'permitted' if lic.commercial_use else 'NOT permitted'}")
        for clause in lic.clauses:
            threshold = (
                f" (threshold: {md(clause['threshold'])})" if clause.get("threshold") else ""
            )
            out.append(f"  - [ ] {md(clause['kind'])}{threshold}: {md(clause['detail'])}")
        f = c.fit
        gpus_line = ", ".join(f"{g.count}x {md(g.model)}" for g in hw.gpus) or "CPU only"
        out.append(
            f"- [ ] Hardware to buy or reserve: {gpus_line}; placement **{md(f.placement)}**, "
            f"{f.memory_gb:.1f} GB at {md(f.quantization)} ({md(f.basis)}); "
            f"disk {c.disk_gb:.1f} GB"
        )
        if f.estimated_decode_tokens_per_s:
            out.append(
                f"  - decode estimate ~{f.estimated_decode_tokens_per_s:.0f} tokens/s: "
                f"{md(f.speed_basis)}"
            )
        s = c.smoke
        if s.status.value == "skipped":
            out.append(f"- [ ] Smoke evidence: none — {md(s.reason)}")
        else:
            out.append(
                f"- [ ] Smoke evidence: {s.status.value}, "
                f"{s.probes_passed}/{s.probes_total} probes; "
                f"decode {s.decode_tokens_per_s:.1f} tokens/s, "
                f"first token {s.time_to_first_token_ms:.0f} ms, "
                f"peak {s.peak_rss_gb:.2f} GB"
                + (
                    f" (predicted {c.smoke_prediction.memory_gb:.2f} GB)"
                    if c.smoke_prediction is not None
                    else ""
                )
                + f"; sha256 `{md_code(s.model_sha256[:16])}…` ({md(s.backend)})"
            )
        b = c.score_breakdown
        out.append(
            "- Score: "
            + ", ".join(
                f"{k} {getattr(b, k):.2f}"
                for k in ("quality", "size_preference", "license", "tooling", "smoke")
            )
        )
        if c.risks:
            out.append("- Open risks:")
            out += [f"  - {md(r)}" for r in c.risks]
        out.append("- Sources: " + ", ".join(_url(u) for u in c.sources))
        out.append("")
    if report.excluded:
        out.append("## Why the other models were excluded\n")
        out.append("| model | params | license | reasons |")
        out.append("|---|---|---|---|")
        for e in report.excluded:
            reasons = "; ".join(f"**{md(r.code.value)}**: {md(r.message)}" for r in e.reasons)
            out.append(f"| {md(e.id)} | {e.params_b:g}B | {md(e.license)} | {reasons} |")
        out.append("")
    if report.notes or report.unmatched_files:
        out.append("## Notes\n")
        out += [f"- {md(n)}" for n in report.notes]
        out += [
            f"- unmatched GGUF file {md(u.path)}: {md(u.reason)}" for u in report.unmatched_files
        ]
        out.append("")
    return "\n".join(out)
