"""Weight sensitivity, the Pareto front and cost on a three-model catalog worked out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from decision_factory import catalog, hardware, model_entry, requirements

from selector.decision import scored_rows
from selector.decision.cost import cost_of
from selector.decision.pareto import Point, dominates, pareto_front
from selector.decision.sensitivity import total, weight_sensitivity
from selector.filtering import assess_catalog, finish_assessment
from selector.pipeline import SmokePlan, recommend
from selector.ranking import rank
from selector.report.schema import Report

# Only quality and license count; a zero weight stays zero when the weights are moved.
WEIGHTS = {"quality": 0.35, "size_preference": 0, "license": 0.15, "tooling": 0, "smoke": 0}


def three_models() -> tuple[Any, Any]:
    cat = catalog(
        model_entry("a", 30, quality=80, license="restricted"),
        model_entry("b", 8, quality=60, license="permissive"),
        model_entry("c", 14, quality=50, license="permissive"),
    )
    req = requirements(
        {
            "hardware": {"gpus": [{"model": "card-80"}], "ram_gb": 64},
            # 16-bit: no quantization cost on the quality term, so the hand calculation holds
            "size": {"quantization": "F16"},
            "ranking": {"weights": WEIGHTS},
        }
    )
    return cat, req


def run() -> Report:
    cat, req = three_models()
    return recommend(req, cat, hardware(req, cat), SmokePlan(enabled=False))


def test_three_model_sensitivity_by_hand() -> None:
    """Terms: quality a 0.80, b 0.60, c 0.50; license a 1 - 0.3 (revenue cap) - 0.15 (AUP)
    = 0.55, b and c 1 - 0.05 (attribution) = 0.95. With weights quality 0.35, license 0.15:

        a = (0.35 x 0.80 + 0.15 x 0.55) / 0.5 = (0.28 + 0.0825) / 0.5 = 0.725
        b = (0.35 x 0.60 + 0.15 x 0.95) / 0.5 = (0.21 + 0.1425) / 0.5 = 0.705
        c = (0.35 x 0.50 + 0.15 x 0.95) / 0.5 = (0.175 + 0.1425) / 0.5 = 0.635

    a before b iff 0.35 x 0.2 x u1 > 0.15 x 0.4 x u2, i.e. u2 < 7/6 u1, where u1, u2 are the
    weights' factors, uniform on [0.5, 1.5]. The square's part where u2 >= 7/6 u1 is
    ∫ from 0.5 to 9/7 of (1.5 - 7/6 u1) du1 = 33/28 - 7/12 x 275/196 = 847/2352 = 0.3601,
    so a ranks first under 1505/2352 = 0.6399 of weightings, b under 0.3601, c never (b has
    the same license and more quality, whatever the weights).

    Flip of the top two: N = 0.35 x 0.2 - 0.15 x 0.4 = 0.01. Quality: tie at
    0.35 - 0.01 / 0.2 = 0.30 (change -0.05); license: tie at 0.15 + 0.01 / 0.4 = 0.175
    (change +0.025). At a tie the smaller model, b, ranks first. size_preference favours a
    (30B is the centre), tooling and smoke are equal: no flip. Smallest: license to 0.175.
    """
    report = run()
    assert [c.id for c in report.candidates] == ["a", "b", "c"]
    assert [c.score for c in report.candidates] == [0.725, 0.705, 0.635]
    s = report.sensitivity
    assert s is not None
    shares = {c.id: c.first_share for c in s.candidates}
    # 2000 samples: the standard error of a share near 0.64 is 0.011; allow 3.5 of them
    assert shares["a"] == pytest.approx(1505 / 2352, abs=0.04)
    assert shares["b"] == pytest.approx(847 / 2352, abs=0.04)
    assert shares["c"] == 0
    assert shares["a"] + shares["b"] == pytest.approx(1.0)
    flips = {f.key: (f.needed, f.change) for f in s.flips}
    assert flips == {
        "ranking.weights.quality": (0.3, -0.05),
        "ranking.weights.license": (0.175, 0.025),
    }
    assert s.smallest_flip is not None
    assert s.smallest_flip.key == "ranking.weights.license"
    assert (s.top, s.runner_up) == ("a", "b")


def test_flip_points_are_where_the_ranking_really_flips() -> None:
    cat, req = three_models()
    for key, value, first in [
        ("quality", 0.3, "b"),
        ("quality", 0.301, "a"),
        ("license", 0.175, "b"),
        ("license", 0.174, "a"),
    ]:
        changed = req.model_copy(deep=True)
        setattr(changed.ranking.weights, key, value)
        report = recommend(changed, cat, hardware(changed, cat), SmokePlan(enabled=False))
        assert report.candidates[0].id == first, (key, value)


def test_sensitivity_is_deterministic_for_a_seed() -> None:
    cat, req = three_models()
    hw = hardware(req, cat)
    assessments = assess_catalog(req, cat, hw)
    for a in assessments:
        finish_assessment(a, req)
    rows = scored_rows(rank(assessments, req))
    weights = req.ranking.weights.model_dump()
    first = weight_sensitivity(rows, weights, seed=7)
    assert weight_sensitivity(rows, weights, seed=7) == first
    other = weight_sensitivity(rows, weights, seed=8)
    assert other.seed == 8 and other.candidates != first.candidates
    assert other.candidates[0].first_share == pytest.approx(1505 / 2352, abs=0.04)


def test_sensitivity_total_is_the_ranking_score() -> None:
    """The sampled re-ranking uses ranking.score's formula; this keeps the two in step."""
    cat, req = three_models()
    req.ranking.weights.size_preference = 0.2
    req.ranking.weights.tooling = 0.1
    hw = hardware(req, cat)
    assessments = assess_catalog(req, cat, hw)
    ranked = rank(assessments, req)
    for row, (_, score) in zip(scored_rows(ranked), ranked, strict=True):
        assert total(row.terms, req.ranking.weights.model_dump()) == score.total


