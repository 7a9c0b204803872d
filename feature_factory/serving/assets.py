"""Dagster wiring of the serving domain: `customer_features_online_store`, the online store
written from `customer_features_online` after every rebuild (logic in `publish`)."""


import dagster as dg
from pydantic import Field

from feature_factory import priorities
from feature_factory.catalog import load_catalog
from feature_factory.features.assets import ONLINE_AUTOMATION, customer_features_online
from feature_factory.features.online import DEFAULT_TTL_DAYS
from feature_factory.serving import publish
from feature_factory.serving.config import DEFAULT_PORT, OnlineStoreResource
from feature_factory.serving.store import StoreError, StoreMeta
from feature_factory.warehouse.base import Warehouse

GROUP = "serving"
ASSET = "customer_features_online_store"


class OnlineStoreConfig(dg.Config):
    ttl_days: int = Field(
        default=DEFAULT_TTL_DAYS, ge=0,
        description="The server answers values older than this many days as stale (null). Keep it "
        "equal to customer_features_online's ttl_days; `feature-factory serve --ttl-days` overrides it.",
    )


def store_metadata(meta: StoreMeta, where: str) -> dict:
    return {
        "dagster/row_count": meta.rows,
        "store": where,
        "version": meta.version,
        "reference_date": str(meta.reference_date),
        "ttl_days": meta.ttl_days,
        "served_features": dg.MetadataValue.json(list(meta.feature_names)),
        "sample_request": dg.MetadataValue.md(
            f"```\ncurl -s localhost:{DEFAULT_PORT}/features -H 'content-type: application/json' "
            "-d '{\"entity_ids\": [\"<customer_id>\"]}'\n```"),
    }


@dg.asset(
    group_name=GROUP,
    kinds={"sqlite", "redis", "python"},
    deps=[customer_features_online],
    automation_condition=ONLINE_AUTOMATION,
    op_tags=priorities.op_tags(priorities.SERVING),  # after drift_alerts in a refresh (priorities.py)
)
def customer_features_online_store(context: dg.AssetExecutionContext, config: OnlineStoreConfig,
                                   warehouse: Warehouse, online_store: OnlineStoreResource) -> dg.MaterializeResult:
    """The online store `feature-factory serve` answers from: customer_features_online copied as a
    new version (SQLite by default, Redis in production) and made current atomically, so a reader
    sees the old or the new version, never a mix. Apply and rollback refresh it too."""
    store = online_store.store()
    try:
        meta = publish.publish(warehouse, store, load_catalog(), ttl_days=config.ttl_days)
    except StoreError as exc:
        raise dg.Failure(description=str(exc)) from exc
    finally:
        store.close()
    context.log.info(f"online store {store.describe()}: version {meta.version}, {meta.rows} rows")
    return dg.MaterializeResult(metadata=store_metadata(meta, store.describe()))
