"""The report as data: the JSON contract of SPEC §3, which every format renders.

Fields may be added; none may be renamed or removed without bumping SCHEMA_VERSION.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from selector.fit import Fit
from selector.hardware import HardwareProfile
from selector.provenance import Provenance
from selector.report.decision_schema import CostReport, Sensitivity, WhatIf
from selector.smoke.interface import SmokeResult
from selector.vocab import SCORE_TERMS, ReasonCode

SCHEMA_VERSION = 1


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ScoreBreakdown(_Out):
    quality: float
    size_preference: float
    license: float
    tooling: float
    smoke: float
    weights: dict[str, float] = Field(default_factory=dict)
    why: dict[str, str] = Field(default_factory=dict, description="the basis of each term")

    def terms(self) -> dict[str, float]:
        """Each term's value, in SCORE_TERMS order (the order every format lists them)."""
        return {name: getattr(self, name) for name in SCORE_TERMS}


class LicenseSummary(_Out):
    id: str
    name: str
    spdx: str | None
    commercial_use: bool
    clauses: list[dict[str, str]]
    url: str
    version: str = Field("", description="the version of the license text the catalog describes")
    clauses_verified: bool | None = Field(
        None,
        description="clauses read from the license text itself; None: the catalog does not say",
    )


class ArtifactReport(_Out):
    """The exact weights file a recommendation is about (docs/weights.md); None where unknown."""

    repo: str | None = Field(None, description="Hugging Face repository, e.g. org/name-GGUF")
    revision: str | None = Field(None, description="the commit the artifact is pinned to")
    file: str | None = Field(None, description="file name (the first shard when split)")
    sha256: str | None = Field(
        None, description="the LFS object id, where a primary source gives it"
    )
    size_bytes: int | None = None
    local_path: str | None = Field(None, description="where this machine holds it, if it does")
    verified: bool = Field(False, description="the local file's sha256 equals the pinned one")


class CandidateReport(_Out):
    id: str
    rank: int
    score: float
    name: str
    family: str
    organization: str
    origin_country: str
    params_b: float
    active_params_b: float
    license: str
    license_terms: LicenseSummary
    context_tokens: int
    capabilities: list[str]
    runtimes: list[str]
    fit: Fit
    disk_gb: float
    smoke: SmokeResult
    smoke_prediction: Fit | None = Field(
        None, description="predicted memory for the smoke run's own settings, beside its peak"
    )
    score_breakdown: ScoreBreakdown
    risks: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    artifact: ArtifactReport | None = Field(None, description="the pinned weights file")
    smoke_not_distinguishable_from: list[str] = Field(
        default_factory=list,
        description="shortlisted models whose smoke pass-rate intervals overlap this one's",
    )
    pareto: bool | None = Field(
        None, description="no other candidate beats it on quality, decode speed and memory"
    )
    dominated_by: str | None = Field(None, description="a candidate that beats it on all three")
    cost: CostReport | None = Field(None, description="from [hardware] gpus cost_per_hour")


class ExclusionReason(_Out):
    code: ReasonCode
    message: str


class ExcludedReport(_Out):
    id: str
    name: str
    params_b: float
    license: str
    origin_country: str
    reasons: list[ExclusionReason]
    smoke: SmokeResult | None = Field(None, description="the evidence when a smoke test ran")


class NearMiss(_Out):
    """A model excluded only by estimated figures (fit, latency): a measurement could admit it."""

    id: str
    name: str
    reasons: list[ExclusionReason]
    assumptions: list[str] = Field(description="the estimates that excluded it, with their basis")


class UnmatchedFile(_Out):
    path: str
    reason: str


class Report(_Out):
    schema_version: int = SCHEMA_VERSION
    generated_at: str
    selector_version: str
    requirements: dict[str, Any]
    hardware: HardwareProfile
    candidates: list[CandidateReport]
    excluded: list[ExcludedReport]
    unmatched_files: list[UnmatchedFile] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    near_misses: list[NearMiss] = Field(default_factory=list)
    provenance: Provenance | None = Field(None, description="the exact inputs of this run")
    sensitivity: Sensitivity | None = Field(None, description="stability of the top pick")
    what_if: list[WhatIf] = Field(
        default_factory=list, description="what would admit the best few excluded models"
    )
