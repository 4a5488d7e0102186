"""Pass rates with Wilson intervals, and the rule that says a capability failed its probes.

Kept apart from the driver so filtering and ranking can read a `SmokeResult` without loading
the probe suite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from selector.smoke.interface import CapabilityRate, SmokeResult, SmokeStatus

# A capability passes when at least this share of its answered probe runs pass: 3 of 5, 4 of 6,
# 12 of 20 with repeats. Below it the capability fails and a candidate that needs it is
# excluded (reason `smoke`). A point estimate, not an interval bound: with 5 probes even 0/5
# has an upper bound of 0.43, so a bound-based rule would keep models that failed everything.
CAPABILITY_PASS_RATE = 0.6

Z_95 = 1.959964


def wilson(passed: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% by default); (0, 1) for n = 0."""
    if total <= 0:
        return 0.0, 1.0
    p = passed / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(passed: int, total: int) -> CapabilityRate:
    low, high = wilson(passed, total)
    return CapabilityRate(
        passed=passed,
        total=total,
        rate=round(passed / total, 4) if total else 0.0,
        ci_low=round(low, 4),
        ci_high=round(high, 4),
    )


def pooled(rates: Iterable[CapabilityRate]) -> CapabilityRate:
    """All probe runs of several capabilities as one proportion."""
    items = list(rates)
    return rate(sum(r.passed for r in items), sum(r.total for r in items))


def capability_passes(r: CapabilityRate) -> bool:
    """The pass rule of one measured capability (at least one answered probe run)."""
    return r.passed / r.total >= CAPABILITY_PASS_RATE


def failing_capabilities(capabilities: Mapping[str, CapabilityRate]) -> list[str]:
    """Capabilities measured (at least one answered probe run) below CAPABILITY_PASS_RATE."""
    return [name for name, r in capabilities.items() if r.total and not capability_passes(r)]


def overall(result: SmokeResult | None) -> CapabilityRate | None:
    """The pooled pass rate of a result's capabilities; None without a verdict."""
    if result is None or result.status not in (SmokeStatus.PASSED, SmokeStatus.FAILED):
        return None
    if not result.capabilities:
        return None
    merged = pooled(result.capabilities.values())
    return merged if merged.total else None


def overlap(a: CapabilityRate, b: CapabilityRate) -> bool:
    """Whether two 95% intervals overlap: the samples cannot tell the two rates apart."""
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high
