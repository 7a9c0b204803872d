"""Remediation test helpers: a small catalog from FeatureSpec objects, and hand-made customer_features,
feature_stats_baseline and drift_alerts tables (the monitoring contract), so these tests do not
depend on the features or monitoring code."""

from __future__ import annotations

import datetime as dt
import hashlib

from feature_factory.catalog_resource import CatalogResource
from feature_factory.catalog import Catalog, DType, Expectations, FeatureSpec, Lifecycle
from feature_factory.remediation.resources import RemediationSettings

DAY = dt.date(2024, 3, 10)
FEATURE_COLUMNS = {
    "customer_id": "VARCHAR", "snapshot_date": "DATE", "revenue_7d": "DOUBLE", "purchases_7d": "BIGINT",
    "amount_stddev_7d": "DOUBLE", "draft_feature": "DOUBLE", "computed_at": "TIMESTAMP",
}
BASELINE_COLUMNS = {
    "baseline_version": "BIGINT", "feature": "VARCHAR", "min_value": "DOUBLE", "p01": "DOUBLE", "p50": "DOUBLE",
    "p99": "DOUBLE", "max_value": "DOUBLE",
    "mean": "DOUBLE", "stddev": "DOUBLE", "null_rate": "DOUBLE", "is_current": "BOOLEAN",
}
ALERT_COLUMNS = {
    "alert_date": "DATE", "feature": "VARCHAR", "baseline_version": "BIGINT",
    **{m: "DOUBLE" for m in ("psi", "ks", "wasserstein_norm", "js_distance", "mean_shift_std", "std_ratio",
                             "null_rate_delta", "out_of_range_share")},
    "drift_types": "VARCHAR", "severity": "VARCHAR", "created_at": "TIMESTAMP",
}


def insert(warehouse, table: str, columns: dict[str, str], rows: list[dict]) -> None:
    """Typed DDL + parameterised inserts: works the same on DuckDB and fakesnow."""
    ddl = ", ".join(f"{c} {t}" for c, t in columns.items())
    marks = ", ".join("?" for _ in columns)
    with warehouse.session() as s:
        s.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
        for row in rows:
            s.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                      [row.get(c) for c in columns])


def spec(name: str, dtype: DType = DType.FLOAT, lifecycle: Lifecycle = Lifecycle.ACTIVE, agg: str | None = None,
         **exp) -> FeatureSpec:
    return FeatureSpec(
        name=name, description=name, owner="tests", dtype=dtype, lifecycle=lifecycle,
        aggregate=None, window_days=7, agg=agg, expectations=Expectations(**exp),
    )


def make_catalog() -> Catalog:
    return Catalog((
        spec("revenue_7d", min=0.0, max=100000.0),
        # A count over the same window and rows as amount_stddev_7d: its NULLs with purchases are
        # missing values (remediation's missing_data rule imputes only those).
        spec("purchases_7d", DType.INT, agg="count", min=0),
        spec("amount_stddev_7d", agg="stddev", min=0.0),
        spec("draft_feature", lifecycle=Lifecycle.DRAFT),
        spec("old_feature", lifecycle=Lifecycle.RETIRED),
    ))


def seed_features(warehouse, day: dt.date = DAY) -> None:
    """Two snapshot days; the latest has outliers in revenue_7d and NULLs in amount_stddev_7d."""
    rows = []
    for d, offset in ((day - dt.timedelta(days=1), 0.0), (day, 1.0)):
        for i in range(10):
            rows.append({
                "customer_id": f"c{i:02d}", "snapshot_date": d,
                "revenue_7d": float(10 * i) + offset, "purchases_7d": i,
                "amount_stddev_7d": None if (d == day and i % 2) else 1.5 * i,
                "draft_feature": float(i),
                "computed_at": dt.datetime.combine(d, dt.time(1, 0)),
            })
    rows[-1]["revenue_7d"] = 5000.0  # an outlier on the latest day
    rows[-2]["purchases_7d"] = 40
    warehouse.execute("DROP TABLE IF EXISTS customer_features")
    insert(warehouse, "customer_features", FEATURE_COLUMNS, rows)


