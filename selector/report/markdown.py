"""The Markdown procurement checklist."""

from __future__ import annotations

from selector.report.schema import CandidateReport, Report


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


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


def serving_lines(c: CandidateReport) -> list[str]:
    """Engine, precision, layout, KV capacity and the launch command of one candidate."""
    f = c.fit
    if not f.engine:
        return []
    lines = [f"  - engine: {f.engine} ({_md_escape(f.engine_reason)})"]
    if f.precision:
        cost = f" (quality cost {f.quality_cost:.2%})" if f.quality_cost else ""
        lines.append(f"  - precision: {f.precision}{cost}: {_md_escape(f.precision_reason)}")
    if f.tensor_parallel:
        lines.append(
            f"  - layout: TP {f.tensor_parallel} x PP {f.pipeline_parallel or 1}, "
            f"{f.data_parallel or 1} replica(s); KV cache {f.kv_capacity_tokens or 0:,} tokens "
            f"per replica, {f.max_concurrency or 0:g} sessions of {f.context_tokens:,} tokens"
        )
    command = launch_command(c)
    if command:
        lines.append(f"- [ ] Launch: `{command}`")
    return lines


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
                f"{_md_escape(f.speed_basis)}"
            )
        out += serving_lines(c)
        s = c.smoke
        if s.status.value == "skipped":
            out.append(f"- [ ] Smoke evidence: none — {s.reason}")
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
                + f"; sha256 `{s.model_sha256[:16]}…` ({s.backend})"
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
