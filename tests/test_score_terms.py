"""The score terms are named once (selector.vocab.SCORE_TERMS): every model and format follows."""

from __future__ import annotations

import re
from pathlib import Path

from selector.ranking import rank
from selector.report.schema import ScoreBreakdown
from selector.requirements import RankingWeights
from selector.vocab import SCORE_TERMS

SOURCE = Path(__file__).resolve().parents[1] / "selector"


def test_the_weights_and_the_breakdown_have_exactly_the_terms_in_order() -> None:
    assert tuple(RankingWeights.model_fields) == SCORE_TERMS
    assert tuple(ScoreBreakdown.model_fields)[: len(SCORE_TERMS)] == SCORE_TERMS
    extra = set(ScoreBreakdown.model_fields) - set(SCORE_TERMS)
    assert extra == {"weights", "why"}


def test_no_module_spells_the_term_list_out_again() -> None:
    """A tuple or list of two or more term names written out is a second source of truth."""
    names = "|".join(SCORE_TERMS)
    pattern = re.compile(rf"[(\[]\s*\"({names})\",\s*\"({names})\"")
    offenders = [
        f"{path.relative_to(SOURCE.parent)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sorted(SOURCE.rglob("*.py"))
        if path.name != "vocab.py"
        for text in [path.read_text(encoding="utf-8")]
        for m in pattern.finditer(text)
    ]
    assert offenders == []


def test_the_ranking_scores_every_term_in_order(tmp_path: Path) -> None:
    from selector.catalog import load_catalog
    from selector.filtering import assess_catalog, finish_assessment
    from selector.hardware import resolve_hardware
    from selector.requirements import load_requirements

    req_path = tmp_path / "req.toml"
    req_path.write_text("[hardware]\nram_gb = 64\ncpu_only = true\n", encoding="utf-8")
    cat = load_catalog()
    req = load_requirements(req_path, cat)
    assessments = assess_catalog(req, cat, resolve_hardware(req.hardware, cat))
    for a in assessments:
        finish_assessment(a, req)
    ranked = rank([a for a in assessments if not a.excluded], req)
    assert ranked
    for _, score in ranked[:3]:
        assert tuple(score.terms) == SCORE_TERMS
