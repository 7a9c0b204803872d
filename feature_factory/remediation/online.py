"""Rebuilding `customer_features_online` after an apply or rollback, through the features module.

The online table belongs to the features domain; we call its builder (which reads through the patch
layer) rather than writing the table ourselves, so there is one definition of what is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from feature_factory import tables
from feature_factory.catalog import Catalog
from feature_factory.features.assets import feature_columns
from feature_factory.features.online import build_online_table
from feature_factory.serving.assets import ASSET as STORE_ASSET
from feature_factory.serving.assets import store_metadata
from feature_factory.serving.config import OnlineStoreResource
from feature_factory.serving.refresh import refresh_store
from feature_factory.warehouse.base import Warehouse


def _builder() -> Callable[[Warehouse, Catalog], Any]:
    """The features domain's online builder (a seam: tests stand in a smaller one)."""
    return build_online_table


def rebuild_online_callback(context, warehouse: Warehouse, catalog: Catalog,
                            online_store: OnlineStoreResource) -> Callable[[], None]:
    """A callback that rebuilds the online table, refreshes the run's online store and reports
    both materializations."""
    build = _builder()

    def rebuild() -> None:
        result = build(warehouse, catalog)
        metadata: dict[str, Any] = {
            "dagster/row_count": warehouse.row_count(tables.CUSTOMER_FEATURES_ONLINE.name),
            "dagster/column_schema": tables.CUSTOMER_FEATURES_ONLINE.column_schema(feature_columns(catalog.served())),
        }
        # The features builder returns an OnlineResult; report its fields, not its repr.
        if getattr(result, "stale", None) is not None:
            metadata["stale_rows"] = int(result.stale)
        if getattr(result, "reference_date", None) is not None:
            metadata["reference_date"] = str(result.reference_date)
        if getattr(result, "features", None) is not None:
            metadata["served_features"] = dg.MetadataValue.json(list(result.features))
        context.log_event(dg.AssetMaterialization(
            asset_key=tables.CUSTOMER_FEATURES_ONLINE.name, description="Rebuilt after a remediation patch was applied or rolled back "
            "(served values read through the patch layer).", metadata=metadata,
        ))
        # Serving follows: the online store gets the patched table as a new version (atomic swap).
        meta, where = refresh_store(warehouse, catalog, store=online_store.store())
        context.log_event(dg.AssetMaterialization(
            asset_key=STORE_ASSET, description="Refreshed after a remediation patch was applied or "
            "rolled back: served values equal the patched online table.", metadata=store_metadata(meta, where),
        ))

    return rebuild
