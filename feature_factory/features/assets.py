"""Dagster wiring of the features domain: one asset factory (`entity_assets`) builds every entity's
feature and online tables (the customer's `customer_features` and `customer_features_online`,
product's `product_features`, ...) from its `Entity`; `definitions` calls it for every entity.

The logic lives in `snapshot_sql` / `snapshots` (daily snapshots) and `online` (served table).
"""

import datetime as dt
import functools

import dagster as dg
from pydantic import Field

from feature_factory import partitions, priorities, tables
from feature_factory.catalog import Catalog, FeatureSpec, Lifecycle, load_catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.features import checks, online, snapshots
from feature_factory.features.entities import CUSTOMER_TABLES, Entity, all_entities
from feature_factory.features.snapshot_sql import DEFAULT_DIRECT_MAX_DAYS, STRATEGIES
from feature_factory.warehouse.base import Warehouse, quote_ident

GROUP = "features"


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


def column_schema(catalog: Catalog, entity: Entity = CUSTOMER_TABLES) -> dg.TableSchema:
    return entity.contracts[0].column_schema(feature_columns(catalog.computed()))


def column_lineage(features: list[FeatureSpec], entity: Entity = CUSTOMER_TABLES) -> dg.TableColumnLineage:
    """Each feature column from the columns of its source's raw table (two tables for a ratio); the
    key and snapshot day from the entity's population table."""
    pop = dg.AssetKey(entity.population_table)
    deps = {entity.key: [dg.TableColumnDep(asset_key=pop, column_name=entity.population_key)],
            "snapshot_date": [dg.TableColumnDep(asset_key=pop, column_name="event_date")]}
    for f in features:
        deps[f.name] = [dg.TableColumnDep(asset_key=dg.AssetKey(t), column_name=c) for t, c in f.reads]
    return dg.TableColumnLineage(deps_by_column=deps)


def source_deps(catalog: Catalog | None = None, entity: Entity = CUSTOMER_TABLES) -> list[dg.AssetKey]:
    """The entity's population table (raw_events for the customer), then the raw table of every other
    source a computed feature reads (in the order first read): the catalog decides the feature
    table's upstream assets."""
    catalog = catalog or load_catalog()
    read = dict.fromkeys([entity.population_table, *(t for f in catalog.computed() for t, _ in f.reads)])
    return [dg.AssetKey(t) for t in read]


def _current(catalog: CatalogResource, entity: str) -> Catalog:
    """The entity's features in the run's catalog."""
    current = catalog.catalog().for_entity(entity)
    if not current.computed():
        raise dg.Failure(description=f"the run's {catalog.describe()} has no computed feature of entity {entity!r} "
                         "(point the catalog resource at the file the code location was loaded with, or reload it)")
    return current


# Follow new snapshots once the automation sensor is switched on. Not `eager()`: that waits while
# any upstream day is missing, and days before the data starts always are.
ONLINE_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated()
    & ~dg.AutomationCondition.in_progress()
    & ~dg.AutomationCondition.any_deps_in_progress()
)


