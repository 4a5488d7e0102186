"""The requirements file (SPEC §2): pydantic models, loading, and checks against the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from selector.errors import RequirementsError
from selector.redact import base_url_problem, env_name_problem
from selector.tomlio import Problem, did_you_mean, locate, read_toml, validation_problems
from selector.vocab import ISO_COUNTRIES, Capability, Clause

DEFAULT_CONTEXT_TOKENS = 8192
DEFAULT_QUANTIZATION = "auto"
DEFAULT_PROMPT_TOKENS = 512
DEFAULT_TARGET_PARAMS_B = 30.0

# Upper bounds: far above any real deployment, low enough that no figure overflows or sizes an
# allocation from a typo (`ram_gb = 1e308`, `timeout_s = inf`).
MAX_GB = 1e7  # 10 PB of memory or disk
MAX_RATE = 1e7  # GB/s, tokens/s
MAX_PARAMS_B = 1e5  # 100T parameters
MAX_CONTEXT = 1 << 28
MAX_COUNT = 1 << 16  # GPUs, threads, concurrent endpoints
MAX_TIMEOUT_S = 7 * 86400.0
MAX_REPEATS = 100  # runs of the probe suite; more says little the intervals do not
MAX_WEIGHT = 1000.0
MAX_PRICE = 1e7  # per GPU-hour, any currency
GB = Annotated[float, Field(gt=0, le=MAX_GB, allow_inf_nan=False)]
Rate = Annotated[float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False)]
ParamsB = Annotated[float, Field(gt=0, le=MAX_PARAMS_B, allow_inf_nan=False)]
Count = Annotated[int, Field(gt=0, le=MAX_COUNT)]
Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]
Price = Annotated[float, Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)]
Tokens = Annotated[int, Field(gt=0, le=MAX_CONTEXT)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class UseCase(_Section):
    name: str = ""
    needs: list[Capability] = Field(default_factory=list, description="capabilities required")
    context_tokens: Tokens = Field(
        DEFAULT_CONTEXT_TOKENS,
        le=MAX_CONTEXT,
        description="context the deployment must hold (fit is sized for it)",
    )
    concurrent_sessions: Count = Field(
        1, description="sessions served at once, each holding context_tokens (the load)"
    )


class LicensePolicy(_Section):
    allow: list[str] | None = Field(
        None, description="SPDX ids or catalog license ids; omitted = any license"
    )
    commercial_use: bool = Field(False, description="only licenses that permit commercial use")
    deny_clauses: list[Clause] = Field(default_factory=list)


class OriginPolicy(_Section):
    exclude_countries: list[str] = Field(
        default_factory=list, description="ISO 3166-1 alpha-2 codes of developing organisations"
    )

    @field_validator("exclude_countries")
    @classmethod
    def _iso(cls, codes: list[str]) -> list[str]:
        wrong = []
        for code in codes:
            if code.upper() not in ISO_COUNTRIES:
                hint = country_code_for(code)
                wrong.append(repr(code) + (f" (did you mean {hint!r}?)" if hint else ""))
        if wrong:
            raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(wrong)}")
        return [c.upper() for c in codes]


def country_code_for(name: str) -> str | None:
    """The alpha-2 code of a country written by name or alpha-3 (`China`, `USA`), if one."""
    import pycountry  # only on this error path: its tables are large

    if name.strip().upper() == "UK":  # ISO reserves UK for GB; people write it anyway
        return "GB"
    try:
        return str(pycountry.countries.lookup(name.strip()).alpha_2)
    except LookupError:
        pass
    try:
        found = pycountry.countries.search_fuzzy(name.strip())
    except LookupError:
        return None
    return str(found[0].alpha_2) if len(found) == 1 else None


class GPURequirement(_Section):
    model: str | None = Field(None, description="a GPU of the catalog's GPU table")
    vram_gb: GB | None = Field(None, description="instead of or besides `model`")
    count: Count = 1
    bandwidth_gb_s: Rate | None = None
    cost_per_hour: Price | None = Field(
        None, description="the team's own price of one such GPU per hour (any currency)"
    )

    @model_validator(mode="after")
    def _named_or_sized(self) -> GPURequirement:
        if self.model is None and self.vram_gb is None:
            raise ValueError("a GPU needs `model` or `vram_gb`")
        return self


class HardwareSpec(_Section):
    detect: bool = Field(False, description="use this machine's hardware")
    cpu_only: bool = False
    gpus: list[GPURequirement] = Field(default_factory=list)
    ram_gb: GB | None = None
    ram_bandwidth_gb_s: Rate | None = Field(
        None, description="system memory bandwidth for CPU decode estimates"
    )
    allow_offload: bool = Field(
        False, description="accept models that fit only by offloading layers to CPU RAM"
    )
    cpu_cores: Count | None = Field(
        None, description="physical CPU cores for CPU estimates (default: 4, or this machine's)"
    )

    @model_validator(mode="after")
    def _coherent(self) -> HardwareSpec:
        if self.detect and (self.gpus or self.ram_gb or self.cpu_only or self.cpu_cores):
            raise ValueError(
                "`detect = true` cannot be combined with declared gpus, ram_gb, cpu_cores "
                "or cpu_only"
            )
        if self.cpu_only and self.gpus:
            raise ValueError("`cpu_only = true` cannot be combined with gpus")
        if self.cpu_only and self.ram_gb is None:
            raise ValueError("`cpu_only = true` needs ram_gb")
        return self

    @property
    def declared(self) -> bool:
        return not self.detect and bool(self.gpus or self.ram_gb or self.cpu_only)


class LatencyTargets(_Section):
    min_decode_tokens_per_s: Rate | None = None
    max_time_to_first_token_ms: (
        Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S * 1000, allow_inf_nan=False)] | None
    ) = None
    prompt_tokens: Annotated[int, Field(gt=0, le=MAX_CONTEXT)] = Field(
        DEFAULT_PROMPT_TOKENS, description="prompt length the time-to-first-token check assumes"
    )


class SizeBudget(_Section):
    max_params_b: ParamsB | None = Field(None, description="total parameters, billions")
    max_disk_gb: GB | None = None
    quantization: str = Field(
        DEFAULT_QUANTIZATION,
        description="auto (best that fits, per model), a GGUF preset (Q4_K_M) or a serving "
        "precision (BF16, FP8, AWQ-INT4, GPTQ-INT4, MXFP4, NVFP4)",
    )
    target_params_b: float = Field(
        DEFAULT_TARGET_PARAMS_B,
        ge=0.01,
        le=MAX_PARAMS_B,
        allow_inf_nan=False,
        description="centre of the size preference",
    )

    @field_validator("quantization")
    @classmethod
    def _known_quant(cls, value: str) -> str:
        from selector.fit.precision import normalize_quantization

        return normalize_quantization(value)


Engine = Literal["auto", "llama.cpp", "vllm", "sglang"]


class DeploymentSpec(_Section):
    """How the model is served; every default is chosen per candidate and reported in its fit."""

    engine: Engine = Field(
        "auto",
        description="auto: vLLM on data-center/workstation GPUs, llama.cpp on CPU, Apple and a "
        "single consumer GPU",
    )
    tensor_parallel: Count | None = Field(
        None, description="GPUs one replica spans (default: the fewest that hold the load)"
    )
    pipeline_parallel: Count | None = Field(
        None, description="pipeline stages (default: 1 unless tensor parallelism cannot hold it)"
    )
    gpu_memory_utilization: float | None = Field(
        None,
        gt=0,
        le=1,
        description="vLLM --gpu-memory-utilization / SGLang --mem-fraction-static (default: "
        "vLLM 0.9, SGLang's own by GPU size)",
    )
    kv_cache_dtype: Literal["auto", "fp8"] = Field(
        "auto", description="KV cache precision: auto (the model's dtype) or fp8"
    )


class EndpointSpec(_Section):
    model_id: str = Field(description="catalog id of the model the server serves")
    base_url: str = Field(
        json_schema_extra={"pattern": r"^https?://"},
        description="OpenAI-compatible base URL, e.g. .../v1; no credentials, no query",
    )
    served_model: str = Field(description="model name the server expects")
    api_key_env: str | None = Field(
        None,
        json_schema_extra={"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        description="NAME of the environment variable holding the key (never the key)",
    )

    @field_validator("base_url")
    @classmethod
    def _safe_url(cls, value: str) -> str:
        # refused here, at load time: a URL with a key in it would be printed in the report
        problem = base_url_problem(value)
        if problem:
            raise ValueError(f"base URL {problem}")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        problem = env_name_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"api_key_env {problem}")
        return value


class SmokeOptions(_Section):
    enabled: bool = True
    models_dir: Path | None = None
    timeout_s: float = Field(120, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    n_ctx: Tokens = 2048
    threads: Count | None = None
    concurrency: Count = Field(4, description="endpoints probed at once")
    endpoints: list[EndpointSpec] = Field(default_factory=list)
    memory_limit_gb: GB | None = Field(
        None,
        description="private memory (GiB) a local llama.cpp smoke run may allocate, the mapped "
        "model file not counted; default: 85% of the available RAM less the model file",
    )
    suites: list[Path] = Field(
        default_factory=list,
        max_length=256,
        description="your own probe files (TOML, docs/smoke.md), relative to this file",
    )
    repeats: int = Field(
        1, ge=1, le=MAX_REPEATS, description="runs of the probe suite (needs temperature > 0)"
    )
    seed: int = Field(0, ge=0, lt=2**31, description="seed of the first run; run k uses seed + k")
    temperature: float = Field(
        0.0, ge=0, le=2, allow_inf_nan=False, description="sampling temperature; 0 = greedy"
    )

    @field_validator("models_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        try:
            return value.expanduser() if value is not None else None
        except RuntimeError:  # ~nosuchuser
            raise ValueError(f"cannot expand '~' in {str(value)!r}: no such user") from None

    @model_validator(mode="after")
    def _repeats_need_sampling(self) -> SmokeOptions:
        if self.repeats > 1:  # the smoke models load only when repeats are asked for
            from selector.smoke.interface import repeats_problem

            problem = repeats_problem(self.repeats, self.temperature)
            if problem:
                raise ValueError(problem)
        return self


class RankingWeights(_Section):
    quality: Weight = 0.35
    size_preference: Weight = 0.25
    license: Weight = 0.15
    tooling: Weight = 0.15
    smoke: Weight = 0.10

    @model_validator(mode="after")
    def _not_all_zero(self) -> RankingWeights:
        if not any(self.model_dump().values()):
            raise ValueError("every weight is 0, so every score would be 0: give one above 0")
        return self


class RankingOptions(_Section):
    weights: RankingWeights = Field(default_factory=RankingWeights)
    size_width: float = Field(
        1.24,
        ge=0.05,
        le=100,
        allow_inf_nan=False,
        description="σ of the log-normal size preference; 1.24 halves the score at 7B",
    )


class Requirements(_Section):
    """A deployment's needs. Every section is optional; an empty file means no constraints."""

    use_case: UseCase = Field(default_factory=UseCase)
    license: LicensePolicy = Field(default_factory=LicensePolicy)
    origin: OriginPolicy = Field(default_factory=OriginPolicy)
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    latency: LatencyTargets = Field(default_factory=LatencyTargets)
    size: SizeBudget = Field(default_factory=SizeBudget)
    deployment: DeploymentSpec = Field(default_factory=DeploymentSpec)
    smoke: SmokeOptions = Field(default_factory=SmokeOptions)
    ranking: RankingOptions = Field(default_factory=RankingOptions)

    @model_validator(mode="after")
    def _engine_takes_the_quantization(self) -> Requirements:
        from selector.fit.precision import quantization_family

        quant, engine = self.size.quantization, self.deployment.engine
        if quant == "auto" or engine == "auto":
            return self
        family = quantization_family(quant)
        if family == "gguf" and engine in ("vllm", "sglang"):
            raise ValueError(
                f"size.quantization = {quant!r} is a GGUF preset, but deployment.engine = "
                f"{engine!r} serves safetensors checkpoints (BF16, FP8, AWQ-INT4, ...)"
            )
        if family == "serving" and engine == "llama.cpp":
            raise ValueError(
                f"size.quantization = {quant!r} is a serving precision, but deployment.engine = "
                "'llama.cpp' loads GGUF presets (Q8_0, Q4_K_M, ...)"
            )
        return self


