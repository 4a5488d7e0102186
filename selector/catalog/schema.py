"""Pydantic models of the catalog: model variants, licenses and GPUs (SPEC §4).

The models are the schema: `catalog validate` and docs/catalog.md both follow them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from selector.vocab import (
    ISO_COUNTRIES,
    Architecture,
    Capability,
    Clause,
    Modality,
    Runtime,
    Tuning,
)

CatalogId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)]
# Upper bounds far above any real model or GPU, low enough that nothing sized from a catalog
# number (per-layer lists, KV figures) can exhaust memory or overflow: `layers = 10**12` is a
# validation problem, not an allocation.
MAX_LAYERS = 10_000
MAX_DIMENSION = 1 << 28  # heads, widths, vocabulary, context tokens, experts
MAX_PARAMS_B = 1e5  # 100T parameters
Positive = Annotated[float, Field(gt=0, le=MAX_PARAMS_B, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0, le=MAX_DIMENSION)]
LayerCount = Annotated[int, Field(gt=0, le=MAX_LAYERS)]


class _Strict(BaseModel):
    # defer_build: a run that reads the catalog from its cache never validates, so it need
    # not pay for building these validators at import.
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False, defer_build=True)


class CompressedKV(_Strict):
    """Layers whose cache keeps one row per `ratio` tokens of the context (DeepSeek V4).

    DeepSeek V4's Compressed Sparse Attention (ratio 4, with a lightning indexer whose keys are
    compressed at the same ratio) and Heavily Compressed Attention (ratio 128) pool `ratio`
    consecutive tokens into one row of `head_dim` values per KV head. These rows come on top of
    the sliding window every V4 layer keeps (`sliding_window`, `sliding_layers`).
    """

    layers: PositiveInt
    ratio: int = Field(ge=2, description="tokens pooled into one cached row")
    indexer_head_dim: int = Field(
        0, ge=0, description="width of the indexer key cached per compressed row (CSA); 0 = none"
    )


class Attention(_Strict):
    """The numbers the KV cache is computed from, as in the model's config.json.

    `global_layers` hold a KV cache that grows with the context; `sliding_layers` hold at most
    `sliding_window` tokens. Layers counted in neither (Mamba, linear attention) keep a fixed
    recurrent state instead. MLA models (DeepSeek V3, Kimi, GLM-5) cache one compressed latent of
    `mla_kv_dim` values per token and layer instead of K and V per head; for them `head_dim` is
    the query/key head width (qk_nope + qk_rope), which no formula reads for the cache.
    `compressed` describes DeepSeek V4's compressed layers (see `CompressedKV`).
    """

    heads: PositiveInt
    kv_heads: PositiveInt
    head_dim: PositiveInt
    global_layers: LayerCount | None = Field(
        None, description="layers with a full-context KV cache; default: all layers"
    )
    sliding_window: PositiveInt | None = None
    sliding_layers: int = Field(0, ge=0, le=MAX_LAYERS)
    sliding_kv_heads: PositiveInt | None = Field(None, description="default: kv_heads")
    sliding_head_dim: PositiveInt | None = Field(None, description="default: head_dim")
    shared_kv: bool = Field(False, description="K and V are one tensor on global layers (Gemma 4)")
    mla_kv_dim: PositiveInt | None = Field(None, description="latent width per token per layer")
    compressed: list[CompressedKV] = Field(
        default_factory=list, description="DeepSeek V4 compressed layers (CSA/HCA)"
    )

    @model_validator(mode="after")
    def _sliding_consistent(self) -> Attention:
        if self.sliding_layers and self.sliding_window is None:
            raise ValueError("sliding_layers is set but sliding_window is not")
        if self.compressed and self.mla_kv_dim:
            raise ValueError("compressed and mla_kv_dim describe different caches; set one")
        return self

    @property
    def compressed_layers(self) -> int:
        return sum(c.layers for c in self.compressed)


class MoE(_Strict):
    experts: PositiveInt
    experts_per_token: PositiveInt
    shared_experts: int = Field(0, ge=0, le=MAX_DIMENSION)

    @model_validator(mode="after")
    def _routed_within(self) -> MoE:
        if self.experts_per_token > self.experts:
            raise ValueError("experts_per_token exceeds experts")
        return self


Evaluator = Literal["vendor", "independent", "competitor"]


class Benchmark(_Strict):
    """One public score, who measured it and in which setting.

    `evaluator`: "vendor" (the model's developer), "independent" (a party with no competing
    model, e.g. a benchmark's maintainers) or "competitor" (a vendor of a competing model, such
    as Qwen's comparison columns); `evaluated_by` names who, when it is not the vendor.
    `vendor_reported` stays for compatibility and follows `evaluator`. `thinking` and `shots`
    record the setting where the source states it (None: not stated).
    """

    name: str
    score: float = Field(ge=-1e6, le=1e6, allow_inf_nan=False)
    setting: str = ""
    source: HttpUrl
    vendor_reported: bool = True
    evaluator: Evaluator | None = Field(None, description="default: from vendor_reported")
    evaluated_by: str = ""
    thinking: bool | None = Field(None, description="scored in thinking (reasoning) mode")
    shots: int | None = Field(None, ge=0, description="few-shot examples, where stated")

    @model_validator(mode="before")
    @classmethod
    def _evaluator_defaults(cls, data: Any) -> Any:
        """`evaluator` and `vendor_reported` agree; either one given sets the other."""
        if not isinstance(data, dict):
            return data
        evaluator, reported = data.get("evaluator"), data.get("vendor_reported")
        if evaluator is not None and reported is None:
            data = {**data, "vendor_reported": evaluator == "vendor"}
        elif evaluator is not None and bool(reported) != (evaluator == "vendor"):
            raise ValueError(f"evaluator {evaluator!r} contradicts vendor_reported = {reported}")
        return data

    @model_validator(mode="after")
    def _evaluator_named(self) -> Benchmark:
        if self.evaluator == "competitor" and not self.evaluated_by:
            raise ValueError("a competitor's evaluation names the competitor in evaluated_by")
        return self

    @property
    def evaluated_as(self) -> str:
        """vendor, independent or competitor: who published this figure."""
        if self.evaluator is not None:
            return self.evaluator
        return "vendor" if self.vendor_reported else "independent"


class ModelEntry(_Strict):
    """One model variant: everything filtering, fit and ranking read, each fact sourced."""

    id: CatalogId
    name: str
    family: CatalogId
    organization: str
    origin_country: str
    release_date: dt.date
    params_b: Positive = Field(description="total parameters, billions")
    active_params_b: Positive | None = Field(None, description="MoE: parameters used per token")
    architecture: Architecture
    layers: LayerCount
    hidden_size: PositiveInt | None = None
    vocab_size: PositiveInt | None = None
    attention: Attention
    moe: MoE | None = None
    context_tokens: PositiveInt = Field(description="native context window")
    license: CatalogId
    tuning: Tuning = Tuning.INSTRUCT
    modalities: list[Modality] = Field(default_factory=lambda: [Modality.TEXT])
    capabilities: list[Capability] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    runtimes: list[Runtime] = Field(default_factory=list)
    tool_call_format: str = ""
    base_weights_published: bool | None = None
    fine_tuning_notes: str = ""
    hf_repo: str = ""
    gguf_arch: str = Field("", description="llama.cpp `general.architecture`, for discovery")
    gguf_files: list[str] = Field(default_factory=list, description="known GGUF file names")
    benchmarks: list[Benchmark] = Field(default_factory=list)
    unverified: list[str] = Field(
        default_factory=list, description="fields whose value is not confirmed by a primary source"
    )
    notes: str = ""
    sources: list[HttpUrl] = Field(min_length=1)
    last_verified: dt.date | None = Field(
        None, description="when the entry's facts were last checked against its sources"
    )
    benchmark_gap: str = Field(
        "", description="why no MMLU-Pro / GPQA-Diamond figure is recorded, where none is"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        if self.origin_country not in ISO_COUNTRIES:
            raise ValueError(f"origin_country {self.origin_country!r} is not ISO 3166-1 alpha-2")
        is_moe = self.architecture is Architecture.MOE or self.moe is not None
        if is_moe and self.active_params_b is None:
            raise ValueError("a mixture-of-experts model needs active_params_b")
        if self.active_params_b is not None and self.active_params_b > self.params_b:
            raise ValueError("active_params_b exceeds params_b")
        att = self.attention
        if att.heads % att.kv_heads:
            raise ValueError("attention.kv_heads does not divide attention.heads")
        if att.sliding_kv_heads and att.heads % att.sliding_kv_heads:
            raise ValueError("attention.sliding_kv_heads does not divide attention.heads")
        kv_layers = (att.global_layers or 0) + att.sliding_layers
        if kv_layers > self.layers:
            raise ValueError("global_layers + sliding_layers exceeds layers")
        if att.compressed_layers > self.layers:
            raise ValueError("attention.compressed layers exceed layers")
        return self

    @property
    def active_b(self) -> float:
        """Parameters read per generated token: all of them for a dense model."""
        return self.active_params_b if self.active_params_b is not None else self.params_b

    @property
    def global_layers(self) -> int:
        att = self.attention
        if att.global_layers is not None:
            return att.global_layers
        return self.layers - att.sliding_layers


class LicenseClause(_Strict):
    kind: Clause
    detail: str
    threshold: str = ""


class License(_Strict):
    """A license the catalog refers to, with the obligations a reviewer must check."""

    id: CatalogId
    name: str
    spdx: str | None = None
    osi_approved: bool
    commercial_use: bool
    version: str = ""
    clauses: list[LicenseClause] = Field(default_factory=list)
    url: HttpUrl
    notes: str = ""
    sources: list[HttpUrl] = Field(min_length=1)
    unverified: list[Literal["clauses", "version", "spdx"]] = Field(
        default_factory=list,
        description="what was not read from the license text itself (quotations, summaries)",
    )
    last_verified: dt.date | None = None

    def has(self, clause: Clause) -> bool:
        return any(c.kind is clause for c in self.clauses)

    @property
    def clauses_verified(self) -> bool:
        """Whether the clause list was read from the license text, not from summaries."""
        return "clauses" not in self.unverified


class GPU(_Strict):
    """An accelerator a team can buy or reserve; Apple parts count their unified memory."""

    id: CatalogId
    model: str
    aliases: list[str] = Field(default_factory=list)
    vendor: str
    segment: str = Field(pattern=r"^(datacenter|workstation|consumer|apple)$")
    vram_gb: float = Field(gt=0, le=1e5, allow_inf_nan=False)
    bandwidth_gb_s: float = Field(gt=0, le=1e7, allow_inf_nan=False)
    fp16_tflops: float | None = Field(
        None, gt=0, le=1e7, allow_inf_nan=False, description="dense FP16/BF16 tensor throughput"
    )
    unified_memory: bool = False
    release_year: int | None = Field(None, ge=1990, le=2100)
    sources: list[HttpUrl] = Field(min_length=1)


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
GitCommit = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
HubRepo = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
]


class ArtifactFile(_Strict):
    """One file of an artifact (a split GGUF has several shards, listed in order)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._/-]*$", description="path in the repo")
    size_bytes: int | None = Field(None, gt=0, le=1 << 50)
    sha256: Sha256 | None = Field(None, description="the LFS object id, from a primary source")

    @model_validator(mode="after")
    def _inside_the_repo(self) -> ArtifactFile:
        if ".." in self.name.split("/"):
            raise ValueError("a file name may not climb out of the repository ('..')")
        return self


