"""The feature catalog: declarative specs (`spec.py`), loaded and validated by `loader.py`.

API used across the project:
    catalog = load_catalog()            # the shipped catalog (or a path to another YAML file)
    catalog.computed()                  # specs with lifecycle draft/active/deprecated
    catalog.served()                    # active/deprecated (online table, inference)
    catalog.trainable()                 # active/deprecated (training)
    catalog.get("revenue_7d")           # KeyError naming the feature if unknown
"""

from feature_factory.catalog.spec import DType, Expectations, FeatureSpec, Lifecycle
from feature_factory.catalog.loader import Catalog, CatalogError, load_catalog

__all__ = [
    "Catalog",
    "CatalogError",
    "DType",
    "Expectations",
    "FeatureSpec",
    "Lifecycle",
    "load_catalog",
]
