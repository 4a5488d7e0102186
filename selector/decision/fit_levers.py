"""The what-if levers of resources: disk, latency, quantization, GPUs and memory, each value
searched by re-running the filter (bisection, the quantization ladder, one more GPU at a time).
"""

from __future__ import annotations

import math

from selector.decision.lever import (
    MAX_GPUS,
    MAX_RAM_GB,
    MAX_TTFT_MS,
    QUANT_LADDER,
    Apply,
    Lever,
    Probe,
    R,
    largest,
    reason_options,
    set_key,
    smallest,
)
from selector.filtering import Assessment
from selector.fit.quant import QUANTIZATIONS
from selector.requirements import Requirements
from selector.vocab import ReasonCode


def disk_lever(probe: Probe, a: Assessment, req: Requirements) -> Lever | None:
    """max_disk_gb: the disk figure the filter compared against, rounded up, then verified."""
    limit = req.size.max_disk_gb
    if limit is None:
        return None
    target = frozenset({R.DISK})
    needed = math.ceil(a.disk_gb * 100) / 100
    for _ in range(100):  # rounding can leave it a hair short: step up until the filter agrees
        if probe.clear(target, set_key("size", "max_disk_gb", needed)):
            return Lever(
                "size.max_disk_gb",
                limit,
                needed,
                f"raise max_disk_gb to {needed:g}",
                target,
                set_key("size", "max_disk_gb", needed),
            )
        needed = round(needed + 0.01, 2)
    return None


def latency_levers(probe: Probe, req: Requirements) -> list[Lever]:
    """Each latency target searched alone (the other one lifted while searching)."""
    out: list[Lever] = []
    lat, target = req.latency, frozenset({R.LATENCY})
    no_ttft = set_key("latency", "max_time_to_first_token_ms", None)
    no_decode = set_key("latency", "min_decode_tokens_per_s", None)
    if lat.min_decode_tokens_per_s is not None and not probe.clear(target, no_ttft):
        tenths = largest(
            1,
            int(lat.min_decode_tokens_per_s * 10),
            lambda k: probe.clear(
                target, no_ttft, set_key("latency", "min_decode_tokens_per_s", k / 10)
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
                    set_key("latency", "min_decode_tokens_per_s", value),
                )
            )
    if lat.max_time_to_first_token_ms is not None and not probe.clear(target, no_decode):
        start = math.ceil(lat.max_time_to_first_token_ms)
        hi = max(start * 2, 1)
        while hi < MAX_TTFT_MS and not probe.clear(
            target, no_decode, set_key("latency", "max_time_to_first_token_ms", float(hi))
        ):
            hi *= 2
        ms = smallest(
            start,
            min(hi, MAX_TTFT_MS),
            lambda t: probe.clear(
                target, no_decode, set_key("latency", "max_time_to_first_token_ms", float(t))
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
                    set_key("latency", "max_time_to_first_token_ms", float(ms)),
                )
            )
    return out


def quant_lever(
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
    for targets in reason_options(
        present, {R.DISK, R.FIT, R.LATENCY}, {R.DISK, R.FIT}, {R.FIT}, {R.DISK}
    ):
        for quant in lower:
            if probe.clear(targets, set_key("size", "quantization", quant)):
                return Lever(
                    "size.quantization",
                    req.size.quantization,
                    quant,
                    f"use {quant} instead of {req.size.quantization}",
                    targets,
                    set_key("size", "quantization", quant),
                )
    return None


def gpu_levers(probe: Probe, req: Requirements, present: set[ReasonCode]) -> list[Lever]:
    """More GPUs of a declared kind: the fewest that lift fit (and latency, where they can)."""
    out: list[Lever] = []
    for i, slot in enumerate(req.hardware.gpus):

        def with_count(n: int, i: int = i) -> Apply:
            def apply(r: Requirements) -> None:
                r.hardware.gpus[i].count = n

            return apply

        for targets in reason_options(present, {R.FIT, R.LATENCY}, {R.FIT}, {R.LATENCY}):
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


def memory_levers(
    probe: Probe, a: Assessment, req: Requirements, present: set[ReasonCode]
) -> list[Lever]:
    out: list[Lever] = []
    hw = req.hardware
    fit = frozenset({R.FIT})
    if R.FIT in present and hw.declared and not hw.allow_offload:
        on = set_key("hardware", "allow_offload", True)
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
        gb = smallest(
            math.ceil(hw.ram_gb),
            MAX_RAM_GB,
            lambda g: probe.clear(fit, set_key("hardware", "ram_gb", float(g))),
        )
        if gb is not None and gb > hw.ram_gb:
            out.append(
                Lever(
                    "hardware.ram_gb",
                    hw.ram_gb,
                    float(gb),
                    f"raise ram_gb to {gb}",
                    fit,
                    set_key("hardware", "ram_gb", float(gb)),
                )
            )
    ctx = req.use_case.context_tokens
    for targets in reason_options(
        present,
        {R.CONTEXT, R.FIT, R.LATENCY},
        {R.CONTEXT, R.FIT},
        {R.CONTEXT},
        {R.FIT},
        {R.LATENCY},
    ):
        hi = min(ctx - 1, a.model.context_tokens)

        def ok(t: int, tg: frozenset[ReasonCode] = targets) -> bool:
            return probe.clear(tg, set_key("use_case", "context_tokens", t))

        tokens = largest(1, hi, ok)
        if tokens is not None:
            out.append(
                Lever(
                    "use_case.context_tokens",
                    ctx,
                    tokens,
                    f"lower context_tokens to {tokens:,}",
                    targets,
                    set_key("use_case", "context_tokens", tokens),
                )
            )
            break
    return out
