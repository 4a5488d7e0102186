"""The suite verdict and its counts, computed once for every backend from probe outcomes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from selector.smoke.interface import ProbeOutcome, SmokeSettings, SmokeStatus
from selector.smoke.probes import SuitePlan
from selector.smoke.stats import CAPABILITY_PASS_RATE, failing_capabilities, rate


@dataclass(frozen=True)
class Summary:
    """The verdict fields of a SmokeResult, computed once for every backend."""

    status: SmokeStatus
    reason: str
    probes_passed: int
    probes_total: int
    capabilities: dict[str, Any]
    long_context_tokens: int
    suite_digest: str

    def fields(self) -> dict[str, Any]:
        return {
            "probes_passed": self.probes_passed,
            "probes_total": self.probes_total,
            "capabilities": self.capabilities,
            "long_context_tokens": self.long_context_tokens,
            "suite_digest": self.suite_digest,
        }


def summarize(outcomes: Sequence[ProbeOutcome], settings: SmokeSettings) -> Summary:
    """Per-capability pass rates over the answered probe runs, and the suite verdict.

    An errored probe run (the backend refused the prompt) is not evidence about the model: it
    is listed with its cause and left out of the rates. A truncated run counts as not passed.
    The suite passes when every capability it tested that has an answered run reaches
    CAPABILITY_PASS_RATE; with no answered run at all it is an `error`.
    """
    plan: SuitePlan = settings.suite
    scheduled = len(plan.probes()) * settings.repeats
    capabilities = {}
    for cap in _ordered(plan.gated(), (o.capability for o in outcomes)):
        answered = [o for o in outcomes if o.capability == cap and o.status != "error"]
        capabilities[cap] = rate(sum(o.passed for o in answered), len(answered))
    errored = [o for o in outcomes if o.status == "error"]
    truncated = [o for o in outcomes if o.status == "truncated"]
    long_runs = [o.context_tokens for o in outcomes if o.context_tokens]
    failing = failing_capabilities(capabilities)
    counts = ", ".join(
        f"{c} {r.passed}/{r.total}" for c, r in capabilities.items() if r.total and c not in failing
    )
    notes = []
    if truncated:
        notes.append(f"{len(truncated)} truncated ({', '.join(_ids(truncated))})")
    if errored:
        notes.append(f"{len(errored)} errored ({', '.join(_ids(errored))}): {errored[0].error}")
    unmeasured = [c for c, r in capabilities.items() if not r.total]
    if unmeasured:
        notes.append(f"not measured (every probe errored): {', '.join(unmeasured)}")
    if len(outcomes) < scheduled:
        notes.append(f"only {len(outcomes)} of {scheduled} probe runs took place")
    tail = "".join(f"; {n}" for n in notes)
    if not any(r.total for r in capabilities.values()):
        status = SmokeStatus.ERROR
        reason = "no probe ran to an answer" + tail
    elif failing:
        status = SmokeStatus.FAILED
        bad = ", ".join(f"{c} {capabilities[c].passed}/{capabilities[c].total}" for c in failing)
        good = f"; passed {counts}" if counts else ""
        reason = f"failed {bad} (each capability needs {CAPABILITY_PASS_RATE:.0%}){good}{tail}"
    else:
        status = SmokeStatus.PASSED
        reason = f"passed {counts}{tail}"
    return Summary(
        status=status,
        reason=reason,
        probes_passed=sum(o.passed for o in outcomes),
        probes_total=scheduled,
        capabilities=capabilities,
        long_context_tokens=max(long_runs, default=0),
        suite_digest=plan.digest(),
    )


def _ordered(first: Iterable[str], more: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*first, *more]))


def _ids(outcomes: Sequence[ProbeOutcome], shown: int = 5) -> list[str]:
    ids = list(dict.fromkeys(o.id for o in outcomes))
    return ids if len(ids) <= shown else [*ids[:shown], f"{len(ids) - shown} more"]