@functools.lru_cache(maxsize=64)  # one definition per (entity, features), whoever asks
def entity_assets(entity: Entity, catalog: Catalog) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """(<features table>, <online table>) of one entity from its features in `catalog`: the
    customer's customer_features / customer_features_online, product's product_features /
    product_features_online. Names, keys and descriptions come from the entity's spec."""
    features_contract, online_contract = entity.contracts
    schema = features_contract.column_schema(feature_columns(catalog.computed()))
    online_schema = online_contract.column_schema(feature_columns(catalog.served()))
    owners = sorted({f"team:{f.owner}" for f in catalog.features if f.owner})
    tags = {"feature_factory/entity": entity.name}
    key, name, population = entity.key, entity.name, entity.population

    @dg.asset(
        name=entity.features_table,
        group_name=GROUP,
        kinds={"sql", "warehouse"},
        partitions_def=partitions.daily_partitions,
        backfill_policy=partitions.single_run_backfill,
        deps=source_deps(catalog, entity),
        owners=owners or None,
        tags=tags,
        description=(
            f"Daily feature snapshots per {name}: one row per {name} ({key}) seen in {entity.population_table} "
            f"(source `{population}`) within the last 90 days and snapshot day (features as of the END of that "
            f"day), one column per computed catalog feature of entity `{name}` (active, deprecated and draft). "
            "Computed by one SQL statement in the warehouse over the partition range, reading only rows of the "
            "90 days before it; the range is replaced atomically."),
        metadata={"dagster/table_name": entity.features_table, "dagster/column_schema": schema},
    )
    def _features(context: dg.AssetExecutionContext, config: SnapshotConfig, warehouse: Warehouse,
                  catalog: CatalogResource) -> dg.MaterializeResult:
        current = _current(catalog, name)
        window = context.partition_time_window
        first, last = window.start.date(), window.end.date() - dt.timedelta(days=1)
        try:
            result = snapshots.write_snapshots(
                warehouse, current.features, first, last, strategy=config.strategy,
                direct_max_days=config.direct_max_days, max_days_per_statement=config.max_days_per_statement,
                entity=entity)
        except snapshots.FeatureBuildError as exc:
            raise dg.Failure(description=str(exc)) from exc
        days = (last - first).days + 1
        plans = sorted({p.strategy for p in result.plans})
        context.log.info(
            f"{entity.features_table}: {days} snapshot day(s) {first}..{last}: {result.rows} rows, "
            f"{result.customers} {name}s, {len(result.plans)} statement(s) ({', '.join(plans)} plan), "
            f"{population} read from {result.read_from}, {result.seconds:.2f}s")
        computed = current.computed()
        return dg.MaterializeResult(metadata={
            "dagster/row_count": result.rows,
            # Named after the entity and its population source: the customer's read
            # `customers` / `events_read_from`, as they always did; product's `products` / `orders_read_from`.
            f"{name}s": result.customers,
            "snapshot_days": days,
            "snapshot_range": f"{first} .. {last}",
            f"{population}_read_from": str(result.read_from),
            "sql_plan": ", ".join(plans),
            "sql_statements": len(result.plans),
            "sql_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
            "features": dg.MetadataValue.json({f.name: f.lifecycle.value for f in computed}),
            "preview": dg.MetadataValue.md(snapshots.preview(warehouse, computed, last, entity=entity)),
            "dagster/column_schema": column_schema(current, entity),
            "dagster/column_lineage": column_lineage(computed, entity),
        })

    @dg.asset(
        name=entity.online_table,
        group_name=GROUP,
        kinds={"sql", "warehouse"},
        deps=[_features],
        owners=owners or None,
        tags=tags,
        metadata={"dagster/table_name": entity.online_table, "dagster/column_schema": online_schema},
        automation_condition=ONLINE_AUTOMATION,
        # Unpartitioned, but in the refresh job: `dg launch --job ... --partition-range` needs every asset
        # of the job on the single-run policy (a range run rebuilds it once, after the snapshots).
        backfill_policy=partitions.single_run_backfill,
        op_tags=priorities.op_tags(priorities.SERVING),  # after the drift alerts in a refresh (priorities.py)
        description=(
            f"The online feature table of entity `{name}`: each {name}'s latest {entity.features_table} "
            "snapshot, served features only (active + deprecated; never draft or retired), read through the "
            "patch layer (applied remediation patches), with snapshot_date, snapshot_age_days and is_stale "
            "(older than the TTL). Rebuilt atomically. Fetch rows with "
            "`feature_factory.features.online.get_online_features`."),
    )
    def _online(context: dg.AssetExecutionContext, config: OnlineConfig, warehouse: Warehouse,
                catalog: CatalogResource) -> dg.MaterializeResult:
        return build_online(context, config, warehouse, _current(catalog, name), entity, online_contract,
                            dg.AssetKey(entity.features_table), unit=f"{name}s")

    return _features, _online


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


def definitions(catalog: Catalog | None = None, entities: list[Entity] | None = None) -> dg.Definitions:
    """The feature and online tables and their checks (expectations, no_duplicate_keys) of every
    entity with features in the catalog (default: all of them, the customer's first)."""
    catalog = catalog or load_catalog()
    resolved = [(e, catalog.for_entity(e.name)) for e in (all_entities(catalog) if entities is None else entities)]
    return dg.Definitions(assets=[a for e, c in resolved for a in entity_assets(e, c)],
                          asset_checks=[k for e, c in resolved for k in checks.entity_checks(c, e)])


# The customer's, under the names users and tests import (the same objects `definitions` returns).
customer_features, customer_features_online = entity_assets(CUSTOMER_TABLES, load_catalog().for_entity(CUSTOMER_TABLES.name))
