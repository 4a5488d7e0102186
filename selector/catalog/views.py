"""How `catalog list` and `catalog show` present the catalog (pure functions to text/JSON)."""

from __future__ import annotations

import io
from typing import Any

from selector.catalog.loader import Catalog
from selector.catalog.schema import GPU, Benchmark, License, ModelEntry
from selector.tables import Column, make_console, natural_width, render
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
        "last_verified": model.last_verified.isoformat() if model.last_verified else None,
    }


def catalog_as_of(cat: Catalog) -> str:
    """`as of <newest check> (oldest entry checked <date>)`: how fresh the catalog's facts are.

    The as-of date is the most recent `last_verified` of any model entry; the oldest one tells
    how stale the least recently checked entry may be. Entries without a date are counted.
    """
    dates = sorted(m.last_verified for m in cat.models.values() if m.last_verified)
    missing = sum(1 for m in cat.models.values() if m.last_verified is None)
    if not dates:
        return "as of: unknown (no entry has last_verified)"
    text = f"as of {dates[-1].isoformat()}"
    if dates[0] != dates[-1]:
        text += f" (oldest entry checked {dates[0].isoformat()})"
    if missing:
        text += f"; {missing} entries never verified"
    return text


def catalog_rows(cat: Catalog) -> list[dict[str, Any]]:
    return [
        catalog_row(m, cat.licenses[m.license])
        for m in sorted(cat.models.values(), key=lambda m: m.id)
    ]


# `catalog list` columns, kept in this order when the terminal is narrow (docs/usage.md,
# "Narrow terminals"): the id and what a policy filters on first.
CATALOG_COLUMNS = (
    Column("id", 0),
    Column("organization", 5),
    Column("origin", 3),
    Column("released", 6),
    Column("params", 2, "right"),
    Column("arch", 7),
    Column("context", 4, "right"),
    Column("license", 1),
)


def format_catalog_table(
    rows: list[dict[str, Any]], *, color: bool = False, as_of: str = "", width: int | None = None
) -> str:
    """One line per variant for a terminal `width` wide (None: every column)."""
    title = f"{len(rows)} model variants" + (f", catalog {as_of}" if as_of else "")
    cells = []
    for r in rows:
        params = f"{r['params_b']:g}B"
        if r["active_params_b"] != r["params_b"]:
            params += f"/{r['active_params_b']:g}B"
        values = (
            r["id"],
            r["organization"],
            r["origin_country"],
            r["release_date"],
            params,
            r["architecture"],
            f"{r['context_tokens']:,}",
            r["license"],
        )
        cells.append([rich_text(v) for v in values])  # catalog text is never markup
    return render(title, CATALOG_COLUMNS, cells, width=width, color=color)


def format_model_detail(model: ModelEntry, lic: License) -> str:
    """Every fact of one entry, one per line, with the license terms and the sources last."""
    lines = [f"{model.name} ({model.id})", ""]
    data = model.model_dump(mode="json", exclude={"sources", "benchmarks", "attention", "moe"})
    for key, value in data.items():
        if value in ("", [], None):
            continue
        lines.append(f"  {key}: {value}")
    att = model.attention.model_dump(exclude_none=True, exclude={"compressed"})
    lines.append("  attention: " + ", ".join(f"{k}={v}" for k, v in att.items()))
    for c in model.attention.compressed:
        indexer = f" + indexer key {c.indexer_head_dim}" if c.indexer_head_dim else ""
        lines.append(f"    compressed: {c.layers} layers keep 1 row per {c.ratio} tokens{indexer}")
    if model.moe:
        lines.append("  moe: " + ", ".join(f"{k}={v}" for k, v in model.moe.model_dump().items()))
    if model.benchmarks:
        lines.append("  benchmarks:")
        for b in model.benchmarks:
            lines.append(f"    {_benchmark_line(b)}")
    lines.append(
        f"  license: {lic.name} (SPDX {lic.spdx or 'none'}), commercial use: {lic.commercial_use}"
    )
    if lic.unverified:
        lines.append(
            f"    not read from the license text (unverified): {', '.join(lic.unverified)}"
        )
    for clause in lic.clauses:
        threshold = f" [{clause.threshold}]" if clause.threshold else ""
        lines.append(f"    - {clause.kind.value}{threshold}: {clause.detail}")
    lines.append("  sources:")
    lines += [f"    - {s}" for s in model.sources]
    # a user's catalog file may hold ESC sequences: shown as escapes, never sent to the terminal
    return "\n".join(clean(line) for line in lines) + "\n"


def _benchmark_line(b: Benchmark) -> str:
    """`GPQA-Diamond [thinking; 0-shot; pass@1]: 85.5 (competitor: Alibaba Qwen; URL)`."""
    setting = [] if b.thinking is None else ["thinking" if b.thinking else "non-thinking"]
    if b.shots is not None:
        setting.append(f"{b.shots}-shot")
    if b.setting:
        setting.append(b.setting)
    who = {"vendor": "vendor-reported"}.get(b.evaluated_as, b.evaluated_as)
    if b.evaluated_by and b.evaluated_as != "vendor":
        who += f": {b.evaluated_by}"
    shown = f" [{'; '.join(setting)}]" if setting else ""
    return f"{b.name}{shown}: {b.score:g} ({who}; {b.source})"


