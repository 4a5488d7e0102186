"""What would admit an excluded model: the smallest requirement changes, found by the filter.

Each lever is one requirements key that can lift one kind of exclusion. Its value is never
guessed: a threshold is the figure the filter compared against, or the result of a search
(bisection on a monotone key, a walk down the quantization ladder, one more GPU at a time)
whose every step re-runs the filter. The levers are then combined, fewest keys first, until
the filter re-run with all of them admits the model (docs/ranking.md, "What would admit it").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from pydantic_core import to_jsonable_python

from selector.catalog import ModelEntry
from selector.decision.rerun import Rerun, codes
from selector.filtering import Assessment, has_capability
from selector.fit.quant import QUANTIZATIONS
from selector.report.decision_schema import WhatIf, WhatIfChange
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult
from selector.vocab import Clause, ReasonCode

# The presets a team would actually switch to, widest first; a lever only steps down it.
QUANT_LADDER = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
MAX_GPUS = 16  # the most GPUs of one kind a single server holds
MAX_RAM_GB = 4096
MAX_TTFT_MS = 10_000_000
MAX_COMBINED_KEYS = 10

Apply = Callable[[Requirements], None]
R = ReasonCode


@dataclass
class Lever:
    """One key, the value that lifts the reasons it targets, and how to set it."""

    key: str
    current: object
    needed: object
    description: str
    targets: frozenset[ReasonCode]
    apply: Apply
    clears: frozenset[ReasonCode] = frozenset()

    def report(self) -> WhatIfChange:
        return WhatIfChange(
            key=self.key,
            current=to_jsonable_python(self.current),
            needed=to_jsonable_python(self.needed),
            description=self.description,
            clears=sorted(self.clears, key=list(R).index),
        )


@dataclass
class Probe:
    """The filter re-run for one model under variants of the base requirements."""

    rerun: Rerun
    model: ModelEntry
    req: Requirements
    smoke: SmokeResult | None

    def __call__(self, *applies: Apply) -> Assessment:
        variant = self.req.model_copy(deep=True)
        for apply in applies:
            apply(variant)
        return self.rerun.assess(self.model, variant, self.smoke)

    def clear(self, targets: frozenset[ReasonCode], *applies: Apply) -> bool:
        return not (codes(self(*applies)) & targets)


def _largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """Largest x in [lo, hi] with ok(x), for ok true below some point and false above."""
    if hi < lo or not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _smallest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """Smallest x in [lo, hi] with ok(x), for ok false below some point and true above."""
    if hi < lo or not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _options(present: set[ReasonCode], *groups: set[ReasonCode]) -> list[frozenset[ReasonCode]]:
    """Target sets to try, largest first: each group cut to the reasons actually present."""
    out: list[frozenset[ReasonCode]] = []
    for group in groups:
        cut = frozenset(group & present)
        if cut and cut not in out:
            out.append(cut)
    return out


def _set(section: str, key: str, value: object) -> Apply:
    def apply(req: Requirements) -> None:
        setattr(getattr(req, section), key, value)

    return apply


def _license_levers(a: Assessment, req: Requirements) -> list[Lever]:
    pol, lic, out = req.license, a.license, []
    target = frozenset({R.LICENSE})
    if pol.allow is not None:
        allowed = {x.lower() for x in pol.allow}
        if lic.id.lower() not in allowed and (lic.spdx or "").lower() not in allowed:
            spdx = lic.spdx or ""
            name = lic.id if not spdx or spdx.startswith("LicenseRef-") else spdx
            needed = [*pol.allow, name]
            out.append(
                Lever(
                    "license.allow",
                    pol.allow,
                    needed,
                    f"allow license {name}",
                    target,
                    _set("license", "allow", needed),
                )
            )
    if pol.commercial_use and not lic.commercial_use:
        out.append(
            Lever(
                "license.commercial_use",
                True,
                False,
                f"accept a license without commercial use ({lic.name})",
                target,
                _set("license", "commercial_use", False),
            )
        )
    denied = [
        c
        for c in pol.deny_clauses
        if lic.has(c) or (c is Clause.NON_COMMERCIAL and not lic.commercial_use)
    ]
    if denied:
        kept = [c for c in pol.deny_clauses if c not in denied]
        out.append(
            Lever(
                "license.deny_clauses",
                pol.deny_clauses,
                kept,
                f"stop refusing {', '.join(c.value for c in denied)} clauses",
                target,
                _set("license", "deny_clauses", kept),
            )
        )
    return out


def _policy_levers(a: Assessment, req: Requirements, present: set[ReasonCode]) -> list[Lever]:
    """Keys that name the model's own figure: the needed value is that figure."""
    m, out = a.model, []
    if R.ORIGIN in present:
        kept = [c for c in req.origin.exclude_countries if c != m.origin_country]
        out.append(
            Lever(
                "origin.exclude_countries",
                req.origin.exclude_countries,
                kept,
                f"drop {m.origin_country} from the excluded countries",
                frozenset({R.ORIGIN}),
                _set("origin", "exclude_countries", kept),
            )
        )
    if R.CAPABILITY in present:
        missing = [n for n in req.use_case.needs if not has_capability(m, n)]
        kept = [n for n in req.use_case.needs if n not in missing]
        out.append(
            Lever(
                "use_case.needs",
                req.use_case.needs,
                kept,
                f"do without {', '.join(n.value for n in missing)}",
                frozenset({R.CAPABILITY}),
                _set("use_case", "needs", kept),
            )
        )
    if R.SIZE in present and req.size.max_params_b is not None:
        out.append(
            Lever(
                "size.max_params_b",
                req.size.max_params_b,
                m.params_b,
                f"raise max_params_b to {m.params_b:g}",
                frozenset({R.SIZE}),
                _set("size", "max_params_b", m.params_b),
            )
        )
    return out


