"""Which catalog entry a local file is: by sha256 against the catalog's pinned artifacts first
(exact), then by name, then by what the GGUF says about itself (architecture, name, size, tune).

Hashing is the expensive step, so a file is hashed only when it could be a pinned artifact: its
size equals a pinned file's size, or its location or name says it is one. Everything else is
matched from its header, which is a few kilobytes to read (selector/gguf_header.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gguf import LlamaFileType

from selector.catalog import Catalog, ModelEntry
from selector.catalog.schema import Artifact
from selector.gguf_header import GGUFFormatError, GGUFHeader, read_gguf_header
from selector.vocab import Tuning
from selector.weights.hashing import file_sha256, known_sha256
from selector.weights.model import Candidate, HashStatus, LocalWeights, MatchKind, Source

# ------------------------------------------------------------------------------ GGUF metadata


@dataclass(frozen=True)
class GGUFInfo(GGUFHeader):
    """What a GGUF file says about itself, as far as discovery and reports need."""

    @property
    def quantization(self) -> str:
        """`general.file_type` as llama.cpp names it (Q4_K_M, Q8_0, F16...), '' if absent."""
        value = self.get("general.file_type")
        if not isinstance(value, int):
            return ""
        try:
            name = LlamaFileType(value).name
        except ValueError:
            return f"type-{value}"
        return name.removeprefix("MOSTLY_").removeprefix("ALL_")

    @property
    def has_chat_template(self) -> bool:
        return isinstance(self.get("tokenizer.chat_template"), str)

    @property
    def context_length(self) -> int | None:
        value = self.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) else None

    def describe(self) -> str:
        parts = [f"architecture {self.architecture or '?'!r}"]
        for key in ("general.name", "general.size_label", "general.finetune"):
            if self.get(key):
                parts.append(f"{key.split('.')[1]} {self.get(key)!r}")
        return ", ".join(parts)


def read_gguf_metadata(path: Path) -> GGUFInfo:
    """The key/value header of a GGUF file; string arrays are summarised, not read."""
    header = read_gguf_header(path, tensors=False)
    return GGUFInfo(header.path, header.version, header.tensor_count, header.metadata)


def guess_tuning(info: GGUFInfo) -> Tuning:
    """Instruct when the file's name or fine-tune says so; a chat template alone is not proof
    (base GGUFs often ship one), so without a hint the model is judged as base."""
    text = " ".join(
        str(info.get(k, "")) for k in ("general.finetune", "general.name", "general.basename")
    )
    text += " " + info.path.stem
    if re.search(r"(?i)(\binstruct|\bchat\b|(?<![a-z])it(?![a-z])|-it\b|\bthinking\b)", text):
        return Tuning.INSTRUCT
    return Tuning.BASE


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9.]+", text.lower()) if t}


def _size_b(text: str) -> float | None:
    """First parameter count written like 270M, 8B, 1.5B, 8x7B in `text`, in billions."""
    m = re.search(r"(?i)(?:(\d+)x)?(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", text)
    if not m:
        return None
    value = float(m.group(2)) * (1e-3 if m.group(3).lower() == "m" else 1.0)
    return value * int(m.group(1)) if m.group(1) else value


def _size_matches(size_b: float, entry: ModelEntry) -> bool:
    return abs(size_b - entry.params_b) <= 0.2 * entry.params_b + 0.05


def match_entry(
    info: GGUFInfo, catalog: Catalog, *, name: str | None = None
) -> tuple[str | None, str]:
    """The catalog id this file is, by metadata, or None and why not.

    `name` is the file's name where the path does not carry it (an Ollama blob).
    """
    arch = info.architecture
    same_arch = [m for m in catalog.models.values() if m.gguf_arch and m.gguf_arch == arch]
    if not same_arch:
        return None, f"{info.describe()}: no catalog entry has gguf_arch {arch!r}"
    described = " ".join(
        str(info.get(k, ""))
        for k in ("general.name", "general.basename", "general.size_label", "general.finetune")
    )
    size = _size_b(str(info.get("general.size_label", ""))) or _size_b(described)
    tuning = guess_tuning(info)
    file_tokens = _tokens(described) | _tokens(name or info.path.stem)
    scored: list[tuple[float, str]] = []
    for entry in same_arch:
        if size is not None and not _size_matches(size, entry):
            continue
        score = len(_tokens(entry.id) & file_tokens) + (1.0 if entry.tuning is tuning else 0.0)
        scored.append((score, entry.id))
    if not scored:
        size_text = f"{size:g}B parameters" if size is not None else "no size"
        return None, f"{info.describe()}: {size_text} matches no {arch!r} catalog entry"
    scored.sort(reverse=True)
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        tied = ", ".join(i for s, i in scored if s == scored[0][0])
        return None, f"{info.describe()}: ambiguous between {tied}"
    return scored[0][1], "matched by GGUF metadata"


# -------------------------------------------------------------------------- artifact index


@dataclass
class ArtifactIndex:
    """The catalog's GGUF artifacts, looked up by sha256, size, repo file and bare file name."""

    by_sha: dict[str, tuple[Artifact, int]] = field(default_factory=dict)
    pinned_sizes: set[int] = field(default_factory=set)
    by_repo_file: dict[tuple[str, str], Artifact] = field(default_factory=dict)
    by_name: dict[str, list[Artifact]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)  # gguf_files -> model ids

    @classmethod
    def build(cls, catalog: Catalog) -> ArtifactIndex:
        index = cls()
        for art in catalog.artifacts.values():
            if art.format != "gguf":
                continue
            for i, f in enumerate(art.files):
                if f.sha256:
                    index.by_sha.setdefault(f.sha256, (art, i))
                    if f.size_bytes:
                        index.pinned_sizes.add(f.size_bytes)
                index.by_repo_file.setdefault((art.repo.lower(), f.name.lower()), art)
                if i == 0:
                    bare = f.name.rsplit("/", 1)[-1].lower()
                    index.by_name.setdefault(bare, []).append(art)
        for model in catalog.models.values():
            for name in model.gguf_files:
                index.names.setdefault(name.lower(), []).append(model.id)
        return index

    def named(self, cand: Candidate) -> Artifact | None:
        """The artifact this file says it is by where it sits (repo + path in the repo), or by a
        file name only one artifact uses. An Ollama blob has no file name to go by."""
        if cand.repo:
            hit = self.by_repo_file.get((cand.repo.lower(), cand.name.lower()))
            if hit is not None:
                return hit
        if cand.source is Source.OLLAMA:
            return None
        arts = self.by_name.get(cand.name.rsplit("/", 1)[-1].lower(), [])
        return arts[0] if len({a.id for a in arts}) == 1 else None


