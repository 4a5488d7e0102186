"""What every smoke backend takes and returns, so llama.cpp and endpoints are interchangeable."""

from __future__ import annotations

from enum import Enum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selector.smoke.probes import SuitePlan


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
    max_tokens: int = Field(128, gt=0, description="answer budget of a probe that sets none")
    speed_tokens: int = Field(128, gt=0, description="tokens generated for the decode-speed run")
    timeout_s: float = Field(120, gt=0)
    memory_limit_gb: float | None = Field(None, gt=0, description="address-space cap of the child")
    seed: int = 0
    repeats: int = Field(1, ge=1, description="runs of the whole suite (seed, seed+1, ...)")
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy")
    reasoning_tokens: int = Field(
        1024, ge=0, description="added to every budget once a model is seen to reason first"
    )
    suite: SuitePlan = Field(
        default_factory=SuitePlan,
        exclude=True,
        description="which probes run; keyed by its digest, not dumped with the settings",
    )

    @model_validator(mode="after")
    def _repeats_need_sampling(self) -> SmokeSettings:
        if self.repeats > 1 and self.temperature == 0:
            raise ValueError(
                "repeats > 1 needs temperature > 0: greedy decoding gives the same answer "
                "every time, so repeats would count one answer several times"
            )
        return self


ProbeStatus = Literal["passed", "failed", "truncated", "error"]


class ProbeOutcome(BaseModel):
    """One probe run's verdict with the text that earned it.

    `truncated`: the answer hit its token budget (finish reason `length`) without passing; it
    counts as not passed but is not called wrong. `error`: the backend could not run the prompt
    (too long for the context, refused); it is left out of the pass rates.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    passed: bool
    output: str = ""
    detail: str = ""
    capability: str = ""
    error: str = Field("", description="set when the probe could not run to an answer")
    status: ProbeStatus = "failed"
    repeat: int = 0
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    context_tokens: int | None = Field(
        None, description="long-context probes: the prompt length the probe ran at"
    )
    seconds: float = 0.0


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
    suite_digest: str = Field("", description="suite version and a hash of every probe run")
    long_context_tokens: int = Field(
        0, description="prompt length the long-context probes ran at (0: not run)"
    )

    @classmethod
    def skipped(cls, reason: str) -> SmokeResult:
        return cls(status=SmokeStatus.SKIPPED, reason=reason)

    @classmethod
    def error(cls, reason: str, **measured: object) -> SmokeResult:
        return cls(status=SmokeStatus.ERROR, reason=reason, **measured)


class SmokeBackend(Protocol):
    """One way to run the probe suite: a local GGUF through llama.cpp, or an HTTP endpoint.

    A backend only provides a `ProbeSession` (selector/smoke/session.py) to the suite driver
    (selector/smoke/suite.py) and adds what it measures around it (load, speed, memory).

    `parallel_safe` says whether several may run at once (an endpoint: yes; a local model
    competing for the same RAM and cores: no). `cache_key()` names what was tested (file hash,
    or endpoint and model) for the results cache; None means never cache.
    """

    name: str
    parallel_safe: bool

    def cache_key(self) -> str | None:
        """Identity of the model under test for the cache, or None to always rerun."""
        ...

    def resolve(self, settings: SmokeSettings) -> SmokeSettings:
        """The settings as this backend will run them, defaults filled in (for the cache key)."""
        ...

    def run(self, settings: SmokeSettings) -> SmokeResult:
        """Run the whole suite; never raise for a model's failure, return `error` instead."""
        ...
