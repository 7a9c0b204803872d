"""Rebuilding `customer_features_online` (or another entity's online table) after an apply or
rollback, through the features module.

The online table belongs to the features domain; we call its builder (which reads through the patch
layer) rather than writing the table ourselves, so there is one definition of what is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from feature_factory.catalog import Catalog
from feature_factory.features.assets import feature_columns
from feature_factory.features.entities import contracts
from feature_factory.features.online import build_online_table
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope
from feature_factory.serving.assets import store_metadata
from feature_factory.serving.config import OnlineStoreResource
from feature_factory.serving.refresh import refresh_store
from feature_factory.serving.store import store_asset
from feature_factory.warehouse.base import Warehouse


def _builder() -> Callable[[Warehouse, Catalog], Any]:
    """The features domain's online builder (a seam: tests stand in a smaller one)."""
    return build_online_table


def rebuild_online_callback(context, warehouse: Warehouse, catalog: Catalog,
                            online_store: OnlineStoreResource, scope: Scope = CUSTOMER_SCOPE) -> Callable[[], None]:
    """A callback that rebuilds the online table (another entity's: its `<entity>_features_online`),
    refreshes that entity's store of the run's online store resource and reports the
    materializations (`customer_features_online_store`, `<entity>_features_online_store`)."""
    build = _builder()
    online = scope.entity.contracts[1]

    def rebuild() -> None:
        result = build(warehouse, catalog, entity=scope.entity)
        metadata: dict[str, Any] = {
            "dagster/row_count": warehouse.row_count(online.name),
            "dagster/column_schema": online.column_schema(feature_columns(catalog.served())),
        }
        # The features builder returns an OnlineResult; report its fields, not its repr.
        if getattr(result, "stale", None) is not None:
            metadata["stale_rows"] = int(result.stale)
        if getattr(result, "reference_date", None) is not None:
            metadata["reference_date"] = str(result.reference_date)
        if getattr(result, "features", None) is not None:
            metadata["served_features"] = dg.MetadataValue.json(list(result.features))
        context.log_event(dg.AssetMaterialization(
            asset_key=online.name, description="Rebuilt after a remediation patch was applied or rolled back "
            "(served values read through the patch layer).", metadata=metadata,
        ))
        # Serving follows: the entity's own store gets the patched table as a new version (atomic swap).
        meta, where = refresh_store(warehouse, catalog, store=online_store.store(scope.entity.name),
                                    entity=scope.entity)
        context.log_event(dg.AssetMaterialization(
            asset_key=scope.entity.store_asset, description="Refreshed after a remediation patch was "
            "applied or rolled back: served values equal the patched online table.",
            metadata=store_metadata(meta, where, scope.entity),
        ))

    return rebuild