def seed_baseline(warehouse, version: int = 1) -> None:
    insert(warehouse, "feature_stats_baseline", BASELINE_COLUMNS, [
        {"baseline_version": version, "feature": "revenue_7d", "min_value": 0.5, "p01": 0.5, "p50": 45.0,
         "p99": 90.5, "max_value": 90.5,
         "mean": 45.0, "stddev": 30.0, "null_rate": 0.0, "is_current": True},
        {"baseline_version": version, "feature": "purchases_7d", "min_value": 0.0, "p01": 0.2, "p50": 4.5,
         "p99": 8.7, "max_value": 9.0,
         "mean": 4.5, "stddev": 3.0, "null_rate": 0.0, "is_current": True},
        {"baseline_version": version, "feature": "amount_stddev_7d", "min_value": 0.0, "p01": 0.1, "p50": 6.75,
         "p99": 13.4, "max_value": 13.5,
         "mean": 6.75, "stddev": 4.5, "null_rate": 0.0, "is_current": True},
    ])


def alert(feature: str, drift_types: str, severity: str, day: dt.date = DAY, version: int = 1, **metrics) -> dict:
    base = {"alert_date": day, "feature": feature, "baseline_version": version, "psi": 0.0, "ks": 0.0,
            "wasserstein_norm": 0.0, "js_distance": 0.0, "mean_shift_std": 0.0, "std_ratio": 1.0,
            "null_rate_delta": 0.0, "out_of_range_share": 0.0, "drift_types": drift_types,
            "severity": severity, "created_at": dt.datetime(2024, 3, 11, 6, 0)}
    base.update(metrics)
    return base


def seed_alerts(warehouse, rows: list[dict]) -> None:
    insert(warehouse, "drift_alerts", ALERT_COLUMNS, rows)


def build_online(warehouse, catalog, entity=None) -> None:
    """Stand-in for the features module's online builder: latest snapshot through the patch layer
    (the customer's tables, whatever `entity` it is called with)."""
    from feature_factory.features.patch_layer import patched_expressions

    served = catalog.served()
    exprs = patched_expressions(warehouse, served)
    cols = ", ".join(f"{exprs[f.name]} AS {f.name}" for f in served)
    warehouse.replace_table(
        "customer_features_online",
        f"SELECT customer_id, snapshot_date, {cols} FROM customer_features "
        "WHERE snapshot_date = (SELECT MAX(snapshot_date) FROM customer_features)",
    )


def dump(warehouse, table: str) -> tuple[list, str]:
    """Every row of `table` in a fixed order, and a hash of columns + rows (byte-for-byte compare)."""
    cols = [c for c, _ in warehouse.columns(table)]
    rows = warehouse.fetch_all(f"SELECT {', '.join(cols)} FROM {table} ORDER BY customer_id")
    return rows, hashlib.sha256(repr((cols, rows)).encode()).hexdigest()


class CatalogSettings(RemediationSettings):
    """The remediation resource (mode, policy) of a test; `catalog_resource()` is the `catalog`
    resource its runs get: the test catalog, handed in."""

    def catalog_resource(self) -> CatalogResource:
        return CatalogResource.of(make_catalog())


def run_job(job_name: str, warehouse, settings, run_config=None, instance=None, tags=None):
    """Run one remediation job in process, as the Launchpad would, without raising on failure."""
    import dagster as dg

    from feature_factory.remediation import assets, jobs
    from feature_factory.serving.config import OnlineStoreResource

    defs = dg.Definitions(
        assets=[assets.patch_candidates, assets.feature_patch_log],
        jobs=[jobs.remediation_job, jobs.approve_patches_job, jobs.apply_patches_job, jobs.rollback_patch_job],
        resources={"warehouse": warehouse, "remediation": settings, "online_store": OnlineStoreResource.from_env(),
                   "catalog": settings.catalog_resource()},
    )
    return defs.resolve_job_def(job_name).execute_in_process(
        run_config=run_config or {}, instance=instance, raise_on_error=False, tags=tags)
