"""Asset checks on `customer_features`, generated from the catalog's expectations.

- `<feature>_expectations` (one per computed feature with expectations, WARN): allowed range and
  max NULL rate; a failure names the feature, the expectation and by how much.
- `no_duplicate_keys` (blocking): no (customer_id, snapshot_date) twice.

Scope: expectations look at the latest materialized partition (the last day of the run's range, or
the newest snapshot day when a check runs on its own); the duplicate check covers the run's whole
range, since it guards every day that was written.
"""

import datetime as dt

import dagster as dg

from feature_factory import tables
from feature_factory.catalog import Catalog, Expectations, load_catalog
from feature_factory.features import expectations
from feature_factory.partitions import tagged_days
from feature_factory.warehouse.base import Warehouse

ASSET = dg.AssetKey(tables.CUSTOMER_FEATURES.name)
NO_DUPLICATES = "no_duplicate_keys"


def check_name(feature: str) -> str:
    return f"{feature}_expectations"


def _scope(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> tuple[dt.date, dt.date] | None:
    days = tagged_days(context.run.tags)
    if days is not None:
        return days
    latest = expectations.latest_snapshot_date(warehouse)
    return (latest, latest) if latest else None


def _describe(f) -> str:
    e = f.expectations
    parts = [f"min {e.min:g}" if e.min is not None else "", f"max {e.max:g}" if e.max is not None else "",
             f"NULL rate <= {e.max_null_rate:g}" if e.max_null_rate is not None else ""]
    return f"{f.name}: " + ", ".join(p for p in parts if p) + " (from the catalog)."


def build_expectation_checks(catalog: Catalog) -> dg.AssetChecksDefinition | None:
    features = [f for f in catalog.computed() if f.expectations != Expectations()]
    if not features:
        return None
    specs = [dg.AssetCheckSpec(check_name(f.name), asset=ASSET, description=_describe(f)) for f in features]
    by_check = {check_name(f.name): f for f in features}

    @dg.multi_asset_check(specs=specs, can_subset=True, name="customer_features_expectations")
    def customer_features_expectations(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        """Catalog expectations (range, NULL rate) measured in one SQL aggregate."""
        wanted = [by_check[k.name] for k in context.selected_asset_check_keys]
        scope = _scope(context, warehouse)
        scope = (scope[1], scope[1]) if scope else None
        if scope is None:
            for f in wanted:
                yield dg.AssetCheckResult(check_name=check_name(f.name), asset_key=ASSET, passed=False,
                                          description=f"{tables.CUSTOMER_FEATURES.name} has no rows to check")
            return
        outcomes = {o.feature: o for o in expectations.evaluate(warehouse, wanted, *scope)}
        for f in wanted:
            o = outcomes.get(f.name)
            if o is None:
                yield dg.AssetCheckResult(check_name=check_name(f.name), asset_key=ASSET, passed=False,
                                          description=f"{tables.CUSTOMER_FEATURES.name} has no column {f.name}: materialize it")
                continue
            yield dg.AssetCheckResult(
                check_name=check_name(f.name), asset_key=ASSET, passed=o.passed,
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


@dg.asset_check(asset=ASSET, name=NO_DUPLICATES, blocking=True)
def no_duplicate_keys(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
    """Each (customer_id, snapshot_date) appears once; duplicates stop downstream assets."""
    scope = _scope(context, warehouse)
    if scope is None:
        return dg.AssetCheckResult(passed=False, description=f"{tables.CUSTOMER_FEATURES.name} has no rows to check")
    n, sample = expectations.duplicate_keys(warehouse, *scope)
    return dg.AssetCheckResult(
        passed=n == 0,
        description=f"{n} duplicated (customer_id, snapshot_date) keys in {scope[0]} .. {scope[1]}" if n else None,
        metadata={"snapshot_range": f"{scope[0]} .. {scope[1]}", "duplicate_keys": n,
                  "examples": ", ".join(f"{c}@{d} x{k}" for c, d, k in sample)},
    )


def all_checks(catalog: Catalog | None = None) -> list[dg.AssetChecksDefinition]:
    catalog = catalog or load_catalog()
    return [c for c in (build_expectation_checks(catalog), no_duplicate_keys) if c is not None]
