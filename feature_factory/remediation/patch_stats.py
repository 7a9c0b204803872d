"""A feature's stats on the latest snapshot, through a given set of patches: the before/after of
each apply and rollback in `feature_patch_log`. One aggregate query in the warehouse (bounded
result), over the snapshot `customer_features_online` serves (another entity: its own, scope.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from feature_factory.catalog import Catalog
from feature_factory.features import patch_layer
from feature_factory.features.patches import Patch, PatchValidationError, compose
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope
from feature_factory.warehouse.interface import WarehouseError, clean_row
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse



def _baseline_bounds(warehouse: Warehouse, session, feature: str, version: int | None,
                    scope: Scope = CUSTOMER_SCOPE) -> tuple[float, float] | None:
    if version is None or not warehouse.session_columns(session, scope.subject.baseline.name):
        return None
    row = session.fetch_one(
        f"SELECT p01, p99 FROM {scope.subject.baseline} WHERE feature = ? AND baseline_version = ?",
        [feature, version]
    )
    if not row or row[0] is None or row[1] is None:
        return None
    return float(row[0]), float(row[1])


def feature_stats(
    warehouse: Warehouse, catalog: Catalog, feature: str, patches: list[Patch], baseline_version: int | None = None,
    scope: Scope = CUSTOMER_SCOPE,
) -> dict[str, Any]:
    """count, null rate, mean, stddev, min, max, p01/p50/p99 and (with a baseline version) the share
    of non-null values outside that baseline's [p01, p99], of `feature` with `patches` applied."""
    expr = compose(patches, quote_ident(feature), catalog)
    q01, q50, q99 = warehouse.quantiles("v", [0.01, 0.5, 0.99])
    # One connection for the whole measurement: opening one is the dominant cost on small data.
    with warehouse.session() as s:
        table = scope.subject.features
        if not warehouse.session_columns(s, table):
            return {"note": f"{table} does not exist yet"}
        bounds = _baseline_bounds(warehouse, s, feature, baseline_version, scope)
        oor = "CAST(NULL AS DOUBLE)"
        if bounds:
            lo, hi = sql_literal(bounds[0]), sql_literal(bounds[1])
            oor = f"AVG(CASE WHEN v IS NULL THEN NULL WHEN v < {lo} OR v > {hi} THEN 1.0 ELSE 0.0 END)"
        sql = f"""
SELECT MAX(snapshot_date) AS snapshot_date, COUNT(*) AS n,
       AVG(CASE WHEN v IS NULL THEN 1.0 ELSE 0.0 END) AS null_rate,
       AVG(v) AS mean, STDDEV_SAMP(v) AS stddev, MIN(v) AS minimum, MAX(v) AS maximum,
       {q01} AS p01, {q50} AS p50, {q99} AS p99, {oor} AS out_of_range_share
FROM (
    SELECT snapshot_date, CAST({expr} AS DOUBLE) AS v FROM {table}
    WHERE snapshot_date = (SELECT MAX(snapshot_date) FROM {table})
) t"""
        try:
            df = s.fetch_df(sql)
        except WarehouseError as exc:
            return {"error": str(exc).splitlines()[0]}
    row = clean_row(df.iloc[0].to_dict())
    out: dict[str, Any] = {"snapshot_date": str(row.pop("snapshot_date")) if row.get("snapshot_date") else None}
    for key, value in row.items():
        out[key] = None if value is None else (int(value) if key == "n" else round(float(value), 12))
    if bounds:
        out["baseline_p01"], out["baseline_p99"] = bounds
    return out


def rollback_stats(warehouse: Warehouse, catalog: Catalog, row: dict[str, Any],
                   scope: Scope = CUSTOMER_SCOPE) -> tuple[dict, dict]:
    """Stats with and without the patch in `row`; a note instead when the feature's active
    patches no longer validate (the rollback itself still proceeds)."""
    feature = row["feature"]
    try:
        active = patch_layer.load_active(warehouse, catalog, [feature], scope.active).get(feature, [])
    except (PatchValidationError, ValueError) as exc:
        note = {"note": f"stats unavailable: {exc}"}
        return note, note
    version = int(row["baseline_version"]) if row.get("baseline_version") is not None else None
    remaining = [p for p in active if p.patch_id != row["patch_id"]]
    return (
        feature_stats(warehouse, catalog, feature, active, version, scope),
        feature_stats(warehouse, catalog, feature, remaining, version, scope),
    )
