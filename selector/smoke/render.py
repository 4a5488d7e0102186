"""`selector smoke` as a person reads it: the measurements, each capability's pass rate, and
every probe with its answer and why it passed or failed.

Model answers, server errors and file names are data: every cell is a `rich.text.Text`, with
control characters made visible and long answers cut, never parsed as markup.
"""

from __future__ import annotations

from typing import Any

from selector.smoke.interface import ProbeOutcome, SmokeResult
from selector.smoke.stats import CAPABILITY_PASS_RATE, capability_passes
from selector.textsafe import clean, rich_text

ANSWER_WIDTH = 100
WHY_WIDTH = 160
_COLOUR = {"passed": "green", "failed": "yellow", "truncated": "magenta", "error": "red"}


def visible(text: str, limit: int) -> str:
    """One line: newlines as ⏎, other control characters as escapes, cut to `limit` chars."""
    line = clean(text.strip().replace("\n", "⏎"))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _num(value: float | None, fmt: str, unit: str) -> str:
    """A measured figure, or '-' where nothing was measured (never a made-up 0)."""
    return "-" if value is None else f"{value:{fmt}} {unit}"


def speed_summary(result: SmokeResult) -> str:
    """Decode speed with how it was taken: '41.2 tokens/s (median of 3 x 64 tokens, spread 4%)'."""
    if result.decode_tokens_per_s is None:
        return "-"
    text = f"{result.decode_tokens_per_s:.1f} tokens/s"
    speed = result.speed
    if speed is None:
        return text
    spread = f", spread {speed.spread:.0%}" if speed.spread is not None else ""
    text += f" (median of {speed.runs} x {speed.tokens_per_run} tokens{spread})"
    if not speed.usable:
        text += f"; not used: {speed.why_not_usable}"
    return text


def render_smoke(result: SmokeResult, extra: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Console(emoji=False)
    status = result.status.value
    what = extra.get("model_path") or f"{extra.get('endpoint')} ({extra.get('model')})"
    out.print(rich_text(what, style="bold"), highlight=False)
    label = "setup error" if result.setup_error else status
    head = Text(label, style={"passed": "green", "skipped": "dim"}.get(status, "red"))
    head.append(": ")
    head.append(rich_text(result.reason + (" (cached)" if result.cached else "")))
    out.print(head, highlight=False, soft_wrap=True)
    out.print(_facts(result, extra))
    for note in result.notes:
        out.print(Text(f"note: {clean(note)}"), soft_wrap=True)
    if result.capabilities:
        caps = Table(title="capabilities", title_justify="left")
        for col in ("capability", "passed", "rate", "95% interval", "verdict"):
            caps.add_column(col, justify="right" if col in ("passed", "rate") else "left")
        for name, r in result.capabilities.items():
            if not r.total:
                verdict = Text("not measured", style="dim")
            elif capability_passes(r):
                verdict = Text("pass", style="green")
            else:
                verdict = Text(f"FAIL (< {CAPABILITY_PASS_RATE:.0%})", style="red")
            caps.add_row(
                Text(name),
                f"{r.passed}/{r.total}",
                f"{r.rate:.2f}",
                f"[{r.ci_low:.2f}, {r.ci_high:.2f}]",
                verdict,
            )
        out.print(caps)
    if result.probes:
        repeats = max(p.repeat for p in result.probes) + 1
        passed = sum(p.passed for p in result.probes)
        out.print(Text(f"probes: {passed}/{len(result.probes)} passed", style="bold"))
        for line in probe_lines(result.probes, repeats=repeats):
            out.print(line)


def probe_lines(probes: list[ProbeOutcome], *, repeats: int = 1) -> list[Any]:
    """Two lines per probe run: verdict, id, capability and why; then the answer."""
    from rich.text import Text

    lines = []
    for p in probes:
        head = Text(f"{p.status:<9} ", style=_COLOUR.get(p.status, ""))
        head.append(p.id, style="bold")
        run = f", run {p.repeat + 1}" if repeats > 1 else ""
        head.append(f" ({p.capability}{run}): ")
        head.append(visible(p.error or p.detail, WHY_WIDTH))
        lines.append(head)
        lines.append(Text("          answer: " + (visible(p.output, ANSWER_WIDTH) or "(empty)")))
    return lines


def _facts(result: SmokeResult, extra: dict[str, Any]) -> Any:
    from rich.table import Table

    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="dim")
    facts.add_column(overflow="fold")
    fit = extra.get("fit") or {}
    predicted = f" (predicted {fit['memory_gb']:.2f} GiB" if fit.get("memory_gb") else ""
    if predicted and fit.get("llama_cpp_estimate_gb"):
        predicted += f"; llama.cpp estimates {fit['llama_cpp_estimate_gb']:.2f} GiB"
    predicted += ")" if predicted else ""
    peak = _num(result.peak_rss_gb, ".2f", "GiB")
    suite = f"v{result.suite_version}"
    if result.suite_digest:
        suite += f" ({result.suite_digest})"
    rows = [
        ("backend", f"{result.backend} {result.llama_cpp_version}".strip()),
        ("catalog id", str(extra.get("catalog_id") or "-")),
        ("tuning", str(extra.get("tuning") or "-")),
        ("quantization", result.quantization or "-"),
        ("sha256", result.model_sha256 or "-"),
        ("n_ctx / threads", f"{result.n_ctx or '-'} / {result.threads or '-'}"),
        ("load time", _num(result.load_time_s, ".2f", "s")),
        ("time to first token", _num(result.time_to_first_token_ms, ".0f", "ms")),
        ("prefill", _num(result.prefill_tokens_per_s, ".1f", "tokens/s")),
        ("decode", speed_summary(result)),
        ("peak memory", peak + (predicted if peak != "-" else "")),
        ("memory bound", _num(result.memory_limit_gb, ".3g", "GiB")),
        ("suite / wall time", f"{suite} / {result.wall_time_s:.1f} s"),
    ]
    if result.speed is not None and result.speed.busy_detail:
        rows.append(("machine", result.speed.busy_detail))
    if result.long_context_tokens:
        rows.append(("long-context length", f"{result.long_context_tokens:,} tokens"))
    for key, value in rows:
        facts.add_row(key, rich_text(value))
    return facts
