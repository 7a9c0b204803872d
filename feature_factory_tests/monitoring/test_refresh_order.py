"""daily_refresh_job lands drift_alerts before the steps it does not read (issue 20): the online
table, the online store, the catalog expectations and Evidently's drift_report wait behind it.
Asserted on the order of the run's step starts, not on timing. The baseline capture brings
attribution's customer_first_seen up to date, so a day's drift_alerts does not rebuild it."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from feature_factory import priorities, tables
from feature_factory.catalog import load_catalog
from feature_factory.monitoring.detection.baseline import current_baseline
from feature_factory.partitions import range_tags
from feature_factory.synthetic.generator import GeneratorConfig, generate
from feature_factory.warehouse import DuckDBWarehouse

START = dt.date(2024, 1, 1)
DAYS = 10  # 7-day windows complete from day 7: a baseline of days 7-8, the refresh of day 10
DEFERRED = ("customer_features_online", "customer_features_online_store",
            "customer_features_expectations", "drift_report")
NO_EVIDENTLY = {"ops": {"drift_report": {"config": {"enabled": False}}}}


def _started(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [r.dagster_event.step_key for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)]


def test_the_refresh_runs_drift_alerts_before_the_steps_it_does_not_read(project_home, monkeypatch):
    from feature_factory.definitions import build_defs
    from feature_factory.instance import ensure_instance

    landing = project_home / "landing_in"
    generate(GeneratorConfig(customers=40, days=DAYS, start=START, seed=3, fmt="parquet", out_dir=landing))
    monkeypatch.setenv("FEATURE_FACTORY_LANDING", str(landing))
    defs = build_defs()
    job = defs.resolve_job_def("daily_refresh_job")
    tags = {n.name: n.tags.get(priorities.PRIORITY_TAG) for n in job.graph.nodes if n.name in DEFERRED}
    assert tags == {"customer_features_online": "-1", "customer_features_online_store": "-1",
                    "customer_features_expectations": "-2", "drift_report": "-3"}

    ensure_instance()
    last = START + dt.timedelta(days=DAYS - 1)
    with dg.DagsterInstance.get() as instance:
        history = job.execute_in_process(instance=instance, tags=range_tags(START, last - dt.timedelta(days=1)),
                                         run_config=NO_EVIDENTLY)
        assert history.success
        capture = defs.resolve_job_def("capture_baseline_job").execute_in_process(
            instance=instance, run_config={"ops": {"feature_stats_baseline": {"config": {
                "start_date": str(START + dt.timedelta(days=6)), "end_date": str(START + dt.timedelta(days=7))}}}})
        assert capture.success
        wh = DuckDBWarehouse()
        # customer_first_seen is current after the capture: every customer's first event day.
        assert wh.fetch_all(f"SELECT customer_id, first_day FROM {tables.CUSTOMER_FIRST_SEEN.name} ORDER BY 1") == \
            wh.fetch_all(f"SELECT customer_id, MIN(event_date) FROM {tables.RAW_EVENTS.name} GROUP BY 1 ORDER BY 1")

        result = job.execute_in_process(instance=instance, partition_key=str(last), run_config=NO_EVIDENTLY)
        assert result.success
        order = _started(instance, result.run_id)
    # The alert path first, in dependency order; then serving, the WARN checks, Evidently.
    assert order == ["ingest_events", "customer_features", "customer_features_no_duplicate_keys",
                     "feature_stats", "drift_alerts", *DEFERRED]
    judged = wh.fetch_all(f"SELECT feature, baseline_version FROM {tables.DRIFT_ALERTS.name} "
                          "WHERE alert_date = CAST(? AS DATE) ORDER BY feature", [str(last)])
    # Every feature of the baseline that drift judges (lifetime aggregates declare drift_exclude).
    watched = {f.name for f in load_catalog().features if f.drift_watched}
    assert judged and judged == [(f, 1) for f in sorted(current_baseline(wh).features) if f in watched]
