"""The curated catalog: schema, loading and checks."""

from selector.catalog.checks import ValidationReport, validate_catalog
from selector.catalog.loader import Catalog, builtin_catalog_dir, load_catalog
from selector.catalog.schema import GPU, CatalogFile, License, ModelEntry
from selector.tomlio import Problem

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
