"""Dagster wiring of the serving domain: one asset factory (`store_asset_for`) builds every entity's
online store asset, written from its online table after every rebuild (logic in `publish`): the
customer's `customer_features_online_store` from `customer_features_online`, product's
`product_features_online_store` into that entity's own store (`config.py`)."""


import functools

import dagster as dg
from pydantic import Field

from feature_factory import priorities
from feature_factory.catalog import Catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.features.assets import ONLINE_AUTOMATION
from feature_factory.features.entities import CUSTOMER_TABLES, Entity, other_entities
from feature_factory.features.online import DEFAULT_TTL_DAYS
from feature_factory.partitions import single_run_backfill
from feature_factory.serving import publish
from feature_factory.serving.config import CUSTOMER as DEFAULT_ENTITY  # `feature-factory serve`'s default
from feature_factory.serving.config import DEFAULT_PORT, OnlineStoreResource
from feature_factory.serving.store import StoreError, StoreMeta, store_asset
from feature_factory.warehouse.base import Warehouse

GROUP = "serving"
ASSET = store_asset(CUSTOMER_TABLES.name)  # customer_features_online_store


class OnlineStoreConfig(dg.Config):
    ttl_days: int = Field(
        default=DEFAULT_TTL_DAYS, ge=0,
        description="The server answers values older than this many days as stale (null). Keep it "
        "equal to the online table's ttl_days; `feature-factory serve --ttl-days` overrides it.",
    )


def serve_command(entity: Entity) -> str:
    """The command whose server answers the entity's ids (`--entity` unless it is the server's default)."""
    return "feature-factory serve" + ("" if entity.name == DEFAULT_ENTITY else f" --entity {entity.name}")


def store_metadata(meta: StoreMeta, where: str, entity: Entity = CUSTOMER_TABLES) -> dict:
    serve = "" if entity.name == DEFAULT_ENTITY else f"  # {serve_command(entity)}\n"
    return {
        "dagster/row_count": meta.rows,
        "store": where,
        "version": meta.version,
        "reference_date": str(meta.reference_date),
        "ttl_days": meta.ttl_days,
        "served_features": dg.MetadataValue.json(list(meta.feature_names)),
        "sample_request": dg.MetadataValue.md(
            f"```\n{serve}curl -s localhost:{DEFAULT_PORT}/features -H 'content-type: application/json' "
            f"-d '{{\"entity_ids\": [\"<{entity.key}>\"]}}'\n```"),
    }


def publish_result(context: dg.AssetExecutionContext, config: OnlineStoreConfig, warehouse: Warehouse,
                   online_store: OnlineStoreResource, catalog: Catalog,
                   entity: Entity = CUSTOMER_TABLES) -> dg.MaterializeResult:
    """The run of customer_features_online_store (and of every `<entity>_features_online_store`)."""
    store = online_store.store(entity.name)
    try:
        meta = publish.publish(warehouse, store, catalog, ttl_days=config.ttl_days, entity=entity)
    except StoreError as exc:
        raise dg.Failure(description=str(exc)) from exc
    finally:
        store.close()
    context.log.info(f"online store {store.describe()}: version {meta.version}, {meta.rows} rows")
    return dg.MaterializeResult(metadata=store_metadata(meta, store.describe(), entity))


@functools.lru_cache(maxsize=64)  # one definition per entity, whoever asks
def store_asset_for(entity: Entity) -> dg.AssetsDefinition:
    """The entity's online store asset (customer_features_online_store, product's
    `product_features_online_store`): its online table published to its own store."""
    name = entity.name

    @dg.asset(
        name=entity.store_asset,
        group_name=GROUP,
        kinds={"sqlite", "redis", "python"},
        deps=[dg.AssetKey(entity.online_table)],
        automation_condition=ONLINE_AUTOMATION,
        backfill_policy=single_run_backfill,  # in the entity's refresh job: see its online table
        op_tags=priorities.op_tags(priorities.SERVING),  # after the drift alerts in a refresh (priorities.py)
        tags={"feature_factory/entity": name},
        description=(
            f"The online store `{serve_command(entity)}` answers from (POST /features with {entity.key} values): "
            f"{entity.online_table} copied as a new version into entity `{name}`'s store (SQLite by default, "
            "Redis in production; each entity its own file or key prefix) and made current atomically, so a "
            f"reader sees the old or the new version, never a mix. Applying and rolling back {name} patches "
            "refresh it too."),
    )
    def _store(context: dg.AssetExecutionContext, config: OnlineStoreConfig, warehouse: Warehouse,
               online_store: OnlineStoreResource, catalog: CatalogResource) -> dg.MaterializeResult:
        # The run's catalog (descriptions of the served features), like the online table's run.
        return publish_result(context, config, warehouse, online_store, catalog.catalog().for_entity(name), entity)

    return _store


def store_assets(catalog: Catalog | None = None, entities: list[Entity] | None = None) -> list[dg.AssetsDefinition]:
    """The online store asset of every entity with features in the catalog (default: the entities
    other than the customer, what a catalog adds to the churn example)."""
    return [store_asset_for(e) for e in (other_entities(catalog) if entities is None else entities)]


customer_features_online_store = store_asset_for(CUSTOMER_TABLES)