# ------------------------------------------------------------------------------- identify


def _size(shards: tuple[Path, ...]) -> tuple[int | None, str]:
    total = 0
    for shard in shards:
        try:
            total += shard.stat().st_size
        except OSError as exc:
            return None, f"cannot read {shard.name}: {exc.strerror or exc}"
    return total, ""


def _report(cand: Candidate, **fields: object) -> LocalWeights:
    return LocalWeights(
        path=str(cand.path),
        source=cand.source,
        name=cand.name,
        shards=[str(s) for s in cand.shards] if len(cand.shards) > 1 else [],
        repo=cand.repo,
        revision=cand.revision,
        **fields,
    )


def _pinned(art: Artifact, i: int = 0) -> tuple[str | None, int | None]:
    f = art.files[i] if i < len(art.files) else None
    return (f.sha256, f.size_bytes) if f else (None, None)


def _check_shards(cand: Candidate, art: Artifact, hashing: bool) -> tuple[HashStatus, str]:
    """Every shard of a sha-matched first shard against the artifact's pins."""
    if len(cand.shards) != len(art.files):
        return HashStatus.MISMATCH, (
            f"{len(cand.shards)} file(s) here, the artifact has {len(art.files)}"
        )
    for i, shard in enumerate(cand.shards[1:], start=1):
        sha, size = _pinned(art, i)
        if size is not None and shard.stat().st_size != size:
            return HashStatus.MISMATCH, f"{shard.name}: size differs from the pinned {size}"
        if sha is None:
            return HashStatus.UNKNOWN, f"{art.files[i].name} has no pinned sha256"
        got = known_sha256(shard) or (file_sha256(shard) if hashing else None)
        if got is None:
            return HashStatus.UNKNOWN, f"{shard.name} not hashed"
        if got != sha:
            return HashStatus.MISMATCH, f"{shard.name}: sha256 {got} is not the pinned {sha}"
    return HashStatus.VERIFIED, ""


