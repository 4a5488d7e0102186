"""The transparent score that orders the survivors; every term is printed in the report.

docs/ranking.md explains each term; the weights and the size curve come from `[ranking]` and
`[size] target_params_b` in the requirements file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from selector.catalog import License, ModelEntry
from selector.catalog.schema import Benchmark
from selector.filtering import Assessment
from selector.fit import Fit
from selector.requirements import Requirements
from selector.smoke.interface import SmokeResult, SmokeStatus
from selector.vocab import SCORE_TERMS, Capability, Clause, Runtime

# The benchmarks the quality term reads for every model: broad, hard to saturate, published by
# most vendors.
QUALITY_BENCHMARKS = ("MMLU-Pro", "GPQA-Diamond")

# What the quality term also reads when `[use_case] needs` names a capability the catalog has
# benchmarks for (docs/ranking.md). Vision and long context have none in the catalog yet.
NEED_BENCHMARKS: dict[Capability, tuple[str, ...]] = {
    Capability.CODE: ("LiveCodeBench", "SWE-bench Verified"),
    Capability.TOOL_CALLING: ("BFCL", "tau2-bench"),
    Capability.MULTILINGUAL: ("MMMLU",),
    Capability.REASONING: ("AIME",),
}

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

# A license whose clauses were not read from its text scores at most what a verified license with
# the usual notice clause scores (Apache-2.0, MIT): the clauses nobody read cannot make it cleaner.
UNVERIFIED_LICENSE_CAP = 1.0 - CLAUSE_PENALTY[Clause.ATTRIBUTION]

# A neutral smoke score for a model that could not be tested here: neither rewarded nor punished.
UNTESTED_SMOKE_SCORE = 0.5


@dataclass(frozen=True)
class Term:
    value: float
    why: str
    source: str = ""  # where the figures came from (the quality term's `quality_source`)


def size_preference(params_b: float, target_b: float, width: float) -> Term:
    """Log-normal bump: 1.0 at the target, 0.5 at ~7B and ~130B for the default 30B centre."""
    distance = math.log(params_b / target_b)
    value = math.exp(-(distance**2) / (2 * width**2))
    return Term(value, f"{params_b:g}B total vs {target_b:g}B centre (log-normal, σ={width:g})")


def best_figure(model: ModelEntry, name: str) -> Benchmark | None:
    """The figure of benchmark `name` the quality term reads: the model's best reported one.

    Where a source gives thinking and non-thinking figures, both are kept in the catalog and the
    higher (usually the thinking one) is read; `describe_figure` says which.
    """
    figures = [b for b in model.benchmarks if b.name == name]
    return max(figures, key=lambda b: b.score) if figures else None


def describe_figure(bench: Benchmark) -> str:
    """`GPQA-Diamond 85.5 (thinking, vendor)`: the number and what kind of number it is."""
    kind = [] if bench.thinking is None else ["thinking" if bench.thinking else "non-thinking"]
    if bench.shots is not None:
        kind.append(f"{bench.shots}-shot")
    who = bench.evaluated_as
    kind.append(f"{who}: {bench.evaluated_by}" if who != "vendor" and bench.evaluated_by else who)
    return f"{bench.name} {bench.score:g} ({', '.join(k for k in kind if k)})"


def _figures_part(model: ModelEntry, names: tuple[str, ...]) -> list[Benchmark]:
    return [b for b in (best_figure(model, n) for n in names) if b is not None]


def size_prior(model: ModelEntry) -> float:
    """What the quality term assumes without a figure: a log-linear guess from active size."""
    return min(max(0.3 + 0.15 * math.log10(model.active_b), 0.2), 0.7)


def quality_source(figures: list[Benchmark]) -> str:
    """Who published the figures read, and where: the report's `quality_source`."""
    if not figures:
        return "prior: no sourced MMLU-Pro/GPQA-Diamond figure in the catalog"
    by_source: dict[tuple[str, str], list[str]] = {}
    for b in figures:
        who = b.evaluated_as
        label = f"{who} ({b.evaluated_by})" if who != "vendor" and b.evaluated_by else who
        by_source.setdefault((label, str(b.source)), []).append(b.name)
    return "; ".join(
        f"{label}: {', '.join(names)} from {url}" for (label, url), names in by_source.items()
    )


def quality(model: ModelEntry, needs: tuple[Capability, ...] | list[Capability] = ()) -> Term:
    """Mean of the general part (MMLU-Pro, GPQA-Diamond) and one part per benchmarked need.

    The general part is the mean of the best reported MMLU-Pro and GPQA-Diamond / 100, or the
    size prior without either. Each need in NEED_BENCHMARKS adds a part, the mean of its
    benchmarks; a need with no figure takes the general part's value, so a missing figure
    neither helps nor hurts. The `why` names every figure read and its setting.
    """
    general = _figures_part(model, QUALITY_BENCHMARKS)
    if general:
        base = sum(b.score for b in general) / len(general) / 100
        why = ["general: mean of " + ", ".join(describe_figure(b) for b in general)]
    else:
        base = size_prior(model)
        why = [
            f"general: prior {base:.2f} from {model.active_b:g}B active parameters "
            "(no MMLU-Pro/GPQA-Diamond in the catalog)"
        ]
    parts, read = [base], list(general)
    for need in dict.fromkeys(needs):
        names = NEED_BENCHMARKS.get(need)
        if not names:
            continue
        figures = _figures_part(model, names)
        if figures:
            parts.append(sum(b.score for b in figures) / len(figures) / 100)
            read += figures
            why.append(f"{need.value}: " + ", ".join(describe_figure(b) for b in figures))
        else:
            parts.append(base)
            why.append(f"{need.value}: no {'/'.join(names)} figure, general part stands in")
    value = min(sum(parts) / len(parts), 1.0)
    return Term(value, "; ".join(why), quality_source(read))


