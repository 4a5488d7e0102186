"""Which catalog entry a local file is: by sha256 against the catalog's pinned artifacts first
(exact), then by name, then by what the GGUF says about itself (architecture, name, size, tune).

Hashing is the expensive step, so a file is hashed only when it could be a pinned artifact: its
size equals a pinned file's size, or its location or name says it is one. Everything else is
matched from its header, which is a few kilobytes to read (selector/gguf_header.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selector.catalog import Catalog
from selector.catalog.schema import Artifact
from selector.weights.hashing import file_sha256, known_sha256
from selector.weights.model import Candidate, HashStatus, LocalWeights, MatchKind, Source

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
    # hash only what could be a pinned artifact: its size is a pinned size, or it says it is one
    could_be_pinned = first_size in index.pinned_sizes or (
        pin_sha is not None and pin_size in (None, first_size)
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

    from selector.gguf_header import GGUFFormatError
    from selector.weights.gguf_meta import match_entry, read_gguf_metadata

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
