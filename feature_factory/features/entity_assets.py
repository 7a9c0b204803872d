"""The features asset factory, by its older name: `features.assets.entity_assets` builds every
entity's feature and online tables (the customer's included); `definitions(catalog)` here is the
part of the code location that serves the entities other than the customer (product_features,
...), what a catalog adds to the churn example.
"""

import dagster as dg

from feature_factory.catalog import Catalog, load_catalog
from feature_factory.features import assets
from feature_factory.features.assets import entity_assets
from feature_factory.features.entities import other_entities

__all__ = ["definitions", "entity_assets"]


def definitions(catalog: Catalog | None = None) -> dg.Definitions:
    """The assets and checks (expectations, no_duplicate_keys) of every entity other than the
    customer that has features in the catalog (the same factory as the customer's)."""
    catalog = catalog or load_catalog()
    return assets.definitions(catalog, other_entities(catalog))
