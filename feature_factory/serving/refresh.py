"""Refresh the online store after apply/rollback rebuilt `customer_features_online` (or another
entity's `<entity>_features_online`), so served values always equal the patched online table
(called by the remediation domain's rebuild hook)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from feature_factory.catalog import Catalog
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.features.online import DEFAULT_TTL_DAYS
from feature_factory.serving.config import store_from_env
from feature_factory.serving.publish import publish
from feature_factory.serving.store import OnlineStore, StoreMeta

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse


def refresh_store(warehouse: Warehouse, catalog: Catalog | None = None,
                  ttl_days: int | None = None, store: OnlineStore | None = None,
                  entity: Entity = CUSTOMER_TABLES) -> tuple[StoreMeta, str]:
    """Publish the entity's online table to `store` (default: the entity's store as the environment
    configures it), keeping the current version's TTL (default TTL when the store is new); returns
    (meta, where). The store is closed afterwards."""
    store = store or store_from_env(entity.name)
    try:
        if ttl_days is None:
            current = store.current()
            ttl_days = current.ttl_days if current else DEFAULT_TTL_DAYS
        return publish(warehouse, store, catalog, ttl_days=ttl_days, entity=entity), store.describe()
    finally:
        store.close()
