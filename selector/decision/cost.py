"""Cost per million generated tokens from the team's own GPU price (no price list is shipped)."""

from __future__ import annotations

import math

from selector.fit import Fit
from selector.report.decision_schema import CostReport
from selector.requirements import Requirements


def hourly_cost(req: Requirements) -> tuple[float | None, str] | None:
    """The declared GPUs' price per hour with its basis; None when no GPU carries a price.

    A price on only some of the GPUs gives no total (value None), and the basis says why.
    """
    gpus = req.hardware.gpus if req.hardware.declared else []
    if not any(g.cost_per_hour is not None for g in gpus):
        return None
    missing = [f"gpus[{i}]" for i, g in enumerate(gpus) if g.cost_per_hour is None]
    if missing:
        return None, f"cost_per_hour missing for {', '.join(missing)}: no partial total is given"
    parts = [
        f"{g.count}x {g.model or f'{g.vram_gb:g} GB GPU'} at {g.cost_per_hour:g}/h" for g in gpus
    ]
    return sum(g.count * (g.cost_per_hour or 0.0) for g in gpus), " + ".join(parts)


def cost_of(fit: Fit, req: Requirements) -> CostReport | None:
    """Hardware cost per hour and per million tokens at the planned sessions and speed.

    Tokens per hour = per-session decode speed (the fit's estimate) x sessions x 3600; the
    sessions are `[use_case] concurrent_sessions`, capped at what the fit says the KV cache
    holds (`fit.max_concurrency`) where it says so. The whole declared machine is paid for.
    """
    priced = hourly_cost(req)
    if priced is None:
        return None
    hourly, hw_basis = priced
    planned = req.use_case.concurrent_sessions
    sessions, notes = planned, []
    if fit.max_concurrency is not None and fit.max_concurrency < planned:
        sessions = max(1, math.floor(fit.max_concurrency))
        notes.append(f"the KV cache holds {fit.max_concurrency:g} sessions, not {planned}")
    speed = fit.estimated_decode_tokens_per_s
    tokens = speed * sessions * 3600 if speed else None
    per_million = hourly / tokens * 1e6 if hourly is not None and tokens else None
    basis = [
        hw_basis,
        f"{sessions} session(s) x "
        + (f"{speed:g} tokens/s each (estimated decode)" if speed else "no decode estimate"),
        *notes,
    ]
    return CostReport(
        hardware_cost_per_hour=round(hourly, 4) if hourly is not None else None,
        sessions=sessions,
        decode_tokens_per_s_per_session=speed,
        tokens_per_hour=round(tokens) if tokens else None,
        cost_per_million_tokens=round(per_million, 4) if per_million is not None else None,
        basis="; ".join(basis),
    )
