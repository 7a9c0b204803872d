"""Dagster wiring of the features domain: `customer_features` and `customer_features_online`.

The logic lives in `snapshot_sql` / `snapshots` (daily snapshots) and `online` (served table).
"""

import datetime as dt

import dagster as dg
from pydantic import Field

from feature_factory import partitions, priorities, tables
from feature_factory.catalog import Catalog, FeatureSpec, Lifecycle, load_catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.features import online, snapshots
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.features.snapshot_sql import DEFAULT_DIRECT_MAX_DAYS, STRATEGIES
from feature_factory.warehouse.base import Warehouse, quote_ident

GROUP = "features"
RAW_EVENTS = tables.RAW_EVENTS.key


class SnapshotConfig(dg.Config):
    strategy: str = Field(
        default="auto",
        description=f"SQL plan: one of {', '.join(STRATEGIES)}. 'direct' scans the lookback once per "
        "snapshot day (best for a few days); 'window' computes a range with window frames over a "
        "customer x day grid (best for backfills); 'auto' picks by the number of days.",
    )
    direct_max_days: int = Field(
        default=DEFAULT_DIRECT_MAX_DAYS, ge=1,
        description="With strategy 'auto': ranges up to this many days use the direct plan.",
    )
    max_days_per_statement: int = Field(
        default=snapshots.DEFAULT_MAX_DAYS_PER_STATEMENT, ge=1,
        description="A longer range is written as consecutive statements of at most this many days "
        "(bounds warehouse memory for multi-year backfills).",
    )


class OnlineConfig(dg.Config):
    ttl_days: int = Field(
        default=online.DEFAULT_TTL_DAYS, ge=0,
        description="A customer's snapshot older than this many days (before the newest snapshot, "
        "or before `as_of`) is flagged is_stale.",
    )
    as_of: str | None = Field(
        default=None,
        description="Serve snapshots up to this day (YYYY-MM-DD) and measure staleness from it; "
        "default: the newest snapshot in customer_features.",
    )


def feature_description(f: FeatureSpec) -> str:
    mark = {Lifecycle.DEPRECATED: "DEPRECATED: ", Lifecycle.DRAFT: "DRAFT (not served): "}.get(f.lifecycle, "")
    return f"{mark}{f.description} [window {f.window_label}; owner {f.owner}]"


def feature_columns(features) -> list[dg.TableColumn]:
    """The catalog's feature columns as the UI shows them (tables whose middle columns they are)."""
    return [dg.TableColumn(f.name, f.dtype.sql_type.lower(), description=feature_description(f),
                           tags={"lifecycle": f.lifecycle.value, "owner": f.owner}) for f in features]


def column_schema(catalog: Catalog) -> dg.TableSchema:
    return tables.CUSTOMER_FEATURES.column_schema(feature_columns(catalog.computed()))


def column_lineage(features: list[FeatureSpec]) -> dg.TableColumnLineage:
    """Each feature column from the columns of its source's raw table (two tables for a ratio)."""
    def dep(col: str, table: str | None = None) -> dg.TableColumnDep:
        return dg.TableColumnDep(asset_key=dg.AssetKey(table) if table else RAW_EVENTS, column_name=col)

    deps = {"customer_id": [dep("customer_id")], "snapshot_date": [dep("event_date")]}
    for f in features:
        deps[f.name] = [dep(c, t) for t, c in f.reads]
    return dg.TableColumnLineage(deps_by_column=deps)


def source_deps(catalog: Catalog | None = None) -> list[dg.AssetKey]:
    """raw_events, then the raw table of every other source a computed feature reads (in the order
    first read): the catalog decides customer_features' upstream assets."""
    catalog = catalog or load_catalog()
    read = dict.fromkeys([RAW_EVENTS.path[-1], *(t for f in catalog.computed() for t, _ in f.reads)])
    return [dg.AssetKey(t) for t in read]


