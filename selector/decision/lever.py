"""What a what-if lever is (one requirements key, the value that lifts the reasons it
targets) and the filter re-run it is searched with (`Probe`), with the searches they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic_core import to_jsonable_python

from selector.catalog import ModelEntry
from selector.decision.rerun import Rerun, codes
from selector.filtering import Assessment
from selector.report.decision_schema import WhatIfChange
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult
from selector.vocab import ReasonCode

# The presets a team would actually switch to, widest first; a lever only steps down it.
QUANT_LADDER = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
MAX_GPUS = 16  # the most GPUs of one kind a single server holds
MAX_RAM_GB = 4096
MAX_TTFT_MS = 10_000_000

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


def largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
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


def smallest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
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


def reason_options(
    present: set[ReasonCode], *groups: set[ReasonCode]
) -> list[frozenset[ReasonCode]]:
    """Target sets to try, largest first: each group cut to the reasons actually present."""
    out: list[frozenset[ReasonCode]] = []
    for group in groups:
        cut = frozenset(group & present)
        if cut and cut not in out:
            out.append(cut)
    return out


def set_key(section: str, key: str, value: object) -> Apply:
    def apply(req: Requirements) -> None:
        setattr(getattr(req, section), key, value)

    return apply