def test_three_model_pareto_by_hand() -> None:
    """Same three dense models on one 80 GB card: memory and decode time grow with size
    (30B > 14B > 8B). a has the best quality: on the front. b is the smallest and fastest:
    on the front. c (14B, quality 0.5) is bigger, slower and worse than b: dominated by b."""
    report = run()
    by_id = {c.id: c for c in report.candidates}
    speeds = {i: c.fit.estimated_decode_tokens_per_s or 0 for i, c in by_id.items()}
    memory = {i: c.fit.memory_gb for i, c in by_id.items()}
    assert speeds["b"] > speeds["c"] > speeds["a"]
    assert memory["b"] < memory["c"] < memory["a"]
    assert (by_id["a"].pareto, by_id["a"].dominated_by) == (True, None)
    assert (by_id["b"].pareto, by_id["b"].dominated_by) == (True, None)
    assert (by_id["c"].pareto, by_id["c"].dominated_by) == (False, "b")


def test_dominance_needs_one_strict_improvement_and_known_speed() -> None:
    p = Point("p", 0.5, 10.0, 5.0)
    assert not dominates(p, Point("q", 0.5, 10.0, 5.0))  # equal on all three
    assert dominates(p, Point("q", 0.5, 10.0, 6.0))
    assert not dominates(p, Point("q", 0.6, 1.0, 9.0))  # worse quality: no
    assert not dominates(Point("u", 0.9, None, 1.0), Point("q", 0.1, 1.0, 9.0))
    # the best-ranked dominator is named: points come in rank order
    front = pareto_front([Point("x", 0.9, 20, 4), Point("y", 0.8, 30, 4), Point("z", 0.5, 5, 8)])
    assert front == {"x": None, "y": None, "z": "x"}


def test_cost_per_million_tokens_from_the_teams_price() -> None:
    """2 cards at 2.5/h = 5/h; b decodes ~S tokens/s per session; with 4 sessions the hour
    yields S x 4 x 3600 tokens, so a million cost 5 / (S x 14,400) x 10^6."""
    cat, req = three_models()
    req.hardware.gpus[0].count = 2
    req.hardware.gpus[0].cost_per_hour = 2.5
    req.use_case.concurrent_sessions = 4
    report = recommend(req, cat, hardware(req, cat), SmokePlan(enabled=False))
    b = next(c for c in report.candidates if c.id == "b")
    assert b.cost is not None
    speed = b.fit.estimated_decode_tokens_per_s
    assert speed
    assert b.cost.hardware_cost_per_hour == 5.0
    assert b.cost.sessions == 4
    assert b.cost.cost_per_million_tokens == pytest.approx(5 / (speed * 4 * 3600) * 1e6, 1e-3)
    assert "2x card-80 at 2.5/h" in b.cost.basis and "4 session(s)" in b.cost.basis


def test_cost_capped_by_the_kv_cache_and_absent_without_a_price() -> None:
    cat, req = three_models()
    assessments = assess_catalog(req, cat, hardware(req, cat))
    fit = assessments[0].fit
    assert cost_of(fit, req) is None  # no cost_per_hour: no cost at all
    req.hardware.gpus[0].cost_per_hour = 3.0
    req.use_case.concurrent_sessions = 8
    capped = cost_of(fit.model_copy(update={"max_concurrency": 2.5}), req)
    assert capped is not None and capped.sessions == 2
    assert "holds 2.5 sessions, not 8" in capped.basis
    req.hardware.gpus.append(req.hardware.gpus[0].model_copy(update={"cost_per_hour": None}))
    partial = cost_of(fit, req)
    assert partial is not None and partial.hardware_cost_per_hour is None
    assert "missing for gpus[1]" in partial.basis