def identify(
    cand: Candidate, catalog: Catalog, index: ArtifactIndex, *, hashing: bool = True
) -> LocalWeights:
    """What `cand` is. Never raises for a bad file: the reason goes into the report."""
    size, problem = _size(cand.shards)
    if problem or cand.problem:
        return _report(cand, size_bytes=size, reason=cand.problem or problem)
    assert size is not None
    first = cand.path
    named = index.named(cand)
    pin_sha, pin_size = _pinned(named) if named else (None, None)
    first_size = first.stat().st_size
    sha = known_sha256(first)
    could_be_pinned = first_size in index.pinned_sizes or (
        pin_sha is not None and first_size == pin_size
    )
    if sha is None and hashing and could_be_pinned:
        sha = file_sha256(first)

    hit = index.by_sha.get(sha) if sha else None
    if hit is not None and hit[1] == 0:
        art = hit[0]
        status, why = _check_shards(cand, art, hashing)
        return _report(
            cand,
            size_bytes=size,
            catalog_id=art.model,
            quantization=art.quantization,
            match=MatchKind.SHA256,
            hash=status,
            sha256=sha,
            expected_sha256=sha,
            artifact=art.id,
            reason=why,
        )
    if (
        named is not None
        and pin_sha is not None
        and (
            (pin_size is not None and first_size != pin_size)
            or (sha is not None and sha != pin_sha)
        )
    ):
        got = f"sha256 {sha}" if sha else f"size {first_size}"
        want = f"sha256 {pin_sha}" if sha else f"size {pin_size}"
        return _report(
            cand,
            size_bytes=size,
            catalog_id=named.model,
            quantization=named.quantization,
            match=MatchKind.FILENAME,
            hash=HashStatus.MISMATCH,
            sha256=sha,
            expected_sha256=pin_sha,
            artifact=named.id,
            reason=f"{got} is not the pinned {want} of {named.repo}/{named.files[0].name}",
        )

    try:
        info = read_gguf_metadata(first)
    except GGUFFormatError as exc:
        return _report(
            cand, size_bytes=size, sha256=sha, reason=str(exc).removeprefix(f"{first}: ")
        )
    quant = info.quantization or None
    if named is not None:
        return _report(
            cand,
            size_bytes=size,
            catalog_id=named.model,
            quantization=named.quantization,
            match=MatchKind.FILENAME,
            sha256=sha,
            expected_sha256=pin_sha,
            artifact=named.id,
            reason=(
                "the artifact has no pinned sha256"
                if not pin_sha
                else ("" if sha else "not hashed: its hash is unknown")
            ),
        )
    bare = "" if cand.source is Source.OLLAMA else cand.name.rsplit("/", 1)[-1].lower()
    by_name = index.names.get(bare, [])
    if len(by_name) == 1:
        return _report(
            cand,
            size_bytes=size,
            catalog_id=by_name[0],
            quantization=quant,
            match=MatchKind.FILENAME,
            sha256=sha,
        )
    model_id, why = match_entry(info, catalog, name=cand.name if cand.claimed_sha256 else None)
    if model_id is None:
        if len(by_name) > 1:
            why = f"file name is listed by several entries: {', '.join(by_name)}"
        return _report(cand, size_bytes=size, quantization=quant, sha256=sha, reason=why)
    return _report(
        cand,
        size_bytes=size,
        catalog_id=model_id,
        quantization=quant,
        match=MatchKind.METADATA,
        sha256=sha,
    )