def _disk_lever(probe: Probe, a: Assessment, req: Requirements) -> Lever | None:
    """max_disk_gb: the disk figure the filter compared against, rounded up, then verified."""
    limit = req.size.max_disk_gb
    if limit is None:
        return None
    target = frozenset({R.DISK})
    needed = math.ceil(a.disk_gb * 100) / 100
    for _ in range(100):  # rounding can leave it a hair short: step up until the filter agrees
        if probe.clear(target, _set("size", "max_disk_gb", needed)):
            return Lever(
                "size.max_disk_gb",
                limit,
                needed,
                f"raise max_disk_gb to {needed:g}",
                target,
                _set("size", "max_disk_gb", needed),
            )
        needed = round(needed + 0.01, 2)
    return None


def _latency_levers(probe: Probe, req: Requirements) -> list[Lever]:
    """Each latency target searched alone (the other one lifted while searching)."""
    out: list[Lever] = []
    lat, target = req.latency, frozenset({R.LATENCY})
    no_ttft = _set("latency", "max_time_to_first_token_ms", None)
    no_decode = _set("latency", "min_decode_tokens_per_s", None)
    if lat.min_decode_tokens_per_s is not None and not probe.clear(target, no_ttft):
        tenths = _largest(
            1,
            int(lat.min_decode_tokens_per_s * 10),
            lambda k: probe.clear(
                target, no_ttft, _set("latency", "min_decode_tokens_per_s", k / 10)
            ),
        )
        if tenths is not None:
            value = tenths / 10
            out.append(
                Lever(
                    "latency.min_decode_tokens_per_s",
                    lat.min_decode_tokens_per_s,
                    value,
                    f"lower min_decode_tokens_per_s to {value:g}",
                    target,
                    _set("latency", "min_decode_tokens_per_s", value),
                )
            )
    if lat.max_time_to_first_token_ms is not None and not probe.clear(target, no_decode):
        start = math.ceil(lat.max_time_to_first_token_ms)
        hi = max(start * 2, 1)
        while hi < MAX_TTFT_MS and not probe.clear(
            target, no_decode, _set("latency", "max_time_to_first_token_ms", float(hi))
        ):
            hi *= 2
        ms = _smallest(
            start,
            min(hi, MAX_TTFT_MS),
            lambda t: probe.clear(
                target, no_decode, _set("latency", "max_time_to_first_token_ms", float(t))
            ),
        )
        if ms is not None:
            out.append(
                Lever(
                    "latency.max_time_to_first_token_ms",
                    lat.max_time_to_first_token_ms,
                    float(ms),
                    f"raise max_time_to_first_token_ms to {ms}",
                    target,
                    _set("latency", "max_time_to_first_token_ms", float(ms)),
                )
            )
    return out


def _quant_lever(
    probe: Probe, a: Assessment, req: Requirements, present: set[ReasonCode]
) -> Lever | None:
    """The widest preset below the current one that lifts the memory-bound reasons.

    The current one is the requirements' preset, or the one the fit chose where the
    requirements name none (a quantization chosen per model, such as "auto").
    """
    current = req.size.quantization
    bits = QUANTIZATIONS.get(current, QUANTIZATIONS.get(a.fit.quantization))
    if bits is None:
        return None
    lower = [q for q in QUANT_LADDER if QUANTIZATIONS[q] < bits]
    for targets in _options(
        present, {R.DISK, R.FIT, R.LATENCY}, {R.DISK, R.FIT}, {R.FIT}, {R.DISK}
    ):
        for quant in lower:
            if probe.clear(targets, _set("size", "quantization", quant)):
                return Lever(
                    "size.quantization",
                    req.size.quantization,
                    quant,
                    f"use {quant} instead of {req.size.quantization}",
                    targets,
                    _set("size", "quantization", quant),
                )
    return None


