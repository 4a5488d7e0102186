"""What every smoke backend takes and returns, so llama.cpp and endpoints are interchangeable."""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class SmokeStatus(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class SmokeSettings(BaseModel):
    """Everything that changes a measurement; part of the cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_ctx: int = Field(2048, gt=0)
    threads: int | None = Field(None, gt=0, description="default: physical cores")
    n_gpu_layers: int = 0
    max_tokens: int = Field(64, gt=0, description="decode budget per probe")
    speed_tokens: int = Field(128, gt=0, description="tokens generated for the decode-speed run")
    timeout_s: float = Field(120, gt=0)
    memory_limit_gb: float | None = Field(None, gt=0, description="address-space cap of the child")
    seed: int = 0


class ProbeOutcome(BaseModel):
    """One probe's verdict with the text that earned it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    passed: bool
    output: str = ""
    detail: str = ""
    kind: str = ""
    error: str = Field("", description="set when the probe could not run to an answer")


class CapabilityRate(BaseModel):
    """Pass rate of one capability's probes over all repeats, with its Wilson 95% interval."""

    model_config = ConfigDict(extra="forbid")

    passed: int
    total: int
    rate: float
    ci_low: float
    ci_high: float


class SmokeResult(BaseModel):
    """The `smoke` object of the JSON report (SPEC §3), with the measurement details added."""

    model_config = ConfigDict(extra="forbid")

    status: SmokeStatus
    reason: str = ""
    probes_passed: int = 0
    probes_total: int = 0
    decode_tokens_per_s: float = 0.0
    time_to_first_token_ms: float = 0.0
    peak_rss_gb: float = 0.0
    model_sha256: str = ""
    load_time_s: float = 0.0
    prefill_tokens_per_s: float = 0.0
    prompt_tokens: int = Field(0, description="prompt length of the timed prefill")
    speed_tokens: int = Field(0, description="tokens decoded in the timed decode run")
    backend: str = ""
    quantization: str = ""
    n_ctx: int = 0
    threads: int = 0
    llama_cpp_version: str = ""
    suite_version: str = ""
    wall_time_s: float = 0.0
    cached: bool = False
    probes: list[ProbeOutcome] = Field(default_factory=list)
    capabilities: dict[str, CapabilityRate] = Field(
        default_factory=dict, description="per-capability pass rates (SPEC §7)"
    )

    @classmethod
    def skipped(cls, reason: str) -> SmokeResult:
        return cls(status=SmokeStatus.SKIPPED, reason=reason)

    @classmethod
    def error(cls, reason: str, **measured: object) -> SmokeResult:
        return cls(status=SmokeStatus.ERROR, reason=reason, **measured)


class SmokeBackend(Protocol):
    """One way to run the probe suite: a local GGUF through llama.cpp, or an HTTP endpoint.

    `parallel_safe` says whether several may run at once (an endpoint: yes; a local model
    competing for the same RAM and cores: no). `cache_key()` names what was tested (file hash,
    or endpoint and model) for the results cache; None means never cache.
    """

    name: str
    parallel_safe: bool

    def cache_key(self) -> str | None:
        """Identity of the model under test for the cache, or None to always rerun."""
        ...

    def run(self, settings: SmokeSettings) -> SmokeResult:
        """Run the whole suite; never raise for a model's failure, return `error` instead."""
        ...