def apply_quantization_cost(term: Term, fit: Fit) -> Term:
    """The quality term less what the chosen precision costs (selector/fit/precision.py).

    Published benchmark scores are the 16-bit model's; a Q3_K_M or INT4 deployment is not that
    model. The cost is a relative loss from published measurements (llama.cpp's KL-divergence
    scoreboard for GGUF presets, vendor and paper FP8/INT4 evaluations), shown in the why.
    """
    cost = fit.quality_cost
    if not cost:
        return term
    precision = fit.precision or fit.quantization
    return Term(
        term.value * (1 - cost), f"{term.why}; x {1 - cost:.3f} for {precision}", term.source
    )


def license_term(lic: License) -> Term:
    penalty = sum(CLAUSE_PENALTY.get(c.kind, 0.0) for c in lic.clauses)
    if not lic.commercial_use:
        penalty = max(penalty, 1.0)
    kinds = sorted({c.kind.value for c in lic.clauses})
    why = f"{lic.name}: " + (", ".join(kinds) if kinds else "no restrictive clauses")
    value = max(0.0, 1.0 - penalty)
    if not lic.clauses_verified:
        value = min(value, UNVERIFIED_LICENSE_CAP)
        why += "; clauses not read from the license text (unverified)"
        why += f": at most {UNVERIFIED_LICENSE_CAP:g}"
    return Term(value, why)


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
    """The pass rate of the probe runs of every capability the run tested: the ones the team
    needs, its own probe files, and the always-on instruction following and structured output
    (docs/smoke.md). A run without a verdict is neutral or zero, as before."""
    from selector.smoke.stats import overall

    if result is None or result.status is SmokeStatus.SKIPPED:
        return Term(UNTESTED_SMOKE_SCORE, "not smoke-tested (neutral)")
    if result.setup_error:  # the run could not start: nothing is known about the model
        return Term(UNTESTED_SMOKE_SCORE, f"not smoke-tested: {result.reason} (neutral)")
    if result.status is SmokeStatus.ERROR:
        return Term(0.0, f"smoke test error: {result.reason}")
    pooled = overall(result)
    if pooled is None:
        total = max(result.probes_total, 1)
        return Term(result.probes_passed / total, f"{result.probes_passed}/{total} probes passed")
    parts = ", ".join(f"{k} {r.passed}/{r.total}" for k, r in result.capabilities.items())
    why = (
        f"{pooled.passed}/{pooled.total} probe runs passed "
        f"(95% interval {pooled.ci_low:.2f}-{pooled.ci_high:.2f}): {parts}"
    )
    return Term(pooled.rate, why)


def indistinguishable(assessments: list[Assessment]) -> dict[str, list[str]]:
    """For each smoke-tested candidate, the others whose pooled pass-rate intervals overlap its
    own: at this sample size the smoke evidence cannot order them. In the given (rank) order."""
    from selector.smoke.stats import overall, overlap

    rates = {a.model.id: overall(a.smoke) for a in assessments}
    tested = {k: v for k, v in rates.items() if v is not None}
    out: dict[str, list[str]] = {}
    for model_id, mine in tested.items():
        others = [o for o, r in tested.items() if o != model_id and overlap(mine, r)]
        if others:
            out[model_id] = others
    return out


@dataclass(frozen=True)
class Score:
    total: float
    terms: dict[str, Term]


def score(a: Assessment, req: Requirements) -> Score:
    weights = req.ranking.weights.model_dump()
    computed = {
        "quality": apply_quantization_cost(quality(a.model, req.use_case.needs), a.fit),
        "size_preference": size_preference(
            a.model.params_b, req.size.target_params_b, req.ranking.size_width
        ),
        "license": license_term(a.license),
        "tooling": tooling(a.model),
        "smoke": smoke_term(a.smoke),
    }
    terms = {name: computed[name] for name in SCORE_TERMS}  # the one order, and all of them
    weight_sum = sum(weights.values()) or 1.0
    total = sum(weights[name] * term.value for name, term in terms.items()) / weight_sum
    return Score(round(total, 4), terms)


def why(terms: dict[str, Term]) -> dict[str, str]:
    """The report's `why`: each term's basis, plus `quality_source` (who published the figures)."""
    out = {name: term.why for name, term in terms.items()}
    if "quality" in terms:
        out["quality_source"] = terms["quality"].source
    return out


def rank(survivors: list[Assessment], req: Requirements) -> list[tuple[Assessment, Score]]:
    """Highest score first; ties broken by smaller size, then id, so the order is stable."""
    scored = [(a, score(a, req)) for a in survivors]
    scored.sort(key=lambda pair: (-pair[1].total, pair[0].model.params_b, pair[0].model.id))
    return scored
