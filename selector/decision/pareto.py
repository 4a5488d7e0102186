"""The Pareto front of the candidates on quality, decode speed and memory.

A candidate is on the front when no other candidate is at least as good on all three (higher
quality, faster decode, less memory) and strictly better on one. A dominated candidate names
the best-ranked candidate that dominates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    id: str
    quality: float
    decode_tokens_per_s: float | None
    memory_gb: float


def dominates(a: Point, b: Point) -> bool:
    """`a` beats or equals `b` on every axis and beats it on one; unknown speed never compares."""
    if a.decode_tokens_per_s is None or b.decode_tokens_per_s is None:
        return False
    at_least = (
        a.quality >= b.quality
        and a.decode_tokens_per_s >= b.decode_tokens_per_s
        and a.memory_gb <= b.memory_gb
    )
    better = (
        a.quality > b.quality
        or a.decode_tokens_per_s > b.decode_tokens_per_s
        or a.memory_gb < b.memory_gb
    )
    return at_least and better


def pareto_front(points: Sequence[Point]) -> dict[str, str | None]:
    """id -> None when on the front, else the first (best-ranked) point that dominates it.

    `points` come in rank order, so "first" is the highest-scoring dominator.
    """
    return {p.id: next((q.id for q in points if dominates(q, p)), None) for p in points}
