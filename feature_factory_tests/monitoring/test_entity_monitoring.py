"""Monitoring of another entity (issue 18): `product` gets product_feature_stats,
product_feature_stats_baseline and product_drift_alerts, computed by the customer's SQL, drift
rules and statistical diagnosis over product_features (the same numbers for the same values, on
DuckDB and Snowflake through fakesnow), built by the asset factory from the catalog, and
materialized end to end from landed order CSVs; the customer tables are not touched and the
alerts say why there is no attribution."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from feature_factory.catalog_resource import CatalogResource
from feature_factory import tables
from feature_factory.catalog import load_catalog, load_sources
from feature_factory.events.assets import source_assets
from feature_factory.features import entity_assets as feature_entity_assets
from feature_factory.features.entities import entity_tables
from feature_factory.homes import HomesResource
from feature_factory.monitoring import entity_assets
from feature_factory.monitoring.report import alerts
from feature_factory.monitoring.detection import baseline
from feature_factory.monitoring.statistics import feature_stats as stats
from feature_factory.monitoring.notifier import LogNotifier
from feature_factory.monitoring.sensors import DriftResponse, build_entity_drift_sensor
from feature_factory.monitoring.subject import CUSTOMER, subject_for
from feature_factory.serving.config import OnlineStoreResource

from .conftest import START, load_features, make_days

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
SOURCES = EXAMPLES / "sources_orders.yaml"
CATALOG = EXAMPLES / "features_orders.yaml"
D = dt.date.fromisoformat


@pytest.fixture
def product(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    return subject_for(entity_tables("product", load_sources(SOURCES)))


def test_product_contracts_are_the_customer_ones_renamed(product):
    assert (product.entity, product.features, product.key, product.history) == (
        "product", "product_features", "product_id", "raw_orders")
    assert (product.stats.name, product.baseline.name, product.alerts.name) == (
        "product_feature_stats", "product_feature_stats_baseline", "product_drift_alerts")
    for mine, theirs in ((product.stats, tables.FEATURE_STATS), (product.baseline, tables.FEATURE_STATS_BASELINE),
                         (product.alerts, tables.DRIFT_ALERTS)):
        assert mine.schema == theirs.schema and mine.owner == "monitoring"
        assert "customer_features" not in mine.description + " ".join(mine.descriptions.values())
    assert product.stats.descriptions["feature"] == "The product_features column."
    assert "(entity product: product_features)" in product.alerts.description
    assert subject_for(entity_tables("customer")) is CUSTOMER and CUSTOMER.alerts is tables.DRIFT_ALERTS


def _as_products(frame):
    return frame.rename(columns={"customer_id": "product_id"})


def _table(warehouse, name: str, order: str, drop: tuple[str, ...]) -> list[tuple]:
    cols = [c for c, _ in warehouse.columns(name) if c not in drop]
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in r)
            for r in warehouse.fetch_all(f"SELECT {', '.join(cols)} FROM {name} ORDER BY {order}")]


def test_product_monitoring_equals_the_customer_path_on_the_same_values(warehouse, features, product):
    """The same 12 days as customer_features and as product_features: baseline, statistics, alerts
    and diagnoses agree value for value; only the tables and the attribution headline differ."""
    frame = make_days(12, customers=250, seed=3, shift={11: {"amount_shift": 3.0, "outliers": 0.04}})
    load_features(warehouse, frame)
    staged = _as_products(frame).assign(snapshot_date=frame["snapshot_date"].astype(str),
                                        computed_at=frame["computed_at"].astype(str))
    warehouse.write_df("product_features_in", staged, mode="replace")
    warehouse.replace_table("product_features", "SELECT product_id, CAST(snapshot_date AS DATE) AS snapshot_date, "
                            "amount, visits, ratio, CAST(computed_at AS TIMESTAMP) AS computed_at FROM product_features_in")
    last = START + dt.timedelta(days=11)
    reports = {}
    for subject in (CUSTOMER, product):
        b = baseline.capture_baseline(warehouse, START, START + dt.timedelta(days=7), features, subject=subject)
        assert (b.version, sorted(b.features)) == (1, ["amount", "ratio", "visits"])
        assert stats.write_feature_stats(warehouse, START, last, features, binning=b.binning(),
                                         subject=subject) == 3 * 12
        reports[subject.entity] = alerts.evaluate_days(warehouse, START, last, features, subject=subject)
        rows = [r for rep in reports[subject.entity] for r in alerts.alert_rows(rep)]
        assert alerts.write_alerts(warehouse, START, rows, last, subject) == 3 * 12

    drop = ("computed_at", "captured_at", "created_at", "diagnosis_evidence")
    for mine, theirs, order in ((product.stats, tables.FEATURE_STATS, "feature, stats_date"),
                                (product.baseline, tables.FEATURE_STATS_BASELINE, "feature"),
                                (product.alerts, tables.DRIFT_ALERTS, "feature, alert_date")):
        got, want = _table(warehouse, mine.name, order, drop), _table(warehouse, theirs.name, order, drop)
        assert got == want and len(got) == (3 if mine is product.baseline else 36)

    shifted = warehouse.fetch_one(f"SELECT severity, drift_types, diagnosis, diagnosis_evidence FROM {product.alerts} "
                                  "WHERE feature = 'amount' AND alert_date = ?", [str(last)])
    assert shifted[0] in ("high", "critical") and "MEAN_SHIFT" in shifted[1]
    assert shifted[2] == "population_shift"  # the whole distribution moved 3 stds: not a tail to clip
    evidence = json.loads(shifted[3])
    # Issue 27: every entity's drift is attributed over its population's rows; these product features
    # aggregate raw_events (the customer's source), so there is nothing of raw_orders to attribute.
    assert evidence["headline"] == "amount: not attributed: source events"
    customer = json.loads(warehouse.fetch_one("SELECT diagnosis_evidence FROM drift_alerts WHERE feature = 'amount' "
                                              "AND alert_date = ?", [str(last)])[0])
    assert {k: v for k, v in customer.items() if k != "headline"} == {k: v for k, v in evidence.items() if k != "headline"}
    # Undrifted rows carry no evidence at all, as on the customer side.
    assert warehouse.fetch_one(f"SELECT COUNT(*) FROM {product.alerts} WHERE severity = 'none' "
                               "AND diagnosis_evidence IS NOT NULL")[0] == 0
    # A column gone from product_features is said to be missing from product_features (issue 27).
    warehouse.replace_table("product_features", "SELECT product_id, snapshot_date, amount, visits, computed_at "
                            "FROM product_features_in")
    notes = {r.feature: r.note for r in alerts.evaluate_day(warehouse, last, features, subject=product).results}
    assert notes["ratio"] == "column ratio is missing from product_features"


def test_product_monitoring_errors_name_the_product_table(duckdb_warehouse, features, product):
    with pytest.raises(stats.MonitoringError, match="table product_features does not exist .*materialize product_features"):
        stats.write_feature_stats(duckdb_warehouse, START, START, features, subject=product)
    assert baseline.current_baseline(duckdb_warehouse, product) is None
    assert alerts.evaluate_day(duckdb_warehouse, START, features, subject=product).baseline is None


def test_factory_builds_product_monitoring_assets_checks_and_jobs(product, monkeypatch):
    defs = entity_assets.definitions(load_catalog(CATALOG))
    by_key = {a.key.path[-1]: a for a in defs.assets}
    # Issue 27: its Evidently report too (the factory's assets were the three without it)
    assert sorted(by_key) == ["product_drift_alerts", "product_drift_report", "product_feature_stats",
                              "product_feature_stats_baseline"]
    assert {k.path[-1] for k in by_key["product_drift_report"].dependency_keys} == {"product_drift_alerts"}
    st, base, al = (by_key[n] for n in ("product_feature_stats", "product_feature_stats_baseline",
                                        "product_drift_alerts"))
    assert st.partitions_def is not None and al.partitions_def is not None and base.partitions_def is None
    assert {k.path[-1] for k in st.dependency_keys} == {"product_features", "product_feature_stats_baseline"}
    assert {k.path[-1] for k in al.dependency_keys} == {"product_feature_stats", "product_feature_stats_baseline",
                                                        "product_features"}
    assert {k.path[-1] for k in base.dependency_keys} == {"product_features"}
    schema = al.metadata_by_key[al.key]["dagster/column_schema"]
    assert [c.name for c in schema.columns] == list(tables.DRIFT_ALERTS.names)
    assert ("segments of raw_orders carrying the change (by status, cohort, first_seen_week, source_file)"
            in al.descriptions_by_key[al.key])  # issue 27: attributed like the customer's
    assert "product_features" in st.descriptions_by_key[st.key]
    assert [(c.asset_key.path[-1], c.name, c.blocking) for c in defs.asset_checks for c in c.check_specs] == [
        ("product_feature_stats_baseline", "one_current_baseline", True)]
    assert sorted(j.name for j in defs.jobs) == ["capture_product_baseline_job", "product_refresh_job"]
    assert entity_assets.definitions(load_catalog()).assets is None or not list(entity_assets.definitions(
        load_catalog()).assets)  # the shipped catalog: customer only


# -- end to end: landed orders -> product_features -> baseline -> stats -> alerts, through Dagster --------
HEADER = "line_no,sku,buyer,placed_at,order_total,status"
DAYS = 70  # 2024-01-01 .. 2024-03-10: the 30-day features are complete from 01-30


def _land_orders(folder: Path, products: int = 40, shift_from: int = 65) -> None:
    """Two placed lines per product and day (totals around 10 + product number); from day
    `shift_from` on the totals are five times larger. Two bad lines (negative total, unknown status)."""
    rng = np.random.default_rng(7)
    rows = []
    for d in range(DAYS):
        day = START + dt.timedelta(days=d)
        for p in range(products):
            for k in range(2):
                total = (10 + p) * (5 if d >= shift_from else 1) * float(rng.uniform(0.8, 1.2))
                rows.append(f"l{d}_{p}_{k},p{p:02d},u{p % 7},{day}T1{k}:00:00Z,{total:.2f},ok")
    rows += ["bad1,p01,u1,2024-01-05T09:00:00Z,-5,ok", "bad2,p01,u1,2024-01-05T09:10:00Z,5,lost"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders.csv").write_text("\n".join([HEADER, *rows]) + "\n")


def _range(first: str, last: str) -> dict:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def _metadata(result, asset: str) -> dict:
    mats = list(result.asset_materializations_for_node(asset))
    return {k: v.value for k, v in mats[-1].metadata.items()}


def test_landed_orders_to_product_drift_alerts_through_dagster(warehouse, product, tmp_path, monkeypatch):
    folder = tmp_path / "orders"
    _land_orders(folder)
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))
    catalog = load_catalog(CATALOG)
    features = feature_entity_assets.definitions(catalog)
    monitoring = entity_assets.definitions(catalog)
    res = {"warehouse": warehouse, "homes": HomesResource(),
           "catalog": CatalogResource(catalog_path=str(CATALOG), sources_path=str(SOURCES))}
    with dg.instance_for_test() as instance:
        r = dg.materialize([source_assets(load_sources(SOURCES).get("orders")), *features.assets], resources=res,
                           instance=instance, tags=_range("2024-01-01", "2024-03-10"), run_config={
                               "ops": {"ingest_orders": {"config": {"landing_dir": str(folder)}}}})
        assert _metadata(r, "product_features")["dagster/row_count"] == 40 * DAYS
        assert sorted(warehouse.fetch_all("SELECT order_line_id, reason FROM orders_quarantine")) == [
            ("bad1", "negative_order_total"), ("bad2", "unknown_status")]

        assets = {a.key.path[-1]: a for a in monitoring.assets}
        r = dg.materialize([assets["product_feature_stats_baseline"]], resources=res, instance=instance, run_config={
            "ops": {"product_feature_stats_baseline": {"config": {"start_date": "2024-02-01",
                                                                  "end_date": "2024-02-28"}}}})
        md = _metadata(r, "product_feature_stats_baseline")
        # days_since_last_order has a 90-day window: not complete before 03-30, so not in the baseline.
        assert (md["baseline_version"], md["features"], md["window"]) == (1, 4, "2024-02-01..2024-02-28")
        assert "days_since_last_order" in md["incomplete_features"]

        r = dg.materialize([assets["product_feature_stats"], assets["product_drift_alerts"]], resources=res,
                           instance=instance, tags=_range("2024-03-01", "2024-03-10"))
        assert _metadata(r, "product_feature_stats")["dagster/row_count"] == 5 * 10
        # The product drift sensor acts on the range run once, for its newest drifted day.
        ctx = dg.build_sensor_context(instance=instance, resources={
            "notifier": LogNotifier(), "drift_response": DriftResponse()})
        requests = build_entity_drift_sensor(product).evaluate_tick(ctx).run_requests
        assert [(q.job_name, q.run_key) for q in requests] == [
            ("product_remediation_job", "remediation:product:2024-03-10:1")]
        # Issue 27: product gets its Evidently report too, beside its own alerts.
        r = dg.materialize([assets["product_drift_report"]], resources=res, instance=instance,
                           partition_key="2024-03-10")
        md = _metadata(r, "product_drift_report")
        assert md["evidently_drifted_features"] == ["avg_order_total_30d", "revenue_7d"]
        assert Path(md["evidently_report_file"]).name == "product_drift_2024-03-10_baseline_v1.html"
        assert Path(md["evidently_report_file"]).stat().st_size > 10_000
    verdicts = dict(warehouse.fetch_all(f"SELECT feature, evidently_drift FROM {product.alerts} "
                                        "WHERE alert_date = CAST('2024-03-10' AS DATE)"))
    assert verdicts == {"orders_7d": False, "revenue_7d": True, "avg_order_total_30d": True, "return_rate_30d": False}
    assert not warehouse.table_exists("feature_stats") and not warehouse.table_exists("drift_alerts")
    by_day = dict(warehouse.fetch_all(
        f"SELECT CAST(alert_date AS VARCHAR), MAX(severity_rank) FROM {product.alerts} "
        "WHERE feature = 'revenue_7d' GROUP BY alert_date"))
    assert len(by_day) == 10
    assert max(by_day[str(D("2024-03-01") + dt.timedelta(days=i))] for i in range(4)) == 0  # before the shift
    assert by_day["2024-03-10"] >= 3  # five times larger totals from 03-06: high or critical
    got = warehouse.fetch_one(f"SELECT current_mean, baseline_mean, diagnosis FROM {product.alerts} "
                              "WHERE feature = 'avg_order_total_30d' AND alert_date = CAST('2024-03-10' AS DATE)")
    assert got[0] > got[1] * 1.5 and got[2] == "population_shift"  # every order five times larger
    assert warehouse.fetch_one(f"SELECT COUNT(*) FROM {product.alerts} WHERE feature = 'days_since_last_order' "
                               "AND alert_date = CAST('2024-03-10' AS DATE)")[0] == 0  # not judged: not in baseline


def test_product_drift_is_attributed_to_the_segment_that_carries_it(warehouse, product, tmp_path):
    """Issue 27: a product's drift names a segment of its own rows, through its drift_alerts asset:
    a second landing file of inflated lines for five products on the last three days is named."""
    folder = tmp_path / "orders"
    _land_orders(folder, shift_from=DAYS)  # no shift in the main export
    late = [f"x{d}_{p},p{p:02d},u1,{D('2024-03-08') + dt.timedelta(days=d)}T15:00:00Z,{4000 + p},ok"
            for d in range(3) for p in range(5)]
    (folder / "orders_late.csv").write_text("\n".join([HEADER, *late]) + "\n")
    catalog = load_catalog(CATALOG)
    features = feature_entity_assets.definitions(catalog)
    assets = {a.key.path[-1]: a for a in entity_assets.definitions(catalog).assets}
    res = {"warehouse": warehouse, "homes": HomesResource(),
           "catalog": CatalogResource(catalog_path=str(CATALOG), sources_path=str(SOURCES))}
    with dg.instance_for_test() as instance:
        assert dg.materialize([source_assets(load_sources(SOURCES).get("orders")), *features.assets], resources=res,
                              instance=instance, tags=_range("2024-01-01", "2024-03-10"), run_config={
                                  "ops": {"ingest_orders": {"config": {"landing_dir": str(folder)}}}}).success
        assert dg.materialize([assets["product_feature_stats_baseline"]], resources=res, instance=instance,
                              run_config={"ops": {"product_feature_stats_baseline": {"config": {
                                  "start_date": "2024-02-01", "end_date": "2024-02-28"}}}}).success
        assert dg.materialize([assets["product_feature_stats"], assets["product_drift_alerts"]], resources=res,
                              instance=instance, partition_key="2024-03-10").success
    diagnosis, evidence, top = warehouse.fetch_one(
        f"SELECT diagnosis, diagnosis_evidence, top_contributors FROM {product.alerts} "
        "WHERE feature = 'revenue_7d' AND alert_date = CAST('2024-03-10' AS DATE)")
    named = [(c["dimension"], c["value"]) for c in json.loads(top)]
    assert named[0] == ("source_file", "orders_late.csv"), (diagnosis, named)
    assert "orders_late.csv" in json.loads(evidence)["headline"]
    assert warehouse.table_exists("product_first_seen")  # its own attribution caches


def test_an_entity_whose_monitoring_table_a_source_claims_is_refused():
    from feature_factory.catalog import CatalogError
    from feature_factory.catalog.sources import ENTITY_TABLE_SUFFIXES, parse_entities, parse_sources

    sources = parse_sources({"orders": {"location": {"landing_folder": "orders"}, "row_id": "line_id",
                                        "tables": {"raw": "product_drift_alerts"}, "entity_keys": {"product": "sku"},
                                        "event_time": "ts", "columns": {"line_id": "string", "sku": "string",
                                                                        "ts": "timestamp"}}}, "my.yaml")
    with pytest.raises(CatalogError, match="^my.yaml: entity 'product': its drift_alerts table 'product_drift_alerts' "
                       "is already claimed by source 'orders' \\(tables.raw\\); rename the entity"):
        parse_entities({"product": {"key": "product_id", "source": "orders"}}, sources, "my.yaml")
    names = {t.name for t in (*tables.entity_monitoring(tables.EntityNames.derived("product")),
                              *tables.entity_patches(tables.EntityNames.derived("product")))}
    assert names == {f"product_{s}" for s in ENTITY_TABLE_SUFFIXES}  # the check covers every table made


def test_product_refresh_job_runs_the_entity_path_from_ingestion_to_alerts(product, duckdb_warehouse, tmp_path,
                                                                          monkeypatch):
    from feature_factory.remediation import entity_assets as remediation_entity_assets
    from feature_factory.serving import assets as serving_assets

    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))
    folder = tmp_path / "orders"
    _land_orders(folder, products=5)

    catalog = load_catalog(CATALOG)
    defs = dg.Definitions.merge(
        dg.Definitions(assets=[source_assets(load_sources(SOURCES).get("orders"))]),
        feature_entity_assets.definitions(catalog), entity_assets.definitions(catalog),
        remediation_entity_assets.definitions(catalog), dg.Definitions(assets=serving_assets.store_assets(catalog)),
        dg.Definitions(resources={"warehouse": duckdb_warehouse, "remediation": object(), "homes": HomesResource(),
                                  "online_store": OnlineStoreResource.from_env(),
                                  "catalog": CatalogResource(catalog_path=str(CATALOG), sources_path=str(SOURCES))}))
    job = defs.resolve_job_def("product_refresh_job")
    selected = {k.path[-1] for k in job.asset_layer.selected_asset_keys}
    assert selected == {"raw_orders", "orders_quarantine", "product_features", "product_features_online",
                        "product_features_online_store", "product_feature_stats", "product_drift_alerts",
                        "product_drift_report"}  # issue 27: the report, as in daily_refresh_job
    assert job.partitions_def is not None
    capture = defs.resolve_job_def("capture_product_baseline_job")
    assert {k.path[-1] for k in capture.asset_layer.selected_asset_keys} == {"product_feature_stats_baseline"}
    remediation = defs.resolve_job_def("product_remediation_job")
    assert {k.path[-1] for k in remediation.asset_layer.selected_asset_keys} == {"product_patch_candidates"}
    # A 10-day backfill of the job as one run: every asset of the path, no baseline yet.
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), tags=_range("2024-01-01", "2024-01-10"),
                                    run_config={"ops": {"ingest_orders": {"config": {"landing_dir": str(folder)}}}})
    assert result.success
    wh = duckdb_warehouse
    assert wh.fetch_one("SELECT COUNT(*) FROM product_features")[0] == 5 * 10
    assert wh.fetch_one("SELECT COUNT(*) FROM product_features_online")[0] == 5
    assert wh.fetch_one("SELECT COUNT(*) FROM product_feature_stats")[0] == 5 * 10  # 5 features x 10 days
    assert wh.row_count("product_drift_alerts") == 0  # judged only against a baseline
    assert _metadata(result, "product_drift_alerts")["partitions"]["2024-01-10"]["baseline_version"] is None
    assert _metadata(result, "product_feature_stats")["baseline"].startswith(
        "no baseline captured yet — run capture_product_baseline_job")


def test_every_asset_of_each_refresh_job_runs_a_partition_range_as_one_run(monkeypatch):
    """`dg launch --job daily_refresh_job --partition-range A...B` (and product_refresh_job) needs
    every asset of the job on the single-run backfill policy, the unpartitioned online table and
    store included (issue 34 item 5); resolving the jobs warns of no varying policies."""
    import importlib
    import warnings

    from feature_factory import definitions

    domains = ("feature_factory.events.definitions", "feature_factory.features.definitions",
               "feature_factory.monitoring.definitions",
               "feature_factory.remediation.definitions", "feature_factory.serving.definitions")
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))
    try:
        for name in domains:
            importlib.reload(importlib.import_module(name))
        defs = definitions.build_defs()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            jobs = {name: defs.resolve_job_def(name) for name in ("daily_refresh_job", "product_refresh_job")}
        assert [str(w.message) for w in caught if "BackfillPolic" in str(w.message)] == []
        for name, job in jobs.items():
            policies = {k.to_user_string(): job.asset_layer.get(k).backfill_policy
                        for k in job.asset_layer.executable_asset_keys}
            assert {"customer_features_online_store", "product_features_online_store", "raw_orders"} & set(policies)
            assert {k: p for k, p in policies.items() if p != dg.BackfillPolicy.single_run()} == {}, name
    finally:
        monkeypatch.delenv("FEATURE_FACTORY_SOURCES")
        monkeypatch.delenv("FEATURE_FACTORY_CATALOG")
        for name in domains:
            importlib.reload(importlib.import_module(name))
