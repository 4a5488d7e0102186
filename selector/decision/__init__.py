"""Decision support on top of a ranking: what-if, weight sensitivity, Pareto front and cost.

`decide()` is called once by the pipeline with every ranked survivor (before `--top` cuts the
list) and every excluded model; `Decision.annotate` writes the per-candidate parts into the
report. docs/ranking.md explains each part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selector.catalog import Catalog
from selector.decision.cost import cost_of
from selector.decision.pareto import Point, pareto_front
from selector.decision.rerun import Rerun, decode_figure
from selector.decision.sensitivity import Scored, weight_sensitivity
from selector.decision.whatif import what_if
from selector.filtering import Assessment
from selector.hardware import HardwareProfile
from selector.ranking import Score, score
from selector.report.decision_schema import CostReport, Sensitivity, WhatIf
from selector.report.schema import CandidateReport
from selector.requirements import Requirements

WHAT_IF_MODELS = 5  # the best few excluded models get a what-if in the report


@dataclass
class Decision:
    dominated_by: dict[str, str | None] = field(default_factory=dict)
    sensitivity: Sensitivity | None = None
    what_if: list[WhatIf] = field(default_factory=list)
    cost: dict[str, CostReport | None] = field(default_factory=dict)

    def annotate(self, candidates: list[CandidateReport]) -> None:
        for c in candidates:
            if c.id in self.dominated_by:
                c.dominated_by = self.dominated_by[c.id]
                c.pareto = c.dominated_by is None
            c.cost = self.cost.get(c.id)


def scored_rows(ranked: list[tuple[Assessment, Score]]) -> list[Scored]:
    return [
        Scored(a.model.id, a.model.params_b, {k: t.value for k, t in s.terms.items()})
        for a, s in ranked
    ]


def pareto_points(ranked: list[tuple[Assessment, Score]], req: Requirements) -> list[Point]:
    return [
        Point(a.model.id, s.terms["quality"].value, decode_figure(a, req)[0], a.fit.memory_gb)
        for a, s in ranked
    ]


def best_excluded(excluded: list[Assessment], req: Requirements, n: int) -> list[Assessment]:
    """The excluded models that would score highest if admitted (ties: smaller, then id)."""
    scored = [(a, score(a, req).total) for a in excluded]
    scored.sort(key=lambda p: (-p[1], p[0].model.params_b, p[0].model.id))
    return [a for a, _ in scored[:n]]


def decide(
    ranked: list[tuple[Assessment, Score]],
    excluded: list[Assessment],
    req: Requirements,
    catalog: Catalog,
    hw: HardwareProfile,
    *,
    what_if_models: int = WHAT_IF_MODELS,
) -> Decision:
    rerun = Rerun(req, catalog, hw)
    return Decision(
        dominated_by=pareto_front(pareto_points(ranked, req)),
        sensitivity=(
            weight_sensitivity(scored_rows(ranked), req.ranking.weights.model_dump())
            if ranked
            else None
        ),
        what_if=[what_if(rerun, a) for a in best_excluded(excluded, req, what_if_models)],
        cost={a.model.id: cost_of(a.fit, req) for a, _ in ranked},
    )
