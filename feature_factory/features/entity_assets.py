"""Asset factory: each entity of the catalog other than `customer` (features with `entity: product`,
the entity declared under `entities:` in the sources file) gets `<entity>_features` (daily
snapshots, partitioned like customer_features, one SQL statement per day range on either backend)
and `<entity>_features_online` (the latest snapshot per key), with descriptions, column schemas and
column lineage from the catalog, and the checks `<feature>_expectations` (warn) and
`no_duplicate_keys` (blocking) on `<entity>_features`. A new catalog entry plus a code-location reload makes them appear;
nothing here names an entity. `customer` keeps its hand-written assets (`features/assets.py`).
"""


import datetime as dt

import dagster as dg

from feature_factory import partitions
from feature_factory.catalog import Catalog, load_catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.features import checks, snapshots
from feature_factory.features.assets import (
    GROUP, ONLINE_AUTOMATION, OnlineConfig, SnapshotConfig, build_online, feature_columns,
)
from feature_factory.features.entities import Entity, contracts, other_entities
from feature_factory.warehouse.base import Warehouse


def _deps(entity: Entity, catalog: Catalog) -> list[dg.AssetKey]:
    """The population's raw table, then every other raw table a computed feature reads."""
    read = dict.fromkeys([entity.population_table, *(t for f in catalog.computed() for t, _ in f.reads)])
    return [dg.AssetKey(t) for t in read]


def _lineage(entity: Entity, catalog: Catalog) -> dg.TableColumnLineage:
    pop = dg.AssetKey(entity.population_table)
    deps = {entity.key: [dg.TableColumnDep(asset_key=pop, column_name=entity.population_key)],
            "snapshot_date": [dg.TableColumnDep(asset_key=pop, column_name="event_date")]}
    for f in catalog.computed():
        deps[f.name] = [dg.TableColumnDep(asset_key=dg.AssetKey(t), column_name=c) for t, c in f.reads]
    return dg.TableColumnLineage(deps_by_column=deps)


def _current(catalog: CatalogResource, entity: str) -> Catalog:
    """The entity's features in the run's catalog (like customer_features)."""
    current = catalog.catalog().for_entity(entity)
    if not current.computed():
        raise dg.Failure(description=f"the run's {catalog.describe()} has no computed feature of entity {entity!r} "
                         "(point the catalog resource at the file the code location was loaded with, or reload it)")
    return current


def entity_assets(entity: Entity, catalog: Catalog) -> list[dg.AssetsDefinition]:
    """[<entity>_features, <entity>_features_online] for the entity's features in `catalog`."""
    features_contract, online_contract = contracts(entity)
    schema = features_contract.column_schema(feature_columns(catalog.computed()))
    online_schema = online_contract.column_schema(feature_columns(catalog.served()))
    owners = sorted({f"team:{f.owner}" for f in catalog.features if f.owner})
    tags = {"feature_factory/entity": entity.name}
    key, name = entity.key, entity.name

    @dg.asset(
        name=entity.features_table,
        group_name=GROUP,
        kinds={"sql", "warehouse"},
        partitions_def=partitions.daily_partitions,
        backfill_policy=partitions.single_run_backfill,
        deps=_deps(entity, catalog),
        owners=owners or None,
        tags=tags,
        description=(
            f"Daily feature snapshots per {name}: one row per {key} seen in {entity.population_table} "
            f"(source `{entity.population}`) within the last 90 days and snapshot day (features as of the "
            f"END of that day), one column per computed catalog feature of entity `{name}`. Computed by one "
            "SQL statement in the warehouse over the partition range; the range is replaced atomically."),
        metadata={"dagster/table_name": entity.features_table, "dagster/column_schema": schema},
    )
    def _features(context: dg.AssetExecutionContext, config: SnapshotConfig, warehouse: Warehouse,
                  catalog: CatalogResource):
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
        plans = sorted({p.strategy for p in result.plans})
        context.log.info(f"{entity.features_table} {first}..{last}: {result.rows} rows, {result.customers} "
                         f"{name}(s), {len(result.plans)} statement(s) ({', '.join(plans)} plan)")
        computed = current.computed()
        return dg.MaterializeResult(metadata={
            "dagster/row_count": result.rows,
            f"{name}_keys": result.customers,
            "snapshot_days": (last - first).days + 1,
            "snapshot_range": f"{first} .. {last}",
            "rows_read_from": str(result.read_from),
            "sql_plan": ", ".join(plans),
            "sql_statements": len(result.plans),
            "sql_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
            "features": dg.MetadataValue.json({f.name: f.lifecycle.value for f in computed}),
            "preview": dg.MetadataValue.md(snapshots.preview(warehouse, computed, last, entity=entity)),
            "dagster/column_schema": features_contract.column_schema(feature_columns(computed)),
            "dagster/column_lineage": _lineage(entity, current),
        })

    @dg.asset(
        name=entity.online_table,
        group_name=GROUP,
        kinds={"sql", "warehouse"},
        deps=[_features],
        owners=owners or None,
        tags=tags,
        automation_condition=ONLINE_AUTOMATION,
        backfill_policy=partitions.single_run_backfill,  # in <entity>_refresh_job: see customer_features_online
        description=(
            f"The online feature table of entity `{name}`: each {key}'s latest {entity.features_table} "
            "snapshot, served features only (active + deprecated), with snapshot_date, snapshot_age_days "
            "and is_stale (older than the TTL). Rebuilt atomically. Fetch rows with "
            "`feature_factory.features.online.get_online_features(..., entity=...)`."),
        metadata={"dagster/table_name": entity.online_table, "dagster/column_schema": online_schema},
    )
    def _online(context: dg.AssetExecutionContext, config: OnlineConfig, warehouse: Warehouse,
                catalog: CatalogResource):
        return build_online(context, config, warehouse, _current(catalog, name), entity, online_contract,
                            dg.AssetKey(entity.features_table), unit=f"{name}(s)")

    return [_features, _online]


def definitions(catalog: Catalog | None = None) -> dg.Definitions:
    """The assets and checks (expectations, no_duplicate_keys) of every entity other than customer
    that has features in the catalog."""
    catalog = catalog or load_catalog()
    resolved = [(t, catalog.for_entity(t.name)) for t in other_entities(catalog)]
    return dg.Definitions(assets=[a for t, c in resolved for a in entity_assets(t, c)],
                          asset_checks=[k for t, c in resolved for k in checks.entity_checks(c, t)])
