"""What would admit an excluded model: the smallest requirement changes, found by the filter.

Each lever (levers.py) is one requirements key that can lift one kind of exclusion, its value
never guessed but found by re-running the filter. The levers are combined here, fewest keys
first, until the filter re-run with all of them admits the model (docs/ranking.md, "What
would admit it").
"""

from __future__ import annotations

import itertools

from selector.decision.lever import QUANT_LADDER, Lever, Probe, R
from selector.decision.levers import levers
from selector.decision.rerun import Rerun, codes
from selector.filtering import Assessment
from selector.report.decision_schema import WhatIf, WhatIfChange
from selector.vocab import ReasonCode

__all__ = ["QUANT_LADDER", "what_if"]

MAX_COMBINED_KEYS = 10


def _first_combo(probe: Probe, present: set[ReasonCode], options: list[Lever], admit: bool):
    """The first combination (fewest keys, preferred keys first) that covers every reason and
    either admits the model (`admit`) or leaves only reasons that were not there before."""
    for k in range(1, min(len(options), MAX_COMBINED_KEYS) + 1):
        for combo in itertools.combinations(options, k):
            covered = frozenset().union(*(lever.targets | lever.clears for lever in combo))
            if not present <= covered:
                continue
            left = codes(probe(*(lever.apply for lever in combo)))
            if not left if admit else not left & present:
                return list(combo)
    return None


def _refine(probe: Probe, combo: list[Lever]) -> list[Lever]:
    """Each lever's value searched again with the others applied: a threshold found against
    the base can be loosened once another change helps (Q2_K fits, so it decodes faster)."""
    out = list(combo)
    for i, lever in enumerate(out):
        others = [x.apply for j, x in enumerate(out) if j != i]
        variant = probe.req.model_copy(deep=True)
        for apply in others:
            apply(variant)
        inner = Probe(probe.rerun, probe.model, variant, probe.smoke)
        now = inner()
        if not now.excluded:
            continue
        again = next((x for x in levers(inner, now) if x.key == lever.key), None)
        if again is None or again.needed == lever.needed:
            continue
        again.current, again.clears = lever.current, lever.clears
        trial = [*out[:i], again, *out[i + 1 :]]
        if not probe(*(x.apply for x in trial)).excluded:
            out = trial
    return out


def what_if(rerun: Rerun, a: Assessment) -> WhatIf:
    """The fewest keys that admit `a.model`, each at its smallest admitting value, verified.

    A lifted reason can reveal another (a model that now fits is then judged on speed): the
    search then goes on from the changed requirements, up to three rounds.
    """
    notes = []
    if a.smoke is None and codes(a) - {R.LATENCY, R.SMOKE}:
        notes.append(
            "the model was not smoke-tested (the filter excluded it first): once admitted it "
            "is judged on its estimates until a smoke test runs"
        )
    req, chosen, tried = rerun.base, [], []
    for _ in range(3):
        probe = Probe(rerun, a.model, req, a.smoke)
        now = probe()
        present = codes(now)
        options = levers(probe, now)
        tried += options
        combo = _first_combo(probe, present, options, admit=True)
        if combo is None:
            combo = _first_combo(probe, present, options, admit=False)
        else:
            combo = _refine(probe, combo)
        if combo is None:
            break
        chosen += combo
        req = probe.req.model_copy(deep=True)
        for lever in combo:
            lever.apply(req)
        if not probe(*(lever.apply for lever in combo)).excluded:
            break
    final = Probe(rerun, a.model, rerun.base, a.smoke)
    admitted = bool(chosen) and not final(*(lever.apply for lever in chosen)).excluded
    if not admitted:
        notes.append("no combination of the changes tried admits the model")
    merged: dict[str, WhatIfChange] = {}
    for lever in chosen:  # a key changed in two rounds: the base value, the last needed
        change = lever.report()
        if lever.key in merged:
            change.current = merged[lever.key].current
            change.clears = sorted(
                set(change.clears) | set(merged[lever.key].clears), key=list(R).index
            )
        merged[lever.key] = change
    rest: dict[str, WhatIfChange] = {}
    for lever in tried:
        if lever.key not in rest and not (admitted and lever.key in merged):
            rest[lever.key] = lever.report()
    return WhatIf(
        id=a.model.id,
        changes=list(merged.values()) if admitted else [],
        admitted=admitted,
        alternatives=list(rest.values()),
        notes=notes,
    )
