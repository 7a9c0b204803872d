"""daily_refresh_job lands drift_alerts before the steps it does not read (issue 20): the online
table, the online store, the catalog expectations and Evidently's drift_report wait behind it.
Asserted on the order of the run's step starts, not on timing."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from feature_factory import priorities
from feature_factory.synthetic.generator import GeneratorConfig, generate

START = dt.date(2024, 1, 1)
DEFERRED = ("customer_features_online", "customer_features_online_store",
            "customer_features_expectations", "drift_report")


def _started(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [r.dagster_event.step_key for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)]


def test_the_refresh_runs_drift_alerts_before_the_steps_it_does_not_read(project_home, monkeypatch):
    from feature_factory.definitions import build_defs
    from feature_factory.instance import ensure_instance

    landing = project_home / "landing_in"
    generate(GeneratorConfig(customers=40, days=3, start=START, seed=3, fmt="parquet", out_dir=landing))
    monkeypatch.setenv("FEATURE_FACTORY_LANDING", str(landing))
    job = build_defs().resolve_job_def("daily_refresh_job")
    tags = {n.name: n.tags.get(priorities.PRIORITY_TAG) for n in job.graph.nodes if n.name in DEFERRED}
    assert tags == {"customer_features_online": "-1", "customer_features_online_store": "-1",
                    "customer_features_expectations": "-2", "drift_report": "-3"}

    ensure_instance()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, partition_key=str(START + dt.timedelta(days=2)),
                                        run_config={"ops": {"drift_report": {"config": {"enabled": False}}}})
        assert result.success
        order = _started(instance, result.run_id)
    # The alert path first, in dependency order; then serving, the WARN checks, Evidently.
    assert order == ["ingest_events", "customer_features", "customer_features_no_duplicate_keys",
                     "feature_stats", "drift_alerts", *DEFERRED]
