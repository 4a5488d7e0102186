"""The decision-support parts of the report (SPEC §7): what-if, sensitivity, Pareto, cost, explain.

Additive to schema_version 1: every field here is new, none renames an older one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from selector.fit import Fit
from selector.smoke.interface import SmokeResult
from selector.vocab import ReasonCode


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class WhatIfChange(_Out):
    """One requirement changed: its dotted key, the value now and the value that admits."""

    key: str = Field(description="dotted requirements key, e.g. size.max_params_b")
    current: Any
    needed: Any
    description: str = Field("", description="the change in words")
    clears: list[ReasonCode] = Field(
        default_factory=list, description="reasons this change removes on its own (a re-run)"
    )


class WhatIf(_Out):
    """The smallest set of single-requirement changes that admits an excluded model.

    `changes` together admit it, verified by re-running the filter with all of them applied;
    `alternatives` are the other changes tried, each with what it clears on its own.
    """

    id: str
    changes: list[WhatIfChange]
    admitted: bool = Field(description="the filter, re-run with `changes`, admits the model")
    alternatives: list[WhatIfChange] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class FirstShare(_Out):
    id: str
    first_share: float = Field(description="share of the sampled weightings ranking it first")


class WeightFlip(_Out):
    """The single weight change that puts the runner-up above the top pick."""

    key: str = Field(description="dotted requirements key, e.g. ranking.weights.license")
    current: float
    needed: float
    change: float = Field(description="needed - current")


class Sensitivity(_Out):
    """How stable the top of the ranking is under other reasonable weightings."""

    seed: int
    samples: int
    spread: float = Field(description="each weight multiplied by U(1 - spread, 1 + spread)")
    weights: dict[str, float]
    candidates: list[FirstShare]
    top: str | None = None
    runner_up: str | None = None
    flips: list[WeightFlip] = Field(
        default_factory=list, description="per weight, the value at which the top two swap"
    )
    smallest_flip: WeightFlip | None = None


class CostReport(_Out):
    """The team's own GPU price turned into a cost per million generated tokens."""

    hardware_cost_per_hour: float | None
    sessions: int = Field(description="concurrent sessions the cost is planned for")
    decode_tokens_per_s_per_session: float | None
    tokens_per_hour: float | None
    cost_per_million_tokens: float | None
    basis: str


class FilterCheck(_Out):
    code: ReasonCode
    passed: bool
    details: list[str]


class TermReport(_Out):
    name: str
    value: float
    weight: float
    contribution: float = Field(description="weight x value / sum of weights")
    why: str


class Explanation(_Out):
    """Everything about one model under one requirements file (`selector explain`)."""

    id: str
    name: str
    status: str = Field(description="candidate or excluded")
    rank: int | None = Field(None, description="its rank among the candidates")
    candidates_total: int
    would_rank: int | None = Field(
        None, description="for an excluded model: its rank if it were admitted as it is"
    )
    score: float
    terms: list[TermReport]
    checks: list[FilterCheck]
    fit: Fit
    smoke: SmokeResult | None = None
    pareto: bool | None = None
    dominated_by: str | None = None
    first_share: float | None = None
    cost: CostReport | None = None
    what_if: WhatIf | None = None
    notes: list[str] = Field(default_factory=list)
