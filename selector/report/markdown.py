"""The Markdown procurement checklist."""

from __future__ import annotations

from selector.report.schema import Report


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _figure(value: float | None, fmt: str, unit: str) -> str:
    return "not measured" if value is None else f"{value:{fmt}} {unit}"


def format_markdown(report: Report) -> str:
    """A procurement checklist: what to review, buy and verify for each shortlisted model."""
    out: list[str] = []
    req = report.requirements
    hw = report.hardware
    name = req.get("use_case", {}).get("name") or "deployment"
    out.append(f"# Model selection checklist: {name}\n")
    out.append(f"Generated {report.generated_at} by selector {report.selector_version}.\n")
    gpus = ", ".join(f"{g.count}x {g.model} ({g.vram_gb:g} GB)" for g in hw.gpus) or "no GPU"
    out.append(f"Hardware ({hw.source}): {gpus}; {hw.ram_gb:g} GB RAM.\n")
    if not report.candidates:
        out.append("**No candidate survives the requirements.** See the exclusions below.\n")
    else:
        out.append("## Shortlist\n")
        out.append("| # | model | params | license | origin | placement | memory | score |")
        out.append("|---|---|---|---|---|---|---|---|")
        for c in report.candidates:
            out.append(
                f"| {c.rank} | {c.id} | {c.params_b:g}B | {c.license} | {c.origin_country} | "
                f"{c.fit.placement} | {c.fit.memory_gb:.1f} GB | {c.score:.3f} |"
            )
        out.append("")
    for c in report.candidates:
        out.append(f"## {c.rank}. {c.name} (`{c.id}`)\n")
        out.append(f"- Organization: {c.organization} ({c.origin_country}); family `{c.family}`")
        out.append(
            f"- Size: {c.params_b:g}B total, {c.active_params_b:g}B active; "
            f"context {c.context_tokens:,} tokens"
        )
        lic = c.license_terms
        out.append(f"- [ ] License review: {lic.name} ({lic.spdx or 'no SPDX id'}) — {lic.url}")
        out.append(f"  - commercial use: {'permitted' if lic.commercial_use else 'NOT permitted'}")
        for clause in lic.clauses:
            threshold = f" (threshold: {clause['threshold']})" if clause.get("threshold") else ""
            out.append(f"  - [ ] {clause['kind']}{threshold}: {_md_escape(clause['detail'])}")
        f = c.fit
        gpus_line = ", ".join(f"{g.count}x {g.model}" for g in hw.gpus) or "CPU only"
        out.append(
            f"- [ ] Hardware to buy or reserve: {gpus_line}; placement **{f.placement}**, "
            f"{f.memory_gb:.1f} GB at {f.quantization} ({f.basis}); disk {c.disk_gb:.1f} GB"
        )
        if f.estimated_decode_tokens_per_s:
            out.append(
                f"  - decode estimate ~{f.estimated_decode_tokens_per_s:.0f} tokens/s: "
                f"{f.speed_basis}"
            )
        s = c.smoke
        declared = hw.source != "detected"
        if s.status.value == "skipped":
            out.append(f"- [ ] Smoke evidence: none — {_md_escape(s.reason)}")
        elif s.setup_error:
            out.append(
                f"- [ ] Smoke evidence: none, the run could not start — {_md_escape(s.reason)}"
            )
        else:
            out.append(
                f"- [ ] Smoke evidence: {s.status.value}, "
                f"{s.probes_passed}/{s.probes_total} probes; "
                f"decode {_figure(s.decode_tokens_per_s, '.1f', 'tokens/s')}, "
                f"first token {_figure(s.time_to_first_token_ms, '.0f', 'ms')}, "
                f"peak {_figure(s.peak_rss_gb, '.2f', 'GB')}"
                + (
                    f" (predicted {c.smoke_prediction.memory_gb:.2f} GB)"
                    if c.smoke_prediction is not None and s.peak_rss_gb is not None
                    else ""
                )
                + (f"; sha256 `{s.model_sha256[:16]}…`" if s.model_sha256 else "")
                + f" ({_md_escape(s.backend)})"
            )
            if s.speed is not None and not s.speed.usable:
                out.append(f"  - speed not used: {_md_escape(s.speed.why_not_usable)}")
            elif s.decode_tokens_per_s is not None and not s.taken_on_target(declared):
                out.append(
                    "  - measured on this machine, not the declared target: evidence of "
                    "behaviour; the decode estimate above is the figure for the target"
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
            out += [f"  - {_md_escape(r)}" for r in c.risks]
        out.append("- Sources: " + ", ".join(c.sources))
        out.append("")
    if report.excluded:
        out.append("## Why the other models were excluded\n")
        out.append("| model | params | license | reasons |")
        out.append("|---|---|---|---|")
        for e in report.excluded:
            reasons = "; ".join(f"**{r.code.value}**: {_md_escape(r.message)}" for r in e.reasons)
            out.append(f"| {e.id} | {e.params_b:g}B | {e.license} | {reasons} |")
        out.append("")
    if report.notes or report.unmatched_files:
        out.append("## Notes\n")
        out += [f"- {_md_escape(n)}" for n in report.notes]
        out += [f"- unmatched GGUF file {u.path}: {u.reason}" for u in report.unmatched_files]
        out.append("")
    return "\n".join(out)
