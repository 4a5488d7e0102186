"""Was the machine busy while a speed run was timed? Measured, not guessed.

Around each timed run the smoke child reads the system-wide CPU times (`/proc/stat` through
psutil: every CPU's busy and steal seconds) and its own CPU time (`os.times`, all its
threads). What the CPUs spent beyond the child's own time is other processes' work; divided by
the wall time it is how many cores they took while the figure was being measured. A
hypervisor's steal time counts as taken too. The parent judges the windows (`busy_verdict`):
a busy run is reported with its figures but never cached as the model's speed nor calibrated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selector.smoke.interface import SpeedEvidence

# Other processes may use this share of the logical CPUs (at least BUSY_MIN_CORES cores)
# during the timed runs; more, or a steal share above BUSY_STEAL_FRACTION, marks the run busy.
# Two `recommend` runs measuring at once each saw ~9 tok/s instead of ~42: a whole core taken.
BUSY_OTHERS_FRACTION = 0.10
BUSY_MIN_CORES = 0.25
BUSY_STEAL_FRACTION = 0.05


def snapshot() -> dict[str, float]:
    """System-wide busy and steal CPU seconds, this process's CPU seconds, the load average."""
    import psutil

    cpu = psutil.cpu_times()
    busy = sum(getattr(cpu, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))
    own = os.times()
    try:
        load1 = os.getloadavg()[0]
    except OSError:  # not available on this platform
        load1 = -1.0
    return {
        "wall": time.perf_counter(),
        "busy_s": float(busy),
        "steal_s": float(getattr(cpu, "steal", 0.0)),
        "own_s": own.user + own.system,
        "load1": load1,
    }


def window(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """Other processes' CPU seconds and steal seconds between two snapshots."""
    own = after["own_s"] - before["own_s"]
    return {
        "wall_s": max(after["wall"] - before["wall"], 0.0),
        "others_s": max(after["busy_s"] - before["busy_s"] - own, 0.0),
        "steal_s": max(after["steal_s"] - before["steal_s"], 0.0),
        "load_before": before["load1"],
        "load_after": after["load1"],
    }


def busy_verdict(
    windows: Sequence[Mapping[str, Any]], logical_cpus: int
) -> tuple[bool | None, str]:
    """(busy, what was measured) over the timed runs' windows; (None, why) when unmeasured."""
    wall = sum(float(w.get("wall_s", 0.0)) for w in windows)
    if not windows or wall <= 0 or logical_cpus <= 0:
        return None, "CPU use of other processes not measured"
    others = sum(float(w.get("others_s", 0.0)) for w in windows) / wall
    steal = sum(float(w.get("steal_s", 0.0)) for w in windows) / (wall * logical_cpus)
    limit = max(BUSY_MIN_CORES, BUSY_OTHERS_FRACTION * logical_cpus)
    busy = others > limit or steal > BUSY_STEAL_FRACTION
    loads = [float(w.get("load_before", -1)) for w in windows[:1]]
    loads += [float(w.get("load_after", -1)) for w in windows[-1:]]
    detail = (
        f"other processes used {others:.2f} of {logical_cpus} CPUs during the timed runs "
        f"(busy above {limit:.2f}), steal {steal:.0%}"
    )
    if all(load >= 0 for load in loads):
        detail += f", load average {loads[0]:.1f} before and {loads[1]:.1f} after"
    return busy, detail


def judge_speed(
    decode_runs: Sequence[float],
    ttft_runs: Sequence[float],
    tokens_per_run: int,
    *,
    warmup: str,
    where: str,
    busy: bool | None,
    busy_detail: str,
) -> SpeedEvidence:
    """The evidence record of a set of timed runs, and whether it may stand for the model."""
    from selector.smoke.interface import MIN_SPEED_TOKENS, SpeedEvidence

    why = []
    if not decode_runs:
        why.append("no timed decode")
    elif tokens_per_run < MIN_SPEED_TOKENS:
        why.append(
            f"a timed run decoded {tokens_per_run} tokens, fewer than the {MIN_SPEED_TOKENS} "
            "a decode speed needs"
        )
    if busy:
        why.append(f"the machine was busy ({busy_detail})")
    return SpeedEvidence(
        runs=len(decode_runs),
        tokens_per_run=tokens_per_run,
        decode_tokens_per_s_runs=[round(v, 2) for v in decode_runs],
        time_to_first_token_ms_runs=[round(v, 1) for v in ttft_runs],
        warmup=warmup,
        busy=busy,
        busy_detail=busy_detail,
        usable=not why,
        why_not_usable="; ".join(why),
        where=where,
    )