class Artifact(_Strict):
    """A published weights artifact of one catalog model, pinned to a repository revision.

    Artifacts live in their own `[[artifact]]` tables (catalog/artifacts/): pins change far
    more often than a model's facts. `format = "gguf"` is a llama.cpp file at a GGUF
    quantization; `"safetensors"` is a serving checkpoint (vLLM/SGLang) at a precision such as
    BF16, FP8, AWQ-INT4, GPTQ-INT4 or MXFP4.
    """

    model: CatalogId = Field(description="the catalog model id this artifact holds")
    format: Literal["gguf", "safetensors"] = "gguf"
    quantization: str = Field(description="GGUF quantization (Q4_K_M) or checkpoint precision")
    repo: HubRepo = Field(description="Hugging Face repository, owner/name")
    revision: GitCommit | None = Field(None, description="the commit the files are pinned to")
    files: list[ArtifactFile] = Field(default_factory=list)
    source: HttpUrl = Field(description="where the file names, sizes and hashes were read")
    publisher: str = Field("", description="who made it: the model's vendor or a quantizer")
    unverified: list[str] = Field(default_factory=list)
    notes: str = ""

    @model_validator(mode="after")
    def _gguf_has_files(self) -> Artifact:
        if self.format == "gguf" and not self.files:
            raise ValueError("a gguf artifact lists its file(s)")
        return self

    @property
    def id(self) -> str:
        """Unique per model, format, quantization and repository."""
        return f"{self.model}:{self.format}:{self.quantization}:{self.repo}"

    @property
    def size_bytes(self) -> int | None:
        """Total over the files, or None when any file's size is unknown."""
        total = 0
        for f in self.files:
            if f.size_bytes is None:
                return None
            total += f.size_bytes
        return total or None


class CatalogFile(_Strict):
    """The shape of one TOML file under catalog/: any mix of the four tables."""

    model: list[ModelEntry] = Field(default_factory=list)
    license: list[License] = Field(default_factory=list)
    gpu: list[GPU] = Field(default_factory=list)
    artifact: list[Artifact] = Field(default_factory=list)
