"""How `catalog list` and `catalog show` present the catalog (pure functions to text/JSON)."""

from __future__ import annotations

import io
from typing import Any

from selector.catalog.loader import Catalog
from selector.catalog.schema import License, ModelEntry
from selector.textsafe import clean, rich_text


def catalog_row(model: ModelEntry, lic: License) -> dict[str, Any]:
    """The SPEC §1 fields of `catalog list --format json`, plus a few that scripts use."""
    return {
        "id": model.id,
        "name": model.name,
        "family": model.family,
        "organization": model.organization,
        "origin_country": model.origin_country,
        "release_date": model.release_date.isoformat(),
        "params_b": model.params_b,
        "active_params_b": model.active_b,
        "architecture": model.architecture.value,
        "context_tokens": model.context_tokens,
        "license": lic.spdx or lic.id,
        "license_id": lic.id,
        "tuning": model.tuning.value,
        "capabilities": [c.value for c in model.capabilities],
        "runtimes": [r.value for r in model.runtimes],
        "unverified": list(model.unverified),
        "sources": [str(s) for s in model.sources],
    }


def catalog_rows(cat: Catalog) -> list[dict[str, Any]]:
    return [
        catalog_row(m, cat.licenses[m.license])
        for m in sorted(cat.models.values(), key=lambda m: m.id)
    ]


def format_catalog_table(rows: list[dict[str, Any]], *, color: bool = False) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(
        file=buf, width=140, force_terminal=color, color_system="auto" if color else None
    )
    table = Table(title=f"{len(rows)} model variants")
    for col in ("id", "organization", "origin", "released", "params", "arch", "context", "license"):
        table.add_column(col, justify="right" if col in ("params", "context") else "left")
    for r in rows:
        params = f"{r['params_b']:g}B"
        if r["active_params_b"] != r["params_b"]:
            params += f"/{r['active_params_b']:g}B"
        cells = (
            r["id"],
            r["organization"],
            r["origin_country"],
            r["release_date"],
            params,
            r["architecture"],
            f"{r['context_tokens']:,}",
            r["license"],
        )
        table.add_row(*(rich_text(cell) for cell in cells))  # catalog text is never markup
    console.print(table)
    return buf.getvalue()


def format_model_detail(model: ModelEntry, lic: License) -> str:
    """Every fact of one entry, one per line, with the license terms and the sources last."""
    lines = [f"{model.name} ({model.id})", ""]
    data = model.model_dump(mode="json", exclude={"sources", "benchmarks", "attention", "moe"})
    for key, value in data.items():
        if value in ("", [], None):
            continue
        lines.append(f"  {key}: {value}")
    att = model.attention.model_dump(exclude_none=True)
    lines.append("  attention: " + ", ".join(f"{k}={v}" for k, v in att.items()))
    if model.moe:
        lines.append("  moe: " + ", ".join(f"{k}={v}" for k, v in model.moe.model_dump().items()))
    if model.benchmarks:
        lines.append("  benchmarks:")
        for b in model.benchmarks:
            who = "vendor-reported" if b.vendor_reported else "independent"
            setting = f" [{b.setting}]" if b.setting else ""
            lines.append(f"    {b.name}{setting}: {b.score:g} ({who}; {b.source})")
    lines.append(
        f"  license: {lic.name} (SPDX {lic.spdx or 'none'}), commercial use: {lic.commercial_use}"
    )
    for clause in lic.clauses:
        threshold = f" [{clause.threshold}]" if clause.threshold else ""
        lines.append(f"    - {clause.kind.value}{threshold}: {clause.detail}")
    lines.append("  sources:")
    lines += [f"    - {s}" for s in model.sources]
    # a user's catalog file may hold ESC sequences: shown as escapes, never sent to the terminal
    return "\n".join(clean(line) for line in lines) + "\n"
