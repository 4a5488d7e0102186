"""The quality and license terms: which figures are read, how needs change the term, how a
prior and an unverified license are marked (docs/ranking.md)."""

from __future__ import annotations

from typing import Any

import pytest

from selector.catalog import License, ModelEntry
from selector.catalog.schema import Benchmark
from selector.ranking import (
    UNVERIFIED_LICENSE_CAP,
    best_figure,
    license_term,
    quality,
    size_prior,
    why,
)
from selector.vocab import Capability

SRC = "https://example.org/card"


def model(benchmarks: list[dict[str, Any]], **extra: Any) -> ModelEntry:
    data: dict[str, Any] = {
        "id": "m",
        "name": "M",
        "family": "m",
        "organization": "Org",
        "origin_country": "US",
        "release_date": "2026-01-01",
        "params_b": 30,
        "active_params_b": 3,
        "architecture": "moe",
        "moe": {"experts": 8, "experts_per_token": 2},
        "layers": 4,
        "attention": {"heads": 4, "kv_heads": 1, "head_dim": 64},
        "context_tokens": 8192,
        "license": "apache-2.0",
        "sources": [SRC],
        "benchmarks": [{"source": SRC, **b} for b in benchmarks],
    }
    return ModelEntry.model_validate({**data, **extra})


def test_general_part_is_the_mean_of_mmlu_pro_and_gpqa() -> None:
    term = quality(
        model([{"name": "MMLU-Pro", "score": 80}, {"name": "GPQA-Diamond", "score": 60}])
    )
    assert term.value == pytest.approx(0.70)
    assert "MMLU-Pro 80" in term.why and "GPQA-Diamond 60" in term.why
    assert term.source == f"vendor: MMLU-Pro, GPQA-Diamond from {SRC}"


def test_without_a_figure_the_term_is_a_prior_and_says_so() -> None:
    m = model([{"name": "LiveCodeBench", "score": 90}])
    term = quality(m)
    assert term.value == pytest.approx(size_prior(m))
    assert "prior" in term.why and term.source.startswith("prior")


def test_the_thinking_figure_is_read_and_named() -> None:
    m = model(
        [
            {"name": "GPQA-Diamond", "score": 71.2, "thinking": False},
            {"name": "GPQA-Diamond", "score": 88.1, "thinking": True},
        ]
    )
    chosen = best_figure(m, "GPQA-Diamond")
    assert chosen is not None and chosen.thinking is True
    term = quality(m)
    assert term.value == pytest.approx(0.881)
    assert "GPQA-Diamond 88.1 (thinking, vendor)" in term.why


def test_a_need_adds_its_benchmarks_and_says_which() -> None:
    m = model(
        [
            {"name": "GPQA-Diamond", "score": 60},
            {"name": "LiveCodeBench", "score": 90},
            {"name": "SWE-bench Verified", "score": 70},
        ]
    )
    term = quality(m, [Capability.CODE])
    assert term.value == pytest.approx((0.60 + 0.80) / 2)
    assert "code: LiveCodeBench 90" in term.why and "SWE-bench Verified 70" in term.why
    # A need without benchmarks in the catalog (vision) changes nothing.
    assert quality(m, [Capability.VISION]).value == pytest.approx(0.60)


def test_a_need_without_figures_takes_the_general_value() -> None:
    m = model([{"name": "GPQA-Diamond", "score": 60}])
    term = quality(m, [Capability.TOOL_CALLING])
    assert term.value == pytest.approx(0.60)
    assert "tool-calling: no BFCL/tau2-bench figure, general part stands in" in term.why


def test_a_competitor_evaluation_is_labelled_as_such() -> None:
    m = model(
        [
            {
                "name": "MMLU-Pro",
                "score": 75,
                "evaluator": "competitor",
                "evaluated_by": "NVIDIA",
            }
        ]
    )
    bench = m.benchmarks[0]
    assert bench.evaluated_as == "competitor" and not bench.vendor_reported
    term = quality(m)
    assert "competitor: NVIDIA" in term.why
    assert term.source.startswith("competitor (NVIDIA): MMLU-Pro")
    assert "independent" not in term.source


def test_evaluator_and_vendor_reported_must_agree() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        Benchmark.model_validate(
            {
                "name": "X",
                "score": 1,
                "source": SRC,
                "evaluator": "vendor",
                "vendor_reported": False,
            }
        )
    with pytest.raises(ValueError, match="names the competitor"):
        Benchmark.model_validate(
            {"name": "X", "score": 1, "source": SRC, "evaluator": "competitor"}
        )
    old_style = Benchmark.model_validate(
        {"name": "X", "score": 1, "source": SRC, "vendor_reported": False}
    )
    assert old_style.evaluated_as == "independent"


def test_why_carries_the_quality_source() -> None:
    term = quality(model([{"name": "GPQA-Diamond", "score": 60}]))
    out = why({"quality": term})
    assert out["quality_source"] == term.source


def _license(**extra: Any) -> License:
    data: dict[str, Any] = {
        "id": "x",
        "name": "X License",
        "osi_approved": False,
        "commercial_use": True,
        "url": SRC,
        "sources": [SRC],
    }
    return License.model_validate({**data, **extra})


def test_an_unverified_license_scores_no_better_than_apache() -> None:
    assert license_term(_license()).value == 1.0
    unread = license_term(_license(unverified=["clauses"]))
    assert unread.value == UNVERIFIED_LICENSE_CAP == pytest.approx(0.95)
    assert "unverified" in unread.why
    notice = [{"kind": "attribution", "detail": "keep the NOTICE"}]
    assert license_term(_license(clauses=notice)).value == pytest.approx(0.95)
    restricted = [{"kind": "acceptable-use-policy", "detail": "AUP"}]
    capped = license_term(_license(clauses=restricted, unverified=["clauses"]))
    assert capped.value == pytest.approx(0.85)  # the cap never raises a score
