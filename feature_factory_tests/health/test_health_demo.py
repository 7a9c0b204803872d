"""The demo's instance shows a health page with real figures: pipeline_health, materialized at the
end of the story, holds the story's own runs, steps and volumes (the session's one demo run)."""

import dagster as dg

from feature_factory import settings
from feature_factory.warehouse import DuckDBWarehouse


def test_the_demo_ends_with_a_health_page_of_its_own_runs(demo_run, monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_HOME", str(demo_run.home))
    monkeypatch.setenv("DAGSTER_HOME", str(demo_run.home / "dagster_home"))
    health_run = dict((s, r) for s, r, _, _ in demo_run.story.runs)["health"]
    wh = DuckDBWarehouse(path=str(settings.warehouse_path()))
    by = {(s, m): (n, latest) for s, m, n, latest in wh.fetch_all(
        "SELECT subject, metric, samples, latest FROM pipeline_health")}
    # daily_refresh_job ran twice (backfill, drift), both succeeded; its steps' seconds are the warehouse's
    assert by[("daily_refresh_job", "failure_rate")] == (2, 0.0)
    assert by[("daily_refresh_job", "runtime_s")][0] == 2 and by[("daily_refresh_job", "runtime_s")][1] > 0
    assert by[("daily_refresh_job/customer_features", "runtime_s")][1] > 0
    assert by[("customer_features", "warehouse_s")][1] > 0
    # raw_events rows per day counted in the warehouse: one point per story day
    assert by[("raw_events", "rows")][0] == 40
    assert by[("raw_events", "age_h")][1] < 1  # materialized minutes ago
    instance = dg.DagsterInstance.get()
    (record,) = instance.fetch_materializations(dg.AssetKey("pipeline_health"), limit=1).records
    assert record.run_id == health_run
    meta = record.asset_materialization.metadata
    assert meta["runs_read"].value >= 6 and meta["health"].value.count("\n") > 10
    assert meta["runtime_trend"].value.startswith("![job runtime per run](data:image/png;base64,")