def test_vectorised_sample_matches_re_ranking_each_weighting() -> None:
    """The numpy evaluation of the samples gives, sample by sample, the winner that
    ranking.rank's order gives (checked on the shipped catalog's 15 candidates of the
    SPEC example, and on the hand-made three)."""
    import random

    from selector.catalog import load_catalog
    from selector.decision.sensitivity import _first_places, order
    from selector.requirements import load_requirements

    repo = Path(__file__).resolve().parents[1]
    shipped = load_catalog()
    spec_req = load_requirements(repo / "examples" / "server-strict-license.toml", shipped)
    cases = [three_models(), (shipped, spec_req)]
    for cat, req in cases:
        assessments = assess_catalog(req, cat, hardware(req, cat))
        for a in assessments:
            finish_assessment(a, req)
        rows = scored_rows(rank([a for a in assessments if not a.excluded], req))
        weights = req.ranking.weights.model_dump()
        fast = _first_places(rows, weights, seed=3, samples=300, spread=0.5)
        rng = random.Random(3)
        slow: dict[str, int] = {}
        for _ in range(300):
            trial = {k: weights[k] * rng.uniform(0.5, 1.5) for k in weights}
            best = order(rows, trial)[0].id
            slow[best] = slow.get(best, 0) + 1
        assert {k: v for k, v in fast.items() if v} == slow


def test_sampling_only_the_contenders_changes_no_count() -> None:
    """Rows that cannot come first under any weighting of the box are not scored per sample;
    every count is what scoring every row gives (random rows, some within 1e-4 of another)."""
    import math
    import operator
    import random

    from selector.decision.sensitivity import Scored, _contenders, _first_places

    def every_row(rows: list[Scored], weights: dict[str, float], seed: int) -> dict[str, int]:
        tie_order = sorted(rows, key=lambda r: (r.params_b, r.id))
        rng = random.Random(seed)
        counts = dict.fromkeys((r.id for r in tie_order), 0)
        for _ in range(400):
            w = [weights[k] * rng.uniform(0.5, 1.5) for k in weights]
            best_id, best = "", -math.inf
            for r in tie_order:
                t = [r.terms[k] for k in weights]
                rounded = round(sum(map(operator.mul, w, t)) / (sum(w) or 1.0), 4)
                if rounded > best:
                    best_id, best = r.id, rounded
            counts[best_id] += 1
        return counts

    rng = random.Random(11)
    names = ["quality", "size_preference", "license", "tooling", "smoke"]
    pruned_any = one_left = False
    for case in range(40):
        n = rng.randint(2, 25)
        rows = []
        for i in range(n):
            terms = {k: rng.random() for k in names}
            if i and rng.random() < 0.3:  # a near twin of the row before
                terms = {k: v + rng.uniform(-1e-4, 1e-4) for k, v in rows[-1].terms.items()}
            rows.append(Scored(f"m{i}", rng.choice([3.0, 8.0, 30.0]), terms))
        weights = {k: rng.choice([0.0, 0.1, 0.25, 0.35]) for k in names}
        weights["quality"] = 0.35
        fast = _first_places(rows, weights, seed=case, samples=400, spread=0.5)
        assert fast == every_row(rows, weights, case)
        base = [weights[k] for k in names]
        left = len(_contenders([tuple(r.terms[k] for k in names) for r in rows], base, 0.5, 1.5))
        pruned_any |= left < n
        one_left |= left == 1  # no sample is drawn: the one row left gets every count
    assert pruned_any and one_left


def test_a_row_beaten_at_every_corner_is_not_a_contender() -> None:
    """Each row's own range overlaps the other's, so the bounds alone keep both, but the
    first beats the second by more than the margin under every weighting of the box."""
    from selector.decision.sensitivity import _contenders

    base = [0.5, 0.5]
    strong, weak = (0.9, 0.30), (0.8, 0.25)  # ranges [0.45, 0.75] and [0.375, 0.65]
    assert _contenders([strong, weak], base, 0.5, 1.5) == [0]
    assert _contenders([weak, strong], base, 0.5, 1.5) == [1]
    crossing = (0.2, 0.95)  # ahead of `strong` when the second weight is high
    assert _contenders([strong, crossing], base, 0.5, 1.5) == [0, 1]
