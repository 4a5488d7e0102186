"""What a decision record says beyond the raw report: the policy in words, the minimum hardware
a pick needs, how its artifact is pinned, and why it ranks first. Shared by the Markdown
checklist, the CycloneDX ML-BOM and the lock file, so all three say the same thing."""

from __future__ import annotations

from typing import Any

from selector.fit import Fit
from selector.report.schema import ArtifactReport, CandidateReport, Report
from selector.vocab import SCORE_TERMS

PLACED = {
    "gpu": "all on the GPU(s)",
    "split": "split between the GPU(s) and CPU RAM",
    "cpu": "in the CPU RAM",
}


def artifact_missing(a: ArtifactReport | None) -> list[str]:
    """What an artifact lacks to be pinned: the fields a deployment could not check."""
    if a is None:
        return ["the catalog lists no artifact at this quantization"]
    missing = []
    if not a.repo:
        missing.append("repository")
    if not a.file:
        missing.append("file name")
    if not a.revision:
        missing.append("revision")
    if not a.sha256:
        missing.append("sha256")
    if a.size_bytes is None:
        missing.append("size")
    return missing


def artifact_text(a: ArtifactReport | None) -> str:
    """`repo` @ revision, file, sha256, size; or `not pinned: <what is missing>`."""
    missing = artifact_missing(a)
    if a is None or not a.file:
        return "not pinned: " + ", ".join(missing)
    parts = [
        f"repository `{a.repo}`" if a.repo else "repository unknown",
        f"revision `{a.revision}`" if a.revision else "revision unknown",
        f"file `{a.file}`",
        f"sha256 `{a.sha256}`" if a.sha256 else "sha256 unknown",
    ]
    if a.size_bytes is not None:
        parts.append(f"{a.size_bytes:,} bytes")
    text = ", ".join(parts)
    if missing:
        text += "; not pinned: " + ", ".join(missing)
    if a.local_path:
        text += f"; held here at `{a.local_path}`" + (
            " (sha256 verified)" if a.verified else " (not verified)"
        )
    return text


def _min_gpu_size(need_gb: float) -> float:
    """The smallest card whose usable VRAM holds `need_gb` (the fit keeps 0.5 GB + 5% free)."""
    from selector.fit.placement import GPU_HEADROOM_FRACTION, GPU_HEADROOM_GIB

    return (need_gb + GPU_HEADROOM_GIB) / (1 - GPU_HEADROOM_FRACTION)


def _min_ram(need_gb: float) -> float:
    """The smallest RAM whose usable part holds `need_gb` (the fit keeps 10%, at least 1 GB)."""
    from selector.fit.placement import RAM_HEADROOM_FRACTION, RAM_HEADROOM_MIN_GIB

    return max(need_gb / (1 - RAM_HEADROOM_FRACTION), need_gb + RAM_HEADROOM_MIN_GIB)


def minimum_hardware(fit: Fit, disk_gb: float, *, unified: bool = False, gpus: int = 1) -> str:
    """What the pick needs at its quantization and context, from the fit, not the declaration:
    GPU memory and the card size it implies, RAM, disk."""
    at = f"at {fit.quantization} with {fit.context_tokens:,} tokens of context"
    disk = f"; {disk_gb:.1f} GB of disk"
    if fit.placement == "cpu":
        return (
            f"no GPU: {fit.memory_gb:.1f} GB resident {at}, so at least "
            f"{_min_ram(fit.memory_gb):.0f} GB of RAM{disk}"
        )
    if fit.placement not in ("gpu", "split"):
        return f"does not fit the declared hardware ({fit.memory_gb:.1f} GB needed {at})"
    need = fit.gpu_memory_gb or fit.memory_gb
    if unified:
        from selector.fit.placement import UNIFIED_USABLE_FRACTION

        card = f"unified memory of at least {need / UNIFIED_USABLE_FRACTION:.0f} GB"
    elif fit.tensor_parallel and fit.tensor_parallel > 1:
        per = need / fit.tensor_parallel
        card = f"{fit.tensor_parallel} GPUs of at least {_min_gpu_size(per):.0f} GB each"
    else:
        card = f"one GPU of at least {_min_gpu_size(need):.0f} GB"
        if gpus > 1:
            card += f", or {gpus} GPUs of at least {_min_gpu_size(need / gpus):.0f} GB each"
    text = f"{need:.1f} GB of GPU memory {at}: {card}"
    if fit.placement == "split":
        text += (
            f", plus {fit.cpu_memory_gb:.1f} GB offloaded to RAM (at least "
            f"{_min_ram(fit.cpu_memory_gb):.0f} GB of RAM; decode is bound by the CPU side)"
        )
    elif fit.cpu_memory_gb:
        text += f"; {fit.cpu_memory_gb:.1f} GB of host RAM"
    return text + disk


