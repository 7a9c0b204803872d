"""The monitoring assets materialized with Dagster on DuckDB: no-baseline path, baseline capture,
a single-run range of feature_stats, drift_alerts metadata (table, plots), the Evidently drift_report
downstream of it, the sensor
reading the real materialization, and the definitions (jobs, schedule)."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

import dagster as dg
import pytest

from feature_factory import tables
from feature_factory.catalog import Catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.monitoring import assets as A
from feature_factory.monitoring.detection.baseline import NO_BASELINE
from feature_factory.monitoring.notifier import LogNotifier
from feature_factory.monitoring.sensors import DriftResponse
from feature_factory.homes import HomesResource

from .conftest import load_features, make_days
from .test_monitoring_sensor import remediation_stub

DRIFT_DAY = "2024-01-10"


def _metadata(result, asset: str) -> dict:
    mats = [m for m in result.asset_materializations_for_node(asset)]
    return {k: v.value for k, v in mats[-1].metadata.items()}


@pytest.fixture
def catalog(features):
    """The run's catalog resource: the test's features (handed in, no global replaced)."""
    return CatalogResource.of(Catalog(tuple(features)))


def test_monitoring_assets_end_to_end(duckdb_warehouse, catalog, project_home):
    wh = duckdb_warehouse
    load_features(wh, make_days(10, customers=400, seed=5, shift={9: {"amount_shift": 1.0, "null_rate": 0.3}}))
    res = {"warehouse": wh, "homes": HomesResource(), "catalog": catalog}
    with dg.instance_for_test() as instance:
        # Before any baseline: stats without histograms, an empty alerts partition, a clear message.
        r = dg.materialize([A.feature_stats, A.drift_alerts, A.drift_report], partition_key=DRIFT_DAY,
                           resources=res, instance=instance)
        md = _metadata(r, "drift_alerts")
        assert md["status"] == NO_BASELINE and md["max_severity_rank"] == 0
        assert _metadata(r, "drift_report")["status"].startswith(f"drift_alerts has no rows for {DRIFT_DAY}")
        assert NO_BASELINE in _metadata(r, "feature_stats")["baseline"]
        assert wh.row_count("drift_alerts") == 0 and wh.table_exists("drift_alerts")

        r = dg.materialize([A.feature_stats_baseline], resources=res, instance=instance,
                           run_config={"ops": {"feature_stats_baseline": {"config": {"first_n_days": 7}}}})
        md = _metadata(r, "feature_stats_baseline")
        assert md["baseline_version"] == 1 and md["window"] == "2024-01-01..2024-01-07" and md["features"] == 3

        # A range as one run (what a UI backfill does with the single-run policy).
        r = dg.materialize([A.feature_stats], resources=res, instance=instance, tags={
            "dagster/asset_partition_range_start": "2024-01-08",
            "dagster/asset_partition_range_end": DRIFT_DAY})
        assert r.success and len(r.asset_materializations_for_node("feature_stats")) == 3
        assert wh.fetch_all("SELECT COUNT(*), COUNT(DISTINCT stats_date), MIN(baseline_version) "
                            "FROM feature_stats WHERE hist_counts IS NOT NULL") == [(9, 3, 1)]

        cfg = {"ops": {"drift_report": {"config": {"sample_size": 300}}}}
        r = dg.materialize([A.drift_alerts, A.drift_report], partition_key=DRIFT_DAY, resources=res,
                           instance=instance, run_config=cfg)
        # drift_alerts lands before Evidently starts: its materialization comes first in the run.
        landed = [e.asset_key.path[-1] for e in r.get_asset_materialization_events()]
        assert landed == ["drift_alerts", "drift_report"]
        md = _metadata(r, "drift_alerts")
        assert "evidently_report_file" not in md and "| amount | **" in md["drift_table"]
        assert md["partitions"][DRIFT_DAY]["evidently_report"].endswith(f"drift_{DRIFT_DAY}_baseline_v1.html")
        # The verdict names the baseline capture it was judged against (the alert's id, answered.py).
        captured = wh.fetch_one("SELECT MIN(captured_at) FROM feature_stats_baseline WHERE baseline_version = 1")[0]
        assert md["partitions"][DRIFT_DAY]["baseline_captured_at"] == captured.isoformat()
        assert md["baseline_version"] == 1 and md["max_severity"] in ("high", "critical")
        assert md["max_severity_rank"] >= 3 and md["drifted_features"] == ["amount", "ratio"]
        assert md["drifted_share"] == pytest.approx(2 / 3, abs=1e-3)
        assert "| amount | **" in md["drift_table"] and "MEAN_SHIFT" in md["drift_table"]
        described = {c.name: c.description for c in md["dagster/column_schema"].columns}
        assert list(described) == list(tables.DRIFT_ALERTS.names) and all(described.values())
        assert described["psi"] == "Population stability index over the baseline's frozen decile bins."
        images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", md["histograms"])
        assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
        md = _metadata(r, "drift_report")
        assert md["baseline_version"] == 1 and md["evidently_sample_rows"] == "current 300, reference 300"
        assert "| amount | **" in md["drift_table"] and "| drift |" in md["drift_table"]
        assert "amount" in md["evidently_drifted_features"] and md["dagster/row_count"] == 3
        report = Path(md["evidently_report_file"])
        assert report.is_file() and report.parent == project_home / "reports"
        # The UI's link: /reports/ of the UI's own address (no port baked in), by file name.
        assert md["evidently_report"] == f"/reports/{report.name}"
        assert report.stat().st_size > 10_000 and "amount" in report.read_text(encoding="utf-8")
        rows = wh.fetch_df("SELECT feature, severity, evidently_drift, evidently_score, evidently_method "
                           "FROM drift_alerts ORDER BY feature")
        assert list(rows["feature"]) == ["amount", "ratio", "visits"]
        assert bool(rows.iloc[0]["evidently_drift"]) and rows.iloc[0]["evidently_score"] > 0
        assert rows["evidently_method"].notna().all() and rows.iloc[2]["severity"] in ("none", "low")

        # The sensor acts on that very materialization.
        ctx = dg.build_sensor_context(instance=instance, resources={
            "notifier": LogNotifier(), "drift_response": DriftResponse()})
        data = A_sensor().evaluate_tick(ctx)
        assert [(q.job_name, q.run_key) for q in data.run_requests] == [
            ("remediation_job", f"remediation:{DRIFT_DAY}:1")]

        # A backfill-style range run of drift_alerts: every day judged, one verdict per partition.
        r = dg.materialize([A.drift_alerts, A.drift_report], resources=res, instance=instance, tags={
            "dagster/asset_partition_range_start": "2024-01-08", "dagster/asset_partition_range_end": DRIFT_DAY},
            run_config={"ops": {"drift_report": {"config": {"enabled": False}}}})
        assert all(m.metadata["status"].value.startswith("disabled")
                   for m in r.asset_materializations_for_node("drift_report"))
        md = _metadata(r, "drift_alerts")
        assert md["run_days"] == 3 and md["run_max_severity_rank"] >= 3
        assert {d: v["severity_rank"] >= 2 for d, v in md["partitions"].items()} == {
            "2024-01-08": False, "2024-01-09": False, DRIFT_DAY: True}
        # One verdict per day: each partition's materialization shows that day's own verdict.
        by_day = {m.partition: {k: v.value for k, v in m.metadata.items()}
                  for m in r.asset_materializations_for_node("drift_alerts")}
        assert sorted(by_day) == ["2024-01-08", "2024-01-09", DRIFT_DAY]
        assert [by_day[d]["max_severity"] for d in ("2024-01-08", "2024-01-09")] == [
            md["partitions"]["2024-01-08"]["severity"], md["partitions"]["2024-01-09"]["severity"]]
        assert by_day["2024-01-08"]["drifted_features"] == [] and by_day["2024-01-08"]["max_severity_rank"] <= 1
        assert by_day["2024-01-08"]["histograms"] == "no feature drifted"
        assert by_day[DRIFT_DAY]["drifted_features"] == ["amount", "ratio"]
        assert by_day[DRIFT_DAY]["max_severity_rank"] == md["run_max_severity_rank"]
        assert "data:image/png;base64" in by_day[DRIFT_DAY]["histograms"]
        assert [by_day[d]["dagster/row_count"] for d in sorted(by_day)] == [3, 3, 3]
        assert wh.fetch_all("SELECT COUNT(DISTINCT alert_date), COUNT(*) FROM drift_alerts") == [(3, 9)]
        # Same partition, same baseline version: the sensor does not act twice.
        ctx = dg.build_sensor_context(instance=instance, cursor=data.cursor, resources={
            "notifier": LogNotifier(), "drift_response": DriftResponse()})
        assert A_sensor().evaluate_tick(ctx).run_requests == []

        # A drifted day that is not the range's last gets no histogram PNGs (0.4 s each) unless
        # configured; its verdict and drift table are the same.
        tags = {"dagster/asset_partition_range_start": DRIFT_DAY, "dagster/asset_partition_range_end": "2024-01-11"}
        for every_day in (False, True):
            r = dg.materialize([A.drift_alerts], resources=res, instance=instance, tags=tags, run_config={
                "ops": {"drift_alerts": {"config": {"plots_every_day_in_ranges": every_day}}}})
            day_md = {m.partition: {k: v.value for k, v in m.metadata.items()}
                      for m in r.asset_materializations_for_node("drift_alerts")}[DRIFT_DAY]
            assert day_md["drifted_features"] == ["amount", "ratio"] and "| amount | **" in day_md["drift_table"]
            shown = re.findall(r"data:image/png;base64", day_md["histograms"])
            assert len(shown) == (2 if every_day else 0), day_md["histograms"][:200]
            if not every_day:
                assert day_md["histograms"].startswith("drawn only for the last day of this range run (2024-01-11)")


def A_sensor():  # noqa: N802
    from feature_factory.monitoring.sensors import build_drift_sensor

    return build_drift_sensor([remediation_stub])


def test_stale_partition_without_rows_is_reported(duckdb_warehouse, catalog):
    load_features(duckdb_warehouse, make_days(7, customers=100))
    res = {"warehouse": duckdb_warehouse, "homes": HomesResource(), "catalog": catalog}
    with dg.instance_for_test() as instance:
        dg.materialize([A.feature_stats_baseline], resources=res, instance=instance)
        r = dg.materialize([A.feature_stats, A.drift_alerts], partition_key="2024-01-09", resources=res,
                           instance=instance)
        md = _metadata(r, "drift_alerts")
        assert md["max_severity"] == "high" and md["drifted_share"] == 1.0
        assert duckdb_warehouse.fetch_all("SELECT DISTINCT drift_types FROM drift_alerts") == [("STALE",)]


def test_baseline_check_catches_two_current_versions(duckdb_warehouse, catalog):
    from feature_factory.monitoring.checks import one_current_baseline

    load_features(duckdb_warehouse, make_days(3, customers=50))
    res = {"warehouse": duckdb_warehouse, "homes": HomesResource(), "catalog": catalog}
    with dg.instance_for_test() as instance:
        for _ in range(2):
            r = dg.materialize([A.feature_stats_baseline, one_current_baseline], resources=res,
                               instance=instance)
        check = r.get_asset_check_evaluations()[0]
        assert check.passed and check.metadata["current_version"].value == 2
        duckdb_warehouse.execute("UPDATE feature_stats_baseline SET is_current = TRUE")  # tampered
        result = one_current_baseline(warehouse=duckdb_warehouse)
        assert not result.passed and "2 current versions [1, 2]" in result.metadata["problems"].value
        # The next capture marks every older version not current, in the same transaction.
        r = dg.materialize([A.feature_stats_baseline, one_current_baseline], resources=res, instance=instance)
        assert r.get_asset_check_evaluations()[0].metadata["current_version"].value == 3


def test_definitions_wire_jobs_schedule_and_sensor():
    from feature_factory.definitions import defs

    dg.Definitions.validate_loadable(defs)
    baseline_job = defs.resolve_job_def("capture_baseline_job")
    assert [k.to_user_string() for k in baseline_job.asset_layer.selected_asset_keys] == ["feature_stats_baseline"]
    refresh = defs.resolve_job_def("daily_refresh_job")
    keys = {k.to_user_string() for k in refresh.asset_layer.selected_asset_keys}
    assert keys == {"raw_events", "quarantined_events", "customer_features", "customer_features_online",
                    "customer_features_online_store", "feature_stats", "drift_alerts", "drift_report"}
    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.job_name == "daily_refresh_job" and schedule.cron_schedule == "0 1 * * *"
    sensor = defs.resolve_sensor_def("drift_sensor")
    assert {t.job_name for t in sensor.targets} == {"remediation_job", "retrain_job"}
    # Yesterday's partition: the tick at 01:00 on the 5th runs the 4th.
    ctx = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2024, 3, 5, 1, 0))
    run = next(iter(schedule.evaluate_tick(ctx).run_requests))
    assert run.partition_key == "2024-03-04"


def test_drift_report_writes_its_verdicts_into_the_days_alerts_on_both_backends(warehouse):
    """drift_report's warehouse side: read the judged day, fill evidently_* of exactly that day's
    rows in one UPDATE (a feature Evidently could not score stays NULL), re-run = same result."""
    import datetime as dt

    from feature_factory.monitoring.report import evidently_report as ev
    from feature_factory.warehouse.rows import rows_select_sql

    day, other = dt.date(2024, 1, 10), dt.date(2024, 1, 9)
    rows = [{"alert_date": d, "feature": f, "baseline_version": 2, "severity": s, "severity_rank": r,
             "drift_types": t, "psi": 0.5 if r else 0.01, "ks": 0.3 if r else 0.02}
            for d in (day, other) for f, s, r, t in (("amount", "high", 3, "MEAN_SHIFT"), ("ratio", "none", 0, ""),
                                                       ("visits", "none", 0, ""))]
    warehouse.replace_table("drift_alerts", rows_select_sql(tables.DRIFT_ALERTS.schema, rows))
    judged = ev.judged_day(warehouse, day)
    assert list(judged["feature"]) == ["amount", "ratio", "visits"]  # worst first
    columns = {"amount": {"drift": True, "score": 0.001, "method": "Wasserstein distance (normed)"},
               "ratio": {"drift": False, "score": 0.04, "method": "K-S p_value"}}
    for _ in range(2):
        ev.store_verdicts(warehouse, day, 2, columns)
    got = warehouse.fetch_all("SELECT alert_date, feature, evidently_drift, evidently_score, evidently_method "
                              "FROM drift_alerts ORDER BY alert_date, feature")
    assert [tuple(r[1:]) for r in got] == [
        ("amount", None, None, None), ("ratio", None, None, None), ("visits", None, None, None),
        ("amount", True, 0.001, "Wasserstein distance (normed)"), ("ratio", False, 0.04, "K-S p_value"),
        ("visits", None, None, None)]
    table = ev.verdicts_markdown(judged, columns)
    assert "| amount | **high** | MEAN_SHIFT | 0.500 | 0.300 | drift | 0.001 | Wasserstein distance (normed) | yes |" in table
    assert "| ratio | **none** | – | 0.010 | 0.020 | ok | 0.040 | K-S p_value | yes |" in table
    assert "| visits | **none** | – | 0.010 | 0.020 | – | – | – | – |" in table


def test_alerts_by_feature_groups_a_window_worst_first(warehouse):
    from feature_factory.monitoring.report.alerts import FeatureAlerts, alerts_by_feature

    first, last = dt.date(2024, 1, 2), dt.date(2024, 1, 4)
    assert alerts_by_feature(warehouse, first, last) == []  # before drift_alerts exists
    warehouse.execute("CREATE TABLE drift_alerts (alert_date DATE, feature VARCHAR, drift_types VARCHAR, "
                      "severity_rank INTEGER)")
    warehouse.execute(
        "INSERT INTO drift_alerts VALUES (CAST('2024-01-01' AS DATE), 'a', 'psi', 4), "
        "(CAST('2024-01-02' AS DATE), 'a', 'psi,ks', 1), (CAST('2024-01-03' AS DATE), 'a', 'mean_shift', 2), "
        "(CAST('2024-01-02' AS DATE), 'b', 'ks', 3), (CAST('2024-01-04' AS DATE), 'c', NULL, 2), "
        "(CAST('2024-01-03' AS DATE), 'd', '', 0)")
    assert alerts_by_feature(warehouse, first, last) == [
        FeatureAlerts("b", ("ks",), 3, 1), FeatureAlerts("a", ("ks", "mean_shift", "psi"), 2, 2),
        FeatureAlerts("c", (), 2, 1)]
    assert [a.feature for a in alerts_by_feature(warehouse, first, last, min_rank=3)] == ["b"]
