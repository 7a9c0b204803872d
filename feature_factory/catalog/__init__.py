"""The feature catalog: declarative specs (`spec.py`), loaded and validated by `loader.py`.

API used across the project:
    catalog = load_catalog()            # the shipped catalog (or a path to another YAML file)
    catalog.computed()                  # specs with lifecycle draft/active/deprecated
    catalog.served()                    # active/deprecated (online table, inference)
    catalog.trainable()                 # active/deprecated (training)
    catalog.get("revenue_7d")           # KeyError naming the feature if unknown
    load_sources().get("events")        # where rows come from and their rules (sources.py)
"""

from feature_factory.catalog.spec import DType, Expectations, FeatureSpec, Lifecycle
from feature_factory.catalog.loader import Catalog, CatalogError, load_catalog
from feature_factory.catalog.sources import ColumnSpec, SourceCatalog, SourceSpec, load_sources

__all__ = [
    "Catalog",
    "CatalogError",
    "ColumnSpec",
    "DType",
    "Expectations",
    "FeatureSpec",
    "Lifecycle",
    "SourceCatalog",
    "SourceSpec",
    "load_catalog",
    "load_sources",
]
