"""The curated catalog: schema, loading and checks.

`validate_catalog` and `ValidationReport` are imported on first use: a run that reads the
validated catalog from its cache never loads the checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from selector.catalog.loader import Catalog, builtin_catalog_dir, load_catalog
from selector.catalog.schema import GPU, CatalogFile, License, ModelEntry
from selector.tomlio import Problem

if TYPE_CHECKING:
    from selector.catalog.checks import ValidationReport, validate_catalog

__all__ = [
    "GPU",
    "Catalog",
    "CatalogFile",
    "License",
    "ModelEntry",
    "Problem",
    "ValidationReport",
    "builtin_catalog_dir",
    "load_catalog",
    "validate_catalog",
]


def __getattr__(name: str) -> Any:
    if name in ("ValidationReport", "validate_catalog"):
        from selector.catalog import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'selector.catalog' has no attribute {name!r}")