def license_row(lic: License, models: list[str]) -> dict[str, Any]:
    """One license for `catalog licenses`: its terms and the catalog models under it."""
    return {
        "id": lic.id,
        "name": lic.name,
        "spdx": lic.spdx,
        "osi_approved": lic.osi_approved,
        "commercial_use": lic.commercial_use,
        "version": lic.version,
        "clauses": [c.model_dump(mode="json") for c in lic.clauses],
        "url": str(lic.url),
        "unverified": list(lic.unverified),
        "last_verified": lic.last_verified.isoformat() if lic.last_verified else None,
        "models": models,
        "sources": [str(u) for u in lic.sources],
    }


def license_rows(cat: Catalog) -> list[dict[str, Any]]:
    users: dict[str, list[str]] = {}
    for m in sorted(cat.models.values(), key=lambda m: m.id):
        users.setdefault(m.license, []).append(m.id)
    return [license_row(lic, users.get(lic.id, [])) for lic in cat.licenses.values()]


def gpu_row(gpu: GPU) -> dict[str, Any]:
    return gpu.model_dump(mode="json")


def gpu_rows(cat: Catalog) -> list[dict[str, Any]]:
    return [gpu_row(g) for g in sorted(cat.gpus.values(), key=lambda g: (g.vendor, g.model))]


def _render(table: Any, *, color: bool, width: int | None) -> str:
    buf = io.StringIO()
    console = make_console(buf, width or max(natural_width(table), 40), color=color)
    console.print(table)
    return buf.getvalue()


def format_license_table(
    rows: list[dict[str, Any]], *, color: bool = False, width: int | None = None
) -> str:
    """Licenses for a terminal `width` wide: long clause lists wrap, nothing is cut; None: as
    wide as the content."""
    from rich.table import Table

    table = Table(title=f"{len(rows)} licenses")
    for col in ("id", "SPDX", "commercial", "OSI", "clauses", "models"):
        table.add_column(col, overflow="fold")
    for r in rows:
        clauses = ", ".join(sorted({c["kind"] for c in r["clauses"]})) or "-"
        if "clauses" in r["unverified"]:
            clauses += " (unverified)"
        table.add_row(
            rich_text(r["id"]),
            rich_text(r["spdx"] or "-"),
            "yes" if r["commercial_use"] else "no",
            "yes" if r["osi_approved"] else "no",
            rich_text(clauses),
            str(len(r["models"])),
        )
    return _render(table, color=color, width=width)


GPU_COLUMNS = (
    Column("id", 0),
    Column("model", 4),
    Column("vendor", 5),
    Column("segment", 3),
    Column("memory", 1, "right"),
    Column("GB/s", 2, "right"),
)


def format_gpu_table(
    rows: list[dict[str, Any]], *, color: bool = False, width: int | None = None
) -> str:
    """GPUs for a terminal `width` wide (None: every column)."""
    cells = [
        [
            rich_text(r["id"]),
            rich_text(r["model"]),
            rich_text(r["vendor"]),
            rich_text(r["segment"]),
            rich_text(f"{r['vram_gb']:g} GB"),
            rich_text(f"{r['bandwidth_gb_s']:g}"),
        ]
        for r in rows
    ]
    return render(f"{len(rows)} GPUs", GPU_COLUMNS, cells, width=width, color=color)


def format_license_detail(row: dict[str, Any]) -> str:
    """Every term of one license, the models under it, and its sources."""
    lines = [f"{row['name']} ({row['id']})", ""]
    lines.append(f"  SPDX: {row['spdx'] or 'none'}; OSI approved: {row['osi_approved']}")
    lines.append(f"  commercial use: {row['commercial_use']}")
    if row["version"]:
        lines.append(f"  version: {row['version']}")
    lines.append(f"  text: {row['url']}")
    if row["unverified"]:
        lines.append(
            f"  NOT read from the license text: {', '.join(row['unverified'])} "
            "(legal review must confirm)"
        )
    if row["last_verified"]:
        lines.append(f"  last verified: {row['last_verified']}")
    for clause in row["clauses"]:
        threshold = f" [{clause['threshold']}]" if clause.get("threshold") else ""
        lines.append(f"    - {clause['kind']}{threshold}: {clause['detail']}")
    lines.append("  models: " + (", ".join(row["models"]) or "none in the catalog"))
    lines.append("  sources:")
    lines += [f"    - {s}" for s in row["sources"]]
    return "\n".join(clean(line) for line in lines) + "\n"


def format_gpu_detail(row: dict[str, Any]) -> str:
    lines = [f"{row['model']} ({row['id']})", ""]
    for key, value in row.items():
        if key in ("id", "model", "sources") or value in (None, [], ""):
            continue
        lines.append(f"  {key}: {value}")
    lines.append("  sources:")
    lines += [f"    - {s}" for s in row["sources"]]
    return "\n".join(clean(line) for line in lines) + "\n"
