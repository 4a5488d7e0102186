"""How stable the top of the ranking is when the weights move (docs/ranking.md, "Sensitivity").

The term values do not depend on the weights, so re-ranking under another weighting is the
score formula of selector/ranking.py applied to the same terms: no filter or fit is re-run.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from selector.report.decision_schema import FirstShare, Sensitivity, WeightFlip

DEFAULT_SEED = 0
DEFAULT_SAMPLES = 2000
SPREAD = 0.5  # each weight moved within ±50%
TOP = 3
WEIGHT_STEP = 0.001  # flip points are reported on this grid, verified by re-ranking


@dataclass(frozen=True)
class Scored:
    """One candidate as the ranking sees it: term values and the tie-break keys."""

    id: str
    params_b: float
    terms: Mapping[str, float]


def total(terms: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """selector.ranking.score's formula, rounded as it rounds (a test keeps the two equal)."""
    weight_sum = sum(weights.values()) or 1.0
    return round(sum(weights[k] * terms[k] for k in weights) / weight_sum, 4)


def _key(row: Scored, weights: Mapping[str, float]) -> tuple[float, float, str]:
    return (-total(row.terms, weights), row.params_b, row.id)


def order(rows: Sequence[Scored], weights: Mapping[str, float]) -> list[Scored]:
    """selector.ranking.rank's order: score, then smaller size, then id."""
    return sorted(rows, key=lambda r: _key(r, weights))


def _flip(first: Scored, second: Scored, weights: dict[str, float], name: str) -> WeightFlip | None:
    """The value of one weight at which `second` ranks above `first`, or None if none does.

    The scores' order depends on N = Σ w_k (t1_k - t2_k); moving w_i by δ moves N by δ·d_i, so
    the tie is at δ = -N / d_i. That point is put on the weight grid and checked by re-ranking.
    """
    d = first.terms[name] - second.terms[name]
    if d == 0:
        return None
    n = sum(weights[k] * (first.terms[k] - second.terms[k]) for k in weights)
    tie = weights[name] - n / d
    if tie < 0:
        return None  # even a zero weight keeps the top pick ahead
    step = WEIGHT_STEP if d < 0 else -WEIGHT_STEP
    grid = round(tie / WEIGHT_STEP, 6)  # 0.175 / 0.001 is 174.99999999999997 in floats
    value = math.ceil(grid) if d < 0 else math.floor(grid)
    candidate = value * WEIGHT_STEP
    for _ in range(1000):
        if candidate < 0:
            return None
        trial = {**weights, name: round(candidate, 6)}
        ranked = order([first, second], trial)
        if ranked[0].id == second.id:
            needed = round(candidate, 3)
            return WeightFlip(
                key=f"ranking.weights.{name}",
                current=weights[name],
                needed=needed,
                change=round(needed - weights[name], 3),
            )
        candidate += step
    return None


def _first_places(
    rows: Sequence[Scored], weights: dict[str, float], *, seed: int, samples: int, spread: float
) -> dict[str, int]:
    """How often each row ranks first over the sampled weightings.

    The draws come from `random.Random(seed)`, sample by sample in weight order; each score is
    `total()` (the ranking's formula and rounding) written out flat, because it runs some
    tens of thousands of times. Ties go to the smaller model, then the id, as in the ranking.
    """
    names = list(weights)
    tie_order = sorted(rows, key=lambda r: (r.params_b, r.id))
    terms = [tuple(r.terms[k] for k in names) for r in tie_order]
    base = [weights[k] for k in names]
    rng = random.Random(seed)
    lo, hi = 1 - spread, 1 + spread
    counts = [0] * len(tie_order)
    # only the rows that can come first under some weighting of the box are scored
    contenders = [(i, terms[i]) for i in _contenders(terms, base, lo, hi)]
    if len(contenders) == 1:  # the only row that can come first comes first in every sample
        counts[contenders[0][0]] = samples
        return {r.id: n for r, n in zip(tie_order, counts, strict=True)}
    for _ in range(samples if tie_order else 0):
        w = [b * rng.uniform(lo, hi) for b in base]
        weight_sum = sum(w) or 1.0
        best_i, best = 0, -math.inf
        for i, t in contenders:
            # sum() as ranking.score sums (Python 3.12 compensates float sums; a loop would not)
            rounded = round(sum(map(operator.mul, w, t)) / weight_sum, 4)
            if rounded > best:  # strictly: the first of equal scores keeps its place
                best_i, best = i, rounded
        counts[best_i] += 1
    return {r.id: n for r, n in zip(tie_order, counts, strict=True)}