def parse_requirements(data: dict[str, Any], path: Path, text: str = "") -> Requirements:
    try:
        return Requirements.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, path, text, Requirements)
        raise RequirementsError("\n".join(map(str, problems))) from None


def load_requirements(path: Path, catalog: Any = None) -> Requirements:
    """Read and validate a requirements file; every problem is a `RequirementsError`.

    With a catalog, license ids, GPU models and endpoint model ids are checked against it too.
    """
    data, text = read_toml(path, RequirementsError)
    req = parse_requirements(data, path, text)
    if req.smoke.models_dir is not None and not req.smoke.models_dir.is_absolute():
        # A relative models_dir is relative to the requirements file, like paths in pyproject.
        req.smoke.models_dir = (path.parent / req.smoke.models_dir).resolve()
    if req.smoke.suites:
        # probe files are relative to the requirements file too, and checked now (exit 2)
        from selector.smoke.probes import load_probe_files

        req.smoke.suites = [
            p if p.expanduser().is_absolute() else (path.parent / p).resolve()
            for p in (s.expanduser() for s in req.smoke.suites)
        ]
        load_probe_files(req.smoke.suites)
    if catalog is not None:
        check_against_catalog(req, catalog, path, text)
    return req


def check_against_catalog(req: Requirements, catalog: Any, path: Path, text: str = "") -> None:
    """Names the requirements file uses that only the catalog can confirm."""
    problems: list[Problem] = []

    def report(loc: tuple[str | int, ...], message: str) -> None:
        line = locate(text, loc) if text else None
        key = ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[")
        problems.append(Problem(path, line, message, key=key))

    known = {lic.id.lower() for lic in catalog.licenses.values()}
    known |= {lic.spdx.lower() for lic in catalog.licenses.values() if lic.spdx}
    for i, name in enumerate(req.license.allow or []):
        if name.lower() not in known:
            names = [lic.id for lic in catalog.licenses.values()]
            names += [lic.spdx for lic in catalog.licenses.values() if lic.spdx]
            report(("license", "allow", i), f"unknown license {name!r}{did_you_mean(name, names)}")
    for i, gpu in enumerate(req.hardware.gpus):
        if gpu.model is not None and catalog.find_gpu(gpu.model) is None and gpu.vram_gb is None:
            hint = did_you_mean(gpu.model, catalog.gpu_names())
            report(
                ("hardware", "gpus", i, "model"),
                f"unknown GPU {gpu.model!r}{hint}; give vram_gb for a GPU not in the catalog",
            )
    for i, endpoint in enumerate(req.smoke.endpoints):
        if endpoint.model_id not in catalog.models:
            hint = did_you_mean(endpoint.model_id, catalog.models)
            report(
                ("smoke", "endpoints", i, "model_id"),
                f"unknown catalog model {endpoint.model_id!r}{hint}",
            )
    if problems:
        raise RequirementsError("\n".join(map(str, problems)))


def requirements_json_schema() -> dict[str, Any]:
    """The JSON Schema of the requirements file, generated from the models above."""
    schema = Requirements.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "selector requirements file"
    return schema
