"""What every smoke backend takes and returns, so llama.cpp and endpoints are interchangeable."""

from __future__ import annotations

import statistics
from enum import Enum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selector.smoke.probes import SuitePlan

# A timed decode shorter than this says too little about speed to filter or calibrate on.
MIN_SPEED_TOKENS = 64


class SmokeStatus(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class SmokeSettings(BaseModel):
    """Everything that changes a measurement; part of the cache key."""

    # defer_build: built when a smoke run makes its settings, not by a run without one
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    n_ctx: int = Field(2048, gt=0)
    threads: int | None = Field(None, gt=0, description="default: physical cores")
    n_gpu_layers: int = 0
    max_tokens: int = Field(128, gt=0, description="answer budget of a probe that sets none")
    speed_tokens: int = Field(
        64, gt=0, description=f"tokens generated per timed decode run (>= {MIN_SPEED_TOKENS} count)"
    )
    timeout_s: float = Field(120, gt=0)
    memory_limit_gb: float | None = Field(
        None,
        gt=0,
        description="private-memory bound of the llama.cpp child (RLIMIT_DATA); "
        "default: derived from the available RAM",
    )
    seed: int = 0
    speed_runs: int = Field(3, ge=1, le=15, description="timed decode runs; the median is reported")
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
        problem = repeats_problem(self.repeats, self.temperature)
        if problem:
            raise ValueError(problem)
        return self


def repeats_problem(repeats: int, temperature: float) -> str | None:
    """Why `repeats` runs at `temperature` would not be independent samples, or None."""
    if repeats > 1 and temperature == 0:
        return (
            "repeats > 1 needs temperature > 0: greedy decoding gives the same answer "
            "every time, so repeats would count one answer several times"
        )
    return None


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


class SpeedEvidence(BaseModel):
    """How the speed figures were taken, and whether they may stand for the model's speed.

    A figure is `usable` (feeds latency filters, the cache's speed and calibration) only when
    every timed run decoded at least MIN_SPEED_TOKENS tokens and the machine was not busy.
    """

    model_config = ConfigDict(extra="forbid")

    runs: int = Field(0, description="timed runs; the SPEC figures are their medians")
    tokens_per_run: int = Field(0, description="fewest tokens decoded by one timed run")
    decode_tokens_per_s_runs: list[float] = Field(default_factory=list)
    time_to_first_token_ms_runs: list[float] = Field(default_factory=list)
    warmup: str = Field("", description="what ran, untimed, before the timed runs")
    busy: bool | None = Field(
        None, description="other work competed for the CPU during the timed runs; None: unknown"
    )
    busy_detail: str = ""
    usable: bool = False
    why_not_usable: str = ""
    where: str = Field("", description="'this machine' or 'endpoint' (the serving hardware)")

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the decode runs: how much the repeats disagree."""
        runs = self.decode_tokens_per_s_runs
        if len(runs) < 2:
            return None
        median = statistics.median(runs)
        return (max(runs) - min(runs)) / median if median > 0 else None


class SmokeResult(BaseModel):
    """The `smoke` object of the JSON report (SPEC §3), with the measurement details added.

    A figure that was not measured is None (null in JSON), never 0.0: an endpoint has no
    peak RSS of ours, a run that failed to start measured nothing.
    """

    model_config = ConfigDict(extra="forbid")

    status: SmokeStatus
    reason: str = ""
    probes_passed: int = 0
    probes_total: int = 0
    decode_tokens_per_s: float | None = None
    time_to_first_token_ms: float | None = None
    peak_rss_gb: float | None = None
    model_sha256: str = ""
    load_time_s: float | None = None
    prefill_tokens_per_s: float | None = None
    prompt_tokens: int | None = Field(None, description="prompt length of the timed prefill")
    speed_tokens: int | None = Field(None, description="tokens decoded per timed decode run")
    backend: str = ""
    quantization: str = ""
    n_ctx: int | None = None
    threads: int | None = None
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
    setup_error: bool = Field(
        False,
        description="the run could not start (unset key variable, refused connection, missing "
        "file, a model name the endpoint does not serve): the run's problem, not the model's",
    )
    speed: SpeedEvidence | None = Field(None, description="how the speed figures were taken")
    memory_limit_gb: float | None = Field(
        None, description="the private-memory bound the llama.cpp child ran under"
    )
    notes: list[str] = Field(default_factory=list, description="what was adjusted and why")

    @classmethod
    def skipped(cls, reason: str) -> SmokeResult:
        return cls(status=SmokeStatus.SKIPPED, reason=reason)

    @classmethod
    def error(cls, reason: str, *, setup: bool = False, **measured: object) -> SmokeResult:
        return cls(status=SmokeStatus.ERROR, reason=reason, setup_error=setup, **measured)

    def taken_on_target(self, declared_hardware: bool) -> bool:
        """Measured on the deployment target: an endpoint runs on the serving hardware itself;
        a local run measures this machine, the target only when no hardware is declared."""
        return self.backend.startswith("endpoint") or not declared_hardware

    @property
    def speed_usable(self) -> bool:
        """The decode and TTFT figures may stand for the model's speed (filters, calibration)."""
        return (
            self.status in (SmokeStatus.PASSED, SmokeStatus.FAILED)
            and self.speed is not None
            and self.speed.usable
            and self.decode_tokens_per_s is not None
        )


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


class SmokeProgress(Protocol):
    """What a caller hears while smoke tests run (a progress display, a log)."""

    def started(self, model_id: str, backend: str) -> None: ...

    def waiting(self, model_id: str, message: str) -> None:
        """The run waits for something outside it (another selector's local run)."""
        ...

    def finished(self, model_id: str, result: SmokeResult) -> None: ...
