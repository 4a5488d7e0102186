"""How `selector models` presents what it found (pure functions to text / JSON)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from selector.weights.discover import Inventory
from selector.weights.model import HashStatus


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.2f} GB"


def models_json(inv: Inventory) -> str:
    return json.dumps([w.model_dump(mode="json") for w in inv.weights], indent=2) + "\n"


def models_table(inv: Inventory, *, color: bool = False, width: int | None = None) -> str:
    """One row per model file for a terminal `width` wide (long paths wrap, nothing is cut;
    None: as wide as the content); file names and reasons are data (rich Text, never markup)."""
    from rich.table import Table
    from rich.text import Text

    from selector.tables import make_console, natural_width

    matched = sum(w.catalog_id is not None for w in inv.weights)
    table = Table(title=f"{len(inv.weights)} model files, {matched} matched to the catalog")
    for col in ("source", "catalog id", "quant", "size", "hash", "match", "file"):
        table.add_column(col, justify="right" if col == "size" else "left", overflow="fold")
    styles = {HashStatus.VERIFIED: "green", HashStatus.MISMATCH: "bold red"}
    for w in inv.weights:
        same = w.name.rsplit("/", 1)[-1] == Path(w.path).name
        file_text = Text(w.path if same else f"{w.name}: {w.path}")
        if w.reason:
            file_text.append(f"\n{w.reason}", style="dim")
        table.add_row(
            Text(w.source.value),
            Text(w.catalog_id or "-"),
            Text(w.quantization or "-"),
            _size(w.size_bytes),
            Text(w.hash.value, style=styles.get(w.hash, "")),
            Text(w.match.value if w.match else "-"),
            file_text,
        )
    buf = io.StringIO()
    console = make_console(buf, width or max(natural_width(table), 80), color=color)
    console.print(table)
    searched = sorted({str(p) for _, p in inv.searched if Path(p).exists()})
    if searched:
        console.print(Text("searched: " + ", ".join(searched), style="dim"))
    for path, why in inv.problems:
        console.print(Text(f"note: {path}: {why}"))
    return buf.getvalue()
