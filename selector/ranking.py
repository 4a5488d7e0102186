"""The transparent score that orders the survivors; every term is printed in the report.

docs/ranking.md explains each term; the weights and the size curve come from `[ranking]` and
`[size] target_params_b` in the requirements file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from selector.catalog import License, ModelEntry
from selector.filtering import Assessment
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.vocab import Clause, Runtime

# The benchmarks the quality term reads: broad, hard to saturate, published by most vendors.
QUALITY_BENCHMARKS = ("MMLU-Pro", "GPQA-Diamond")

# How much each license clause costs the license term: obligations that a legal review must
# clear, weighted by how often they block an enterprise deployment.
CLAUSE_PENALTY = {
    Clause.NON_COMMERCIAL: 1.0,
    Clause.REVENUE_CAP: 0.3,
    Clause.MAU_CAP: 0.2,
    Clause.FIELD_OF_USE: 0.2,
    Clause.REGION_RESTRICTION: 0.2,
    Clause.ACCEPTABLE_USE_POLICY: 0.15,
    Clause.NAMING: 0.1,
    Clause.FLOW_DOWN: 0.1,
    Clause.ATTRIBUTION: 0.05,
}

# A neutral smoke score for a model that could not be tested here: neither rewarded nor punished.
UNTESTED_SMOKE_SCORE = 0.5


@dataclass(frozen=True)
class Term:
    value: float
    why: str


def size_preference(params_b: float, target_b: float, width: float) -> Term:
    """Log-normal bump: 1.0 at the target, 0.5 at ~7B and ~130B for the default 30B centre."""
    distance = math.log(params_b / target_b)
    value = math.exp(-(distance**2) / (2 * width**2))
    return Term(value, f"{params_b:g}B total vs {target_b:g}B centre (log-normal, σ={width:g})")


def quality(model: ModelEntry) -> Term:
    """Mean of the best reported MMLU-Pro and GPQA-Diamond scores, or a size prior without them."""
    best: dict[str, float] = {}
    for bench in model.benchmarks:
        if bench.name in QUALITY_BENCHMARKS:
            best[bench.name] = max(best.get(bench.name, 0.0), bench.score)
    if best:
        value = sum(best.values()) / len(best) / 100
        shown = ", ".join(f"{k} {v:g}" for k, v in sorted(best.items()))
        return Term(min(value, 1.0), f"mean of {shown}")
    prior = min(max(0.3 + 0.15 * math.log10(model.active_b), 0.2), 0.7)
    return Term(prior, "no MMLU-Pro/GPQA-Diamond in the catalog: prior from active parameters")


def license_term(lic: License) -> Term:
    penalty = sum(CLAUSE_PENALTY.get(c.kind, 0.0) for c in lic.clauses)
    if not lic.commercial_use:
        penalty = max(penalty, 1.0)
    kinds = sorted({c.kind.value for c in lic.clauses})
    why = f"{lic.name}: " + (", ".join(kinds) if kinds else "no restrictive clauses")
    return Term(max(0.0, 1.0 - penalty), why)


def tooling(model: ModelEntry) -> Term:
    """Runtime coverage (serving and local) plus published base weights (fine-tunability)."""
    runtimes = set(model.runtimes)
    value = 0.2 * len(runtimes & set(Runtime))
    parts = [", ".join(sorted(r.value for r in runtimes)) or "no runtime listed"]
    if model.base_weights_published:
        value += 0.2
        parts.append("base weights published")
    return Term(min(value, 1.0), "; ".join(parts))


def smoke_term(result: SmokeResult | None) -> Term:
    if result is None or result.status is SmokeStatus.SKIPPED:
        return Term(UNTESTED_SMOKE_SCORE, "not smoke-tested (neutral)")
    if result.setup_error:  # the run could not start: nothing is known about the model
        return Term(UNTESTED_SMOKE_SCORE, f"not smoke-tested: {result.reason} (neutral)")
    if result.status is SmokeStatus.ERROR:
        return Term(0.0, f"smoke test error: {result.reason}")
    total = max(result.probes_total, 1)
    return Term(result.probes_passed / total, f"{result.probes_passed}/{total} probes passed")


@dataclass(frozen=True)
class Score:
    total: float
    terms: dict[str, Term]


def score(a: Assessment, req: Requirements) -> Score:
    weights = req.ranking.weights.model_dump()
    terms = {
        "quality": quality(a.model),
        "size_preference": size_preference(
            a.model.params_b, req.size.target_params_b, req.ranking.size_width
        ),
        "license": license_term(a.license),
        "tooling": tooling(a.model),
        "smoke": smoke_term(a.smoke),
    }
    weight_sum = sum(weights.values()) or 1.0
    total = sum(weights[name] * term.value for name, term in terms.items()) / weight_sum
    return Score(round(total, 4), terms)


def rank(survivors: list[Assessment], req: Requirements) -> list[tuple[Assessment, Score]]:
    """Highest score first; ties broken by smaller size, then id, so the order is stable."""
    scored = [(a, score(a, req)) for a in survivors]
    scored.sort(key=lambda pair: (-pair[1].total, pair[0].model.params_b, pair[0].model.id))
    return scored
