"""What a GGUF file says about itself, and which catalog entry that makes it (by metadata).

Imports the `gguf` package (and numpy) through selector/gguf_header.py, so selector/weights/
imports this module only when a header has to be read: a listing of files matched by their
remembered sha256 never pays for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gguf import LlamaFileType

from selector.catalog import Catalog, ModelEntry
from selector.gguf_header import GGUFHeader, read_gguf_header
from selector.vocab import Tuning


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