@dg.asset(
    group_name=GROUP,
    kinds={"sql", "warehouse"},
    partitions_def=partitions.daily_partitions,
    backfill_policy=partitions.single_run_backfill,
    deps=source_deps(),
    metadata={"dagster/table_name": tables.CUSTOMER_FEATURES.name},
)
def customer_features(context: dg.AssetExecutionContext, config: SnapshotConfig, warehouse: Warehouse,
                      catalog: CatalogResource) -> dg.MaterializeResult:
    """Daily feature snapshots: one row per customer seen within the last 90 days and snapshot day
    (features as of the END of that day), one column per computed catalog feature (active,
    deprecated and draft). Computed by one SQL statement in the warehouse over the partition range,
    reading only events of the 90 days before it; the range is replaced atomically."""
    catalog = catalog.catalog().for_entity(CUSTOMER_TABLES.name)
    window = context.partition_time_window
    first, last = window.start.date(), window.end.date() - dt.timedelta(days=1)
    try:
        result = snapshots.write_snapshots(
            warehouse, catalog.features, first, last, strategy=config.strategy,
            direct_max_days=config.direct_max_days, max_days_per_statement=config.max_days_per_statement,
        )
    except snapshots.FeatureBuildError as exc:
        raise dg.Failure(description=str(exc)) from exc
    days = (last - first).days + 1
    plans = sorted({p.strategy for p in result.plans})
    context.log.info(
        f"{days} snapshot day(s) {first}..{last}: {result.rows} rows, {result.customers} customers, "
        f"{len(result.plans)} statement(s) ({', '.join(plans)} plan), events read from "
        f"{result.read_from}, {result.seconds:.2f}s"
    )
    computed = catalog.computed()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": result.rows,
        "customers": result.customers,
        "snapshot_days": days,
        "snapshot_range": f"{first} .. {last}",
        "events_read_from": str(result.read_from),
        "sql_plan": ", ".join(plans),
        "sql_statements": len(result.plans),
        "sql_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "features": dg.MetadataValue.json({f.name: f.lifecycle.value for f in computed}),
        "preview": dg.MetadataValue.md(snapshots.preview(warehouse, computed, last)),
        "dagster/column_schema": column_schema(catalog),
        "dagster/column_lineage": column_lineage(computed),
    })


# Follow new snapshots once the automation sensor is switched on. Not `eager()`: that waits while
# any upstream day is missing, and days before the data starts always are.
ONLINE_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated()
    & ~dg.AutomationCondition.in_progress()
    & ~dg.AutomationCondition.any_deps_in_progress()
)


@dg.asset(
    group_name=GROUP,
    kinds={"sql", "warehouse"},
    deps=[customer_features],
    metadata={"dagster/table_name": tables.CUSTOMER_FEATURES_ONLINE.name},
    automation_condition=ONLINE_AUTOMATION,
    # Unpartitioned, but in daily_refresh_job: `dg launch --job ... --partition-range` needs every asset
    # of the job on the single-run policy (a range run rebuilds it once, after the snapshots).
    backfill_policy=partitions.single_run_backfill,
    op_tags=priorities.op_tags(priorities.SERVING),  # after drift_alerts in a refresh (priorities.py)
)
def customer_features_online(context: dg.AssetExecutionContext, config: OnlineConfig, warehouse: Warehouse,
                             catalog: CatalogResource) -> dg.MaterializeResult:
    """The online feature table: each customer's latest customer_features snapshot, served features
    only (active + deprecated; never draft or retired), read through the patch layer (applied
    remediation patches), with snapshot_date, snapshot_age_days and is_stale (older than the TTL).
    Rebuilt atomically. Fetch rows with `feature_factory.features.online.get_online_features`."""
    return build_online(context, config, warehouse, catalog.catalog().for_entity(CUSTOMER_TABLES.name), CUSTOMER_TABLES,
                        tables.CUSTOMER_FEATURES_ONLINE, customer_features.key, unit="customers")


def build_online(context: dg.AssetExecutionContext, config: OnlineConfig, warehouse: Warehouse,
                 catalog: Catalog, entity: Entity, contract: tables.Table, features_key: dg.AssetKey,
                 unit: str) -> dg.MaterializeResult:
    """Rebuild an entity's online table from its feature table and describe it: row counts,
    staleness, a preview, the column schema and lineage (customer_features_online and every
    `<entity>_features_online` of the entity factory)."""
    try:
        as_of = dt.date.fromisoformat(config.as_of) if config.as_of else None
    except ValueError as exc:
        raise dg.Failure(description=f"as_of={config.as_of!r} is not a YYYY-MM-DD date") from exc
    try:
        result = online.build_online_table(warehouse, catalog, ttl_days=config.ttl_days, as_of=as_of, entity=entity)
    except online.OnlineTableError as exc:
        raise dg.Failure(description=str(exc)) from exc
    served = catalog.served()
    key = quote_ident(entity.key)
    sample = warehouse.fetch_df(
        f"SELECT {key}, snapshot_date, is_stale" + "".join(f", {quote_ident(f.name)}" for f in served)
        + f" FROM {quote_ident(entity.online_table)} ORDER BY {key} LIMIT 8")
    lineage = {c: [dg.TableColumnDep(asset_key=features_key, column_name=c)]
               for c in [entity.key, "snapshot_date", "computed_at", *result.features]}
    context.log.info(f"{result.rows} {unit} served, {result.stale} stale (reference {result.reference_date})")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": result.rows,
        "stale_rows": result.stale,
        "stale_share": dg.MetadataValue.float(result.stale / result.rows if result.rows else 0.0),
        "reference_date": str(result.reference_date),
        "ttl_days": config.ttl_days,
        "served_features": dg.MetadataValue.json(list(result.features)),
        "preview": dg.MetadataValue.md(snapshots.markdown_table(sample)),
        "dagster/column_schema": contract.column_schema(
            feature_columns(served), described={"is_stale": f"snapshot_age_days > ttl_days ({config.ttl_days})."}),
        "dagster/column_lineage": dg.TableColumnLineage(deps_by_column=lineage),
    })
