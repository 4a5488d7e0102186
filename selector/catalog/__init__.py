"""The curated catalog: schema, loading and checks."""

from selector.catalog.loader import Catalog, builtin_catalog_dir, load_catalog
from selector.catalog.schema import GPU, CatalogFile, License, ModelEntry

__all__ = ["GPU", "Catalog", "CatalogFile", "License", "ModelEntry", "builtin_catalog_dir", "load_catalog"]