def _gpu_levers(probe: Probe, req: Requirements, present: set[ReasonCode]) -> list[Lever]:
    """More GPUs of a declared kind: the fewest that lift fit (and latency, where they can)."""
    out: list[Lever] = []
    for i, slot in enumerate(req.hardware.gpus):

        def with_count(n: int, i: int = i) -> Apply:
            def apply(r: Requirements) -> None:
                r.hardware.gpus[i].count = n

            return apply

        for targets in _options(present, {R.FIT, R.LATENCY}, {R.FIT}, {R.LATENCY}):
            n = next(
                (
                    n
                    for n in range(slot.count + 1, MAX_GPUS + 1)
                    if probe.clear(targets, with_count(n))
                ),
                None,
            )
            if n is not None:
                name = slot.model or f"{slot.vram_gb:g} GB GPU"
                more = n - slot.count
                words = f"add a second {name}" if n == 2 else f"use {n}x {name} (+{more})"
                out.append(
                    Lever(
                        f"hardware.gpus[{i}].count",
                        slot.count,
                        n,
                        words,
                        targets,
                        with_count(n),
                    )
                )
                break
    return out


def _memory_levers(
    probe: Probe, a: Assessment, req: Requirements, present: set[ReasonCode]
) -> list[Lever]:
    out: list[Lever] = []
    hw = req.hardware
    fit = frozenset({R.FIT})
    if R.FIT in present and hw.declared and not hw.allow_offload:
        on = _set("hardware", "allow_offload", True)
        if probe.clear(fit, on):
            out.append(
                Lever(
                    "hardware.allow_offload",
                    False,
                    True,
                    "accept offloading layers to CPU RAM (slower decode)",
                    fit,
                    on,
                )
            )
    if R.FIT in present and hw.declared and hw.ram_gb is not None:
        gb = _smallest(
            math.ceil(hw.ram_gb),
            MAX_RAM_GB,
            lambda g: probe.clear(fit, _set("hardware", "ram_gb", float(g))),
        )
        if gb is not None and gb > hw.ram_gb:
            out.append(
                Lever(
                    "hardware.ram_gb",
                    hw.ram_gb,
                    float(gb),
                    f"raise ram_gb to {gb}",
                    fit,
                    _set("hardware", "ram_gb", float(gb)),
                )
            )
    ctx = req.use_case.context_tokens
    for targets in _options(
        present,
        {R.CONTEXT, R.FIT, R.LATENCY},
        {R.CONTEXT, R.FIT},
        {R.CONTEXT},
        {R.FIT},
        {R.LATENCY},
    ):
        hi = min(ctx - 1, a.model.context_tokens)

        def ok(t: int, tg: frozenset[ReasonCode] = targets) -> bool:
            return probe.clear(tg, _set("use_case", "context_tokens", t))

        tokens = _largest(1, hi, ok)
        if tokens is not None:
            out.append(
                Lever(
                    "use_case.context_tokens",
                    ctx,
                    tokens,
                    f"lower context_tokens to {tokens:,}",
                    targets,
                    _set("use_case", "context_tokens", tokens),
                )
            )
            break
    return out


def _smoke_lever(present: set[ReasonCode]) -> list[Lever]:
    if R.SMOKE not in present:
        return []
    return [
        Lever(
            "smoke.enabled",
            True,
            False,
            "skip the smoke test (the failure is evidence: the model is then judged untested)",
            frozenset({R.SMOKE}),
            _set("smoke", "enabled", False),
        )
    ]


def levers(probe: Probe, a: Assessment) -> list[Lever]:
    """Every single-key change that lifts at least one of the model's reasons, in the order
    they are preferred: the key that names the violated limit first, hardware last."""
    req, present = probe.req, codes(a)
    out = _license_levers(a, req) if R.LICENSE in present else []
    out += _policy_levers(a, req, present)
    if R.DISK in present:
        out += [lever for lever in [_disk_lever(probe, a, req)] if lever]
    if R.LATENCY in present:
        out += _latency_levers(probe, req)
    if present & {R.DISK, R.FIT, R.LATENCY}:
        out += [lever for lever in [_quant_lever(probe, a, req, present)] if lever]
    if present & {R.FIT, R.LATENCY}:
        out += _gpu_levers(probe, req, present)
    out += _memory_levers(probe, a, req, present)
    out += _smoke_lever(present)
    for lever in out:
        lever.clears = frozenset(present - codes(probe(lever.apply)))
    return out


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
