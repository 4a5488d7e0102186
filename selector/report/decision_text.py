"""Decision support as text: `selector explain`, the what-if lines and the stability line."""

from __future__ import annotations

import io
import json

from selector.report.decision_schema import Explanation, WhatIf
from selector.report.schema import Report


def toml_value(value: object) -> str:
    """A requirements value as it is written in the TOML file (["CN"], 40, true)."""
    return json.dumps(value, ensure_ascii=False)


def what_if_lines(w: WhatIf) -> list[str]:
    """The changes that admit a model, then the other changes tried, one per line."""
    if not w.admitted:
        lines = ["No combination of the changes tried admits it."]
    elif len(w.changes) == 1:
        lines = ["The smallest change that admits it (the filter re-run with it):"]
    else:
        lines = [f"No single change admits it; these {len(w.changes)} together do (re-run):"]
    for c in w.changes:
        lines.append(
            f"  {c.key}: {toml_value(c.current)} -> {toml_value(c.needed)}  ({c.description})"
        )
    if w.alternatives:
        lines.append("Other changes tried, and what each lifts on its own:")
        for c in w.alternatives:
            lifts = ", ".join(code.value for code in c.clears) or "nothing on its own"
            lines.append(
                f"  {c.key}: {toml_value(c.current)} -> {toml_value(c.needed)}  "
                f"({c.description}; lifts {lifts})"
            )
    lines += [f"Note: {n}" for n in w.notes]
    return lines


def format_explanation(e: Explanation, *, width: int = 100) -> str:
    from rich.console import Console

    buf = io.StringIO()
    out = Console(file=buf, width=width, color_system=None, highlight=False)

    def say(text: str = "") -> None:
        out.print(text, markup=False, soft_wrap=True)

    if e.status == "candidate":
        say(f"{e.id} ({e.name}): candidate, rank {e.rank} of {e.candidates_total}")
    else:
        say(
            f"{e.id} ({e.name}): excluded; admitted as it is it would rank "
            f"{e.would_rank} of {e.candidates_total + 1}"
        )
    say(f"Score {e.score:.4f} = sum of weight x term / sum of weights:")
    for t in e.terms:
        say(f"  {t.name:<16} {t.value:.3f} x {t.weight:g} -> {t.contribution:.4f}  ({t.why})")
    say("Filters:")
    for check in e.checks:
        mark = "pass" if check.passed else "FAIL"
        for i, detail in enumerate(check.details):
            label = f"{mark} {check.code.value:<10}" if i == 0 else " " * 15
            say(f"  {label} {detail}")
    f = e.fit
    speed = f"{f.estimated_decode_tokens_per_s:g}" if f.estimated_decode_tokens_per_s else "n/a"
    say(
        f"Fit: {f.memory_gb:.1f} GB at {f.quantization}, placement {f.placement}; "
        f"decode ~{speed} tokens/s ({f.speed_basis})"
    )
    if e.pareto is not None:
        say(
            "Pareto: on the front (no candidate beats it on quality, speed and memory at once)"
            if e.pareto
            else f"Pareto: dominated by {e.dominated_by} (better or equal on quality, speed "
            "and memory)"
        )
    if e.first_share is not None:
        say(f"Ranks first under {e.first_share:.0%} of the sampled weightings (each weight ±50%)")
    if e.cost is not None:
        c = e.cost
        per_m = f"{c.cost_per_million_tokens:.4g}" if c.cost_per_million_tokens else "n/a"
        say(f"Cost: {c.hardware_cost_per_hour or 'n/a'}/h, {per_m} per million tokens ({c.basis})")
    if e.what_if is not None:
        for line in what_if_lines(e.what_if):
            say(line)
    for note in e.notes:
        say(f"Note: {note}")
    return buf.getvalue()


def sensitivity_line(report: Report) -> str:
    """How stable the top pick is under other weightings, in one sentence."""
    s = report.sensitivity
    if s is None or not s.candidates:
        return ""
    top = s.candidates[0]
    line = (
        f"Stability: {top.id} ranks first under {top.first_share:.0%} of {s.samples} "
        f"weightings (each weight ±{s.spread:.0%}, seed {s.seed})"
    )
    if s.smallest_flip is not None:
        f = s.smallest_flip
        line += f"; {s.runner_up} moves ahead at {f.key} = {f.needed:g} (now {f.current:g})"
    elif s.runner_up:
        line += f"; no single weight change puts {s.runner_up} ahead"
    return line
