"""Dagster wiring of the serving domain: `customer_features_online_store`, the online store
written from `customer_features_online` after every rebuild (logic in `publish`), and, from the
catalog, `<entity>_features_online_store` for every other entity with features (`store_assets`):
the same run over `<entity>_features_online`, into that entity's own store (`config.py`)."""


import dagster as dg
from pydantic import Field

from feature_factory import priorities
from feature_factory.catalog import Catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.features.assets import ONLINE_AUTOMATION, customer_features_online
from feature_factory.features.entities import CUSTOMER_TABLES, Entity, other_entities
from feature_factory.features.online import DEFAULT_TTL_DAYS
from feature_factory.partitions import single_run_backfill
from feature_factory.serving import publish
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


def store_metadata(meta: StoreMeta, where: str, entity: Entity = CUSTOMER_TABLES) -> dict:
    serve = "" if entity.name == CUSTOMER_TABLES.name else f"  # feature-factory serve --entity {entity.name}\n"
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


@dg.asset(
    group_name=GROUP,
    kinds={"sqlite", "redis", "python"},
    deps=[customer_features_online],
    automation_condition=ONLINE_AUTOMATION,
    backfill_policy=single_run_backfill,  # in daily_refresh_job: see customer_features_online
    op_tags=priorities.op_tags(priorities.SERVING),  # after drift_alerts in a refresh (priorities.py)
)
def customer_features_online_store(context: dg.AssetExecutionContext, config: OnlineStoreConfig,
                                   warehouse: Warehouse, online_store: OnlineStoreResource,
                                   catalog: CatalogResource) -> dg.MaterializeResult:
    """The online store `feature-factory serve` answers from: customer_features_online copied as a
    new version (SQLite by default, Redis in production) and made current atomically, so a reader
    sees the old or the new version, never a mix. Apply and rollback refresh it too."""
    return publish_result(context, config, warehouse, online_store, catalog.catalog().for_entity(CUSTOMER_TABLES.name))


def store_asset_for(entity: Entity) -> dg.AssetsDefinition:
    """`<entity>_features_online_store`: the entity's online table published to its own store."""
    name = entity.name

    @dg.asset(
        name=store_asset(name),
        group_name=GROUP,
        kinds={"sqlite", "redis", "python"},
        deps=[dg.AssetKey(entity.online_table)],
        automation_condition=ONLINE_AUTOMATION,
        backfill_policy=single_run_backfill,  # in <entity>_refresh_job
        tags={"feature_factory/entity": name},
        description=(
            f"The online store `feature-factory serve --entity {name}` answers from (POST /features with "
            f"{entity.key} values): {entity.online_table} copied as a new version into entity `{name}`'s own "
            "store (SQLite file or Redis key prefix, beside the customer's) and made current atomically, so a "
            f"reader sees the old or the new version, never a mix. Applying and rolling back {name} patches "
            "refresh it too."),
    )
    def _store(context: dg.AssetExecutionContext, config: OnlineStoreConfig, warehouse: Warehouse,
               online_store: OnlineStoreResource, catalog: CatalogResource) -> dg.MaterializeResult:
        # The run's catalog (descriptions of the served features), like the online table's run.
        return publish_result(context, config, warehouse, online_store, catalog.catalog().for_entity(name), entity)

    return _store


def store_assets(catalog: Catalog | None = None) -> list[dg.AssetsDefinition]:
    """`<entity>_features_online_store` for every entity other than customer with features in the catalog."""
    return [store_asset_for(entity) for entity in other_entities(catalog)]
