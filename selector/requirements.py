"""The requirements file (SPEC §2): pydantic models, loading, and checks against the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from selector.errors import RequirementsError
from selector.tomlio import describe_validation_error, did_you_mean, locate, read_toml
from selector.vocab import ISO_COUNTRIES, Capability, Clause

DEFAULT_CONTEXT_TOKENS = 8192
DEFAULT_QUANTIZATION = "Q4_K_M"
DEFAULT_TARGET_PARAMS_B = 30.0

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UseCase(_Section):
    name: str = ""
    needs: list[Capability] = Field(default_factory=list, description="capabilities required")
    context_tokens: PositiveInt = Field(
        DEFAULT_CONTEXT_TOKENS, description="context the deployment must hold (fit is sized for it)"
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
        for code in codes:
            if code.upper() not in ISO_COUNTRIES:
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
        return [c.upper() for c in codes]


class GPURequirement(_Section):
    model: str | None = Field(None, description="a GPU of the catalog's GPU table")
    vram_gb: PositiveFloat | None = Field(None, description="instead of or besides `model`")
    count: PositiveInt = 1
    bandwidth_gb_s: PositiveFloat | None = None

    @model_validator(mode="after")
    def _named_or_sized(self) -> GPURequirement:
        if self.model is None and self.vram_gb is None:
            raise ValueError("a GPU needs `model` or `vram_gb`")
        return self


class HardwareSpec(_Section):
    detect: bool = Field(False, description="use this machine's hardware")
    cpu_only: bool = False
    gpus: list[GPURequirement] = Field(default_factory=list)
    ram_gb: PositiveFloat | None = None
    ram_bandwidth_gb_s: PositiveFloat | None = Field(
        None, description="system memory bandwidth for CPU decode estimates"
    )
    allow_offload: bool = Field(
        False, description="accept models that fit only by offloading layers to CPU RAM"
    )

    @model_validator(mode="after")
    def _coherent(self) -> HardwareSpec:
        if self.detect and (self.gpus or self.ram_gb or self.cpu_only):
            raise ValueError(
                "`detect = true` cannot be combined with declared gpus, ram_gb or cpu_only"
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
    min_decode_tokens_per_s: PositiveFloat | None = None
    max_time_to_first_token_ms: PositiveFloat | None = None


class SizeBudget(_Section):
    max_params_b: PositiveFloat | None = Field(None, description="total parameters, billions")
    max_disk_gb: PositiveFloat | None = None
    quantization: str = Field(DEFAULT_QUANTIZATION, description="quant assumed for fit and disk")
    target_params_b: PositiveFloat = Field(
        DEFAULT_TARGET_PARAMS_B, description="centre of the size preference"
    )

    @field_validator("quantization")
    @classmethod
    def _known_quant(cls, value: str) -> str:
        from selector.fit.quant import normalize_quant

        return normalize_quant(value)


class EndpointSpec(_Section):
    model_id: str = Field(description="catalog id of the model the server serves")
    base_url: str = Field(
        pattern=r"^https?://", description="OpenAI-compatible base URL, e.g. .../v1"
    )
    served_model: str = Field(description="model name the server expects")
    api_key_env: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the key",
    )


class SmokeOptions(_Section):
    enabled: bool = True
    models_dir: Path | None = None
    timeout_s: PositiveFloat = 120
    n_ctx: PositiveInt = 2048
    threads: PositiveInt | None = None
    concurrency: PositiveInt = Field(4, description="endpoints probed at once")
    endpoints: list[EndpointSpec] = Field(default_factory=list)
    memory_limit_gb: PositiveFloat | None = Field(
        None,
        description="private memory (GiB) a local llama.cpp smoke run may allocate, the mapped "
        "model file not counted; default: 85% of the available RAM less the model file",
    )

    @field_validator("models_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


class RankingWeights(_Section):
    quality: float = Field(0.35, ge=0)
    size_preference: float = Field(0.25, ge=0)
    license: float = Field(0.15, ge=0)
    tooling: float = Field(0.15, ge=0)
    smoke: float = Field(0.10, ge=0)


class RankingOptions(_Section):
    weights: RankingWeights = Field(default_factory=RankingWeights)
    size_width: PositiveFloat = Field(
        1.24, description="σ of the log-normal size preference; 1.24 halves the score at 7B"
    )


class Requirements(_Section):
    """A deployment's needs. Every section is optional; an empty file means no constraints."""

    use_case: UseCase = Field(default_factory=UseCase)
    license: LicensePolicy = Field(default_factory=LicensePolicy)
    origin: OriginPolicy = Field(default_factory=OriginPolicy)
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    latency: LatencyTargets = Field(default_factory=LatencyTargets)
    size: SizeBudget = Field(default_factory=SizeBudget)
    smoke: SmokeOptions = Field(default_factory=SmokeOptions)
    ranking: RankingOptions = Field(default_factory=RankingOptions)


def parse_requirements(data: dict[str, Any], path: Path, text: str = "") -> Requirements:
    try:
        return Requirements.model_validate(data)
    except ValidationError as exc:
        lines = describe_validation_error(exc, path, text, Requirements)
        raise RequirementsError("\n".join(lines)) from None


def load_requirements(path: Path, catalog: Any = None) -> Requirements:
    """Read and validate a requirements file; every problem is a `RequirementsError`.

    With a catalog, license ids, GPU models and endpoint model ids are checked against it too.
    """
    data, text = read_toml(path, RequirementsError)
    req = parse_requirements(data, path, text)
    if req.smoke.models_dir is not None and not req.smoke.models_dir.is_absolute():
        # A relative models_dir is relative to the requirements file, like paths in pyproject.
        req.smoke.models_dir = (path.parent / req.smoke.models_dir).resolve()
    if catalog is not None:
        check_against_catalog(req, catalog, path, text)
    return req


def check_against_catalog(req: Requirements, catalog: Any, path: Path, text: str = "") -> None:
    """Names the requirements file uses that only the catalog can confirm."""
    problems: list[str] = []

    def report(loc: tuple[str | int, ...], message: str) -> None:
        line = locate(text, loc) if text else None
        where = f"{path}:{line}" if line else str(path)
        key = ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[")
        problems.append(f"{where}: {key}: {message}")

    known = {lic.id.lower() for lic in catalog.licenses.values()}
    known |= {lic.spdx.lower() for lic in catalog.licenses.values() if lic.spdx}
    for i, name in enumerate(req.license.allow or []):
        if name.lower() not in known:
            names = [lic.spdx or lic.id for lic in catalog.licenses.values()]
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
        raise RequirementsError("\n".join(problems))


def requirements_json_schema() -> dict[str, Any]:
    """The JSON Schema of the requirements file, generated from the models above."""
    schema = Requirements.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "selector requirements file"
    return schema
