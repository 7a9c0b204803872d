"""Asset checks on each entity's feature table (`customer_features`, `product_features`, ...),
generated from the catalog's expectations of its features (`entity_checks`, called by the
features asset factory's `definitions` for every entity).

- `<feature>_expectations` (one per computed feature with expectations, WARN): allowed range and
  max NULL rate; a failure names the feature, the expectation and by how much.
- `no_duplicate_keys` (blocking): no (<key>, snapshot_date) twice.

Scope: expectations look at the latest materialized partition (the last day of the run's range, or
the newest snapshot day when a check runs on its own); the duplicate check covers the run's whole
range, since it guards every day that was written.
"""

import datetime as dt
import functools

import dagster as dg

from feature_factory import priorities, tables
from feature_factory.catalog import Catalog, Expectations, load_catalog
from feature_factory.features import expectations
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.partitions import tagged_days
from feature_factory.warehouse.base import Warehouse

ASSET = dg.AssetKey(tables.CUSTOMER_FEATURES.name)
NO_DUPLICATES = "no_duplicate_keys"


def check_name(feature: str) -> str:
    return f"{feature}_expectations"


def _scope(context: dg.AssetCheckExecutionContext, warehouse: Warehouse,
           entity: Entity = CUSTOMER_TABLES) -> tuple[dt.date, dt.date] | None:
    days = tagged_days(context.run.tags)
    if days is not None:
        return days
    latest = expectations.latest_snapshot_date(warehouse, entity)
    return (latest, latest) if latest else None


def _describe(f) -> str:
    e = f.expectations
    parts = [f"min {e.min:g}" if e.min is not None else "", f"max {e.max:g}" if e.max is not None else "",
             f"NULL rate <= {e.max_null_rate:g}" if e.max_null_rate is not None else ""]
    return f"{f.name}: " + ", ".join(p for p in parts if p) + " (from the catalog)."


def _null_rate_off(features) -> frozenset[str]:
    """The features whose source turns the NULL-rate check off, from the sources file the code
    location loads (a broken file fails that load elsewhere, with its own message)."""
    from feature_factory.catalog.errors import CatalogError
    from feature_factory.catalog.sources import load_sources

    try:
        return expectations.null_rate_off(features, load_sources())
    except CatalogError:  # the checks keep their defaults; the entity loader reports the file
        return frozenset()


def build_expectation_checks(catalog: Catalog, entity: Entity = CUSTOMER_TABLES
                             ) -> dg.AssetChecksDefinition | None:
    """One multi-check over the entity's feature table (default customer_features): a check per
    computed feature with expectations."""
    features = [f for f in catalog.computed() if f.expectations != Expectations()]
    if not features:
        return None
    asset = dg.AssetKey(entity.features_table)
    specs = [dg.AssetCheckSpec(check_name(f.name), asset=asset, description=_describe(f)) for f in features]
    by_check = {check_name(f.name): f for f in features}
    table = entity.features_table
    off = _null_rate_off(features)

    # WARN checks block nothing: a refresh runs them after drift_alerts (priorities.py).
    @dg.multi_asset_check(specs=specs, can_subset=True, name=f"{table}_expectations",
                          op_tags=priorities.op_tags(priorities.CHECKS))
    def customer_features_expectations(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        """Catalog expectations (range, NULL rate) measured in one SQL aggregate."""
        wanted = [by_check[k.name] for k in context.selected_asset_check_keys]
        scope = _scope(context, warehouse, entity)
        scope = (scope[1], scope[1]) if scope else None
        if scope is None:
            for f in wanted:
                yield dg.AssetCheckResult(check_name=check_name(f.name), asset_key=asset, passed=False,
                                          description=f"{table} has no rows to check")
            return
        outcomes = {o.feature: o for o in expectations.evaluate(warehouse, wanted, *scope, entity=entity,
                                                                 null_rate_off=off)}
        for f in wanted:
            o = outcomes.get(f.name)
            if o is None:
                yield dg.AssetCheckResult(check_name=check_name(f.name), asset_key=asset, passed=False,
                                          description=f"{table} has no column {f.name}: materialize it")
                continue
            yield dg.AssetCheckResult(
                check_name=check_name(f.name), asset_key=asset, passed=o.passed,
                severity=dg.AssetCheckSeverity.WARN,
                description="; ".join(o.failures) or None,
                metadata={
                    "snapshot_date": str(scope[1]), "rows": o.rows,
                    "null_rate": dg.MetadataValue.float(round(o.null_rate, 6)),
                    "rows_below_min": o.below, "rows_above_max": o.above,
                    "min_seen": dg.MetadataValue.float(o.min_seen) if o.min_seen is not None else None,
                    "max_seen": dg.MetadataValue.float(o.max_seen) if o.max_seen is not None else None,
                    "failures": dg.MetadataValue.md("\n".join(f"- {m}" for m in o.failures) or "none"),
                },
            )

    return customer_features_expectations


@functools.lru_cache(maxsize=64)  # one definition per entity, whoever asks
def build_duplicate_check(entity: Entity = CUSTOMER_TABLES) -> dg.AssetChecksDefinition:
    """`no_duplicate_keys` (blocking) on the entity's feature table."""
    table, key = entity.features_table, entity.key

    @dg.asset_check(asset=dg.AssetKey(table), name=NO_DUPLICATES, blocking=True,
                    description=f"Each ({key}, snapshot_date) appears once; duplicates stop downstream assets.")
    def _check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        scope = _scope(context, warehouse, entity)
        if scope is None:
            return dg.AssetCheckResult(passed=False, description=f"{table} has no rows to check")
        n, sample = expectations.duplicate_keys(warehouse, *scope, entity=entity)
        return dg.AssetCheckResult(
            passed=n == 0,
            description=f"{n} duplicated ({key}, snapshot_date) keys in {scope[0]} .. {scope[1]}" if n else None,
            metadata={"snapshot_range": f"{scope[0]} .. {scope[1]}", "duplicate_keys": n,
                      "examples": ", ".join(f"{c}@{d} x{k}" for c, d, k in sample)},
        )

    return _check


no_duplicate_keys = build_duplicate_check(CUSTOMER_TABLES)


def entity_checks(catalog: Catalog, entity: Entity = CUSTOMER_TABLES) -> list[dg.AssetChecksDefinition]:
    """The checks of one entity's feature table from its catalog features."""
    return [c for c in (build_expectation_checks(catalog, entity), build_duplicate_check(entity)) if c is not None]


def all_checks(catalog: Catalog | None = None) -> list[dg.AssetChecksDefinition]:
    catalog = catalog or load_catalog()
    return entity_checks(catalog)