def policy_lines(req: dict[str, Any]) -> list[str]:
    """The requirements as understood (defaults filled in), one line per section, in words."""
    use, lic, origin = req.get("use_case", {}), req.get("license", {}), req.get("origin", {})
    size, lat, hw = req.get("size", {}), req.get("latency", {}), req.get("hardware", {})
    smoke = req.get("smoke", {})
    needs = ", ".join(use.get("needs") or []) or "none"
    allow = lic.get("allow")
    lines = [
        f"Use case: {use.get('name') or 'unnamed'}; capabilities needed: {needs}; "
        f"context of at least {use.get('context_tokens', 0):,} tokens",
        "License: "
        + (f"only {', '.join(allow)}" if allow else "any license")
        + ("; commercial use must be permitted" if lic.get("commercial_use") else "")
        + (
            f"; refused clauses: {', '.join(lic['deny_clauses'])}"
            if lic.get("deny_clauses")
            else "; no clause refused"
        ),
        "Origin: "
        + (
            f"models developed in {', '.join(origin['exclude_countries'])} excluded"
            if origin.get("exclude_countries")
            else "no country excluded"
        ),
        "Size: "
        + "; ".join(
            x
            for x in (
                f"at most {size['max_params_b']:g}B parameters" if size.get("max_params_b") else "",
                f"at most {size['max_disk_gb']:g} GB on disk" if size.get("max_disk_gb") else "",
                "quantization chosen per model (the best that fits and meets the targets)"
                if size.get("quantization") == "auto"
                else f"quantization {size.get('quantization', '?')}",
                f"size preference centred on {size.get('target_params_b', 30):g}B",
            )
            if x
        ),
        "Latency: "
        + (
            "; ".join(
                x
                for x in (
                    f"decode at least {lat['min_decode_tokens_per_s']:g} tokens/s"
                    if lat.get("min_decode_tokens_per_s")
                    else "",
                    f"first token within {lat['max_time_to_first_token_ms']:g} ms"
                    if lat.get("max_time_to_first_token_ms")
                    else "",
                )
                if x
            )
            or "no target"
        ),
        "Hardware: "
        + ("detected on this machine" if not _declared(hw) else "as declared")
        + ("; offloading layers to CPU RAM accepted" if hw.get("allow_offload") else ""),
        "Serving: " + _serving_policy(req.get("deployment", {}), use.get("concurrent_sessions", 1)),
        "Smoke tests: " + ("enabled" if smoke.get("enabled", True) else "disabled"),
    ]
    weights = req.get("ranking", {}).get("weights")
    if weights:
        lines.append("Ranking weights: " + ", ".join(f"{k} {v:g}" for k, v in weights.items()))
    return lines


def _serving_policy(dep: dict[str, Any], sessions: int) -> str:
    engine = dep.get("engine", "auto")
    parts = [
        "engine chosen per hardware (vLLM on data-center GPUs, llama.cpp elsewhere)"
        if engine == "auto"
        else f"engine {engine}",
        f"{sessions} concurrent session{'s' if sessions != 1 else ''} at the full context",
    ]
    if dep.get("tensor_parallel"):
        parts.append(f"tensor parallel {dep['tensor_parallel']}")
    if dep.get("gpu_memory_utilization"):
        parts.append(f"gpu_memory_utilization {dep['gpu_memory_utilization']:g}")
    return "; ".join(parts)


def _declared(hw: dict[str, Any]) -> bool:
    return not hw.get("detect") and bool(hw.get("gpus") or hw.get("ram_gb") or hw.get("cpu_only"))


def _strongest_terms(c: CandidateReport, n: int = 2) -> list[str]:
    b = c.score_breakdown
    weighted = sorted(
        SCORE_TERMS, key=lambda k: getattr(b, k) * b.weights.get(k, 1.0), reverse=True
    )[:n]
    return [f"{k.replace('_', ' ')} {getattr(b, k):.2f} ({b.why.get(k, '')})" for k in weighted]


def rationale(report: Report) -> str:
    """A paragraph on why the top pick ranks first, from the report's own figures."""
    if not report.candidates:
        return "No model meets every requirement; the exclusions below say why for each."
    c, rest = report.candidates[0], report.candidates[1:]
    lic, f = c.license_terms, c.fit
    out = [
        f"{c.name} (`{c.id}`) ranks first of {len(report.candidates)} shortlisted models "
        f"with a score of {c.score:.3f}"
        + (f"; the runner-up, `{rest[0].id}`, scores {rest[0].score:.3f}." if rest else ".")
    ]
    clauses = sorted({cl["kind"] for cl in lic.clauses})
    out.append(
        f"It meets every hard requirement: its license, {lic.name}, "
        + ("permits" if lic.commercial_use else "does not permit")
        + " commercial use"
        + (f" with obligations to honour ({', '.join(clauses)})" if clauses else "")
        + f"; it is developed by {c.organization} ({c.origin_country}); its native context is "
        f"{c.context_tokens:,} tokens; and at {f.quantization} it needs {f.memory_gb:.1f} GB, "
        f"{PLACED.get(f.placement, f.placement)} of the {report.hardware.source} hardware"
        + (
            f", with an estimated decode of ~{f.estimated_decode_tokens_per_s:.0f} tokens/s."
            if f.estimated_decode_tokens_per_s
            else "."
        )
    )
    out.append("Its strongest score terms are " + " and ".join(_strongest_terms(c)) + ".")
    s = c.smoke
    if s.status.value in ("passed", "failed"):
        out.append(
            f"Its smoke test {s.status.value} {s.probes_passed}/{s.probes_total} probes"
            + (
                f" at {s.decode_tokens_per_s:.1f} tokens/s on the machine that ran it."
                if s.decode_tokens_per_s is not None
                else " (no decode speed measured)."
            )
        )
    else:
        out.append("It was not smoke-tested here, so its quality and speed are estimates.")
    if c.risks:
        out.append(f"{len(c.risks)} open risk(s) are listed with it below.")
    return " ".join(out)