# A row is left out of the sampling when even its best score over the whole box of weightings
# stays this far below another row's worst: far more than the 4-decimal rounding (5e-5) and
# float error (1e-15), so the left-out row can never round to a first place.
_MARGIN = 1e-3


def _contenders(
    terms: Sequence[tuple[float, ...]], base: Sequence[float], lo: float, hi: float
) -> list[int]:
    """The rows (indices, in order) that may rank first for weights w_k in [lo, hi] x base_k.

    A score sum(w t) / sum(w) is linear-fractional in w, so over the box of weightings it
    is largest and smallest at corners: the 2^K corners bound every sample. Rows whose best
    corner is below the best worst-corner of any row by _MARGIN cannot win a sample. Of the
    rest, a row that another beats by _MARGIN at every corner cannot win either: the
    difference of two scores, sum(w (t_j - t_i)) / sum(w), is linear-fractional too. When
    one row is left, it wins every sample and nothing needs to be drawn.
    """
    if lo <= 0 or len(terms) < 2 or len(base) > 12:  # a box touching 0, or too many corners
        return list(range(len(terms)))
    corners = [
        [b * (hi if mask >> k & 1 else lo) for k, b in enumerate(base)]
        for mask in range(1 << len(base))
    ]
    sums = [sum(w) or 1.0 for w in corners]
    bounds = []
    for t in terms:
        scores = [sum(map(operator.mul, w, t)) / s for w, s in zip(corners, sums, strict=True)]
        bounds.append((min(scores), max(scores)))
    floor = max(low for low, _ in bounds)
    alive = [i for i, (_, high) in enumerate(bounds) if high >= floor - _MARGIN]
    # the likeliest winners first: a row is tried against the rows with the highest floors
    strongest = sorted(alive, key=lambda i: -bounds[i][0])

    def beaten(i: int) -> bool:
        for j in strongest:
            if j == i or bounds[j][1] < bounds[i][0]:
                continue
            diff = [a - b for a, b in zip(terms[j], terms[i], strict=True)]
            if all(
                sum(map(operator.mul, w, diff)) / s > _MARGIN
                for w, s in zip(corners, sums, strict=True)
            ):
                return True
        return False

    return [i for i in alive if not beaten(i)]


def weight_sensitivity(
    rows: Sequence[Scored],
    weights: Mapping[str, float],
    *,
    seed: int = DEFAULT_SEED,
    samples: int = DEFAULT_SAMPLES,
    spread: float = SPREAD,
    top: int = TOP,
) -> Sensitivity:
    """Share of sampled weightings under which each of the `top` candidates ranks first,
    and the smallest single-weight change that puts the runner-up first.

    Each sample multiplies every weight by its own U(1 - spread, 1 + spread) draw from
    `random.Random(seed)`, so the figures are the same for the same seed on every machine.
    """
    base = dict(weights)
    ranked = order(rows, base)
    wins = _first_places(ranked, base, seed=seed, samples=samples, spread=spread)
    shares = [
        FirstShare(id=r.id, first_share=round(wins.get(r.id, 0) / samples, 4) if samples else 0)
        for r in ranked[:top]
    ]
    flips: list[WeightFlip] = []
    if len(ranked) >= 2:
        for name in base:
            flip = _flip(ranked[0], ranked[1], base, name)
            if flip is not None:
                flips.append(flip)
    smallest = min(flips, key=lambda f: (abs(f.change), f.key), default=None)
    return Sensitivity(
        seed=seed,
        samples=samples,
        spread=spread,
        weights=base,
        candidates=shares,
        top=ranked[0].id if ranked else None,
        runner_up=ranked[1].id if len(ranked) >= 2 else None,
        flips=flips,
        smallest_flip=smallest,
    )
