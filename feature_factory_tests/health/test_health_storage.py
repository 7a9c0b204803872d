"""pipeline_health's warehouse side on both backends (DuckDB, Snowflake through fakesnow), and the
Snowflake steps' QUERY_TAG (asset and run), which cost attribution per asset reads."""

import datetime as dt
import json

import dagster as dg

from feature_factory import tables
from feature_factory.health import storage
from feature_factory.health.evaluate import evaluate
from feature_factory.health.samples import History, Point
from feature_factory.warehouse import snowflake as sf

DAY = 86400.0
T0 = 1_735_689_600.0  # 2025-01-01


def test_write_replaces_the_day_and_reads_sizes_back(warehouse):
    sizes = [Point(T0 + i * DAY, str(i), 1e6 * (i + 1)) for i in range(3)]
    report = evaluate(History(sizes=sizes, disk_bytes=1e9), T0 + 2 * DAY)
    day = dt.date(2025, 1, 3)
    at = dt.datetime(2025, 1, 3, 2, 0, tzinfo=dt.timezone.utc)
    assert storage.write(warehouse, day, storage.rows(report, day, at)) == 1
    assert storage.write(warehouse, day, storage.rows(report, day, at)) == 1  # replaced, not appended
    assert warehouse.row_count(tables.PIPELINE_HEALTH.name) == 1
    assert [c for c, _ in warehouse.columns(tables.PIPELINE_HEALTH.name)] == list(tables.PIPELINE_HEALTH.names)
    later = storage.size_history(warehouse, dt.date(2025, 1, 4))
    assert [(p.label, p.value, p.at) for p in later] == [("2025-01-03", 3e6, at.timestamp())]
    assert storage.size_history(warehouse, day) == []  # the day itself is being recomputed


def test_volumes_and_lateness_are_grouped_in_the_warehouse(warehouse):
    warehouse.execute("CREATE TABLE raw_events (event_id VARCHAR, event_date DATE)")
    warehouse.execute("INSERT INTO raw_events VALUES ('a', '2025-01-01'), ('b', '2025-01-01'), ('c', '2025-01-02'), "
                      "('d', '2024-11-01')")
    points = sorted(storage.event_volumes(warehouse, days=30), key=lambda p: p.at)
    assert [(p.label, p.value) for p in points] == [("2025-01-01", 2.0), ("2025-01-02", 1.0)]
    warehouse.execute(f"CREATE TABLE landing_files ({tables.LANDING_FILES.ddl()})")
    warehouse.execute("INSERT INTO landing_files (source_file, status, max_event_date, staged_at) VALUES "
                      "('f1', 'staged', '2025-01-01', '2025-01-02 03:00:00'), "
                      "('f2', 'staged', '2025-01-01', '2025-01-02 05:30:00'), "
                      "('f3', 'quarantined', '2025-01-02', '2025-01-09 00:00:00'), "
                      "('f4', 'staged', '2025-01-02', '2025-01-03 01:00:00')")
    late = storage.landing_lateness(warehouse, days=30)
    assert [(p.label, p.value) for p in late] == [("2025-01-01", 5.5), ("2025-01-02", 1.0)]


def test_snowflake_steps_carry_a_query_tag_with_asset_and_run(snowflake_warehouse, monkeypatch):
    sent = []
    execute = sf.SnowflakeSession.execute

    def recording(self, sql, params=None):
        sent.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(sf.SnowflakeSession, "execute", recording)
    assert sf.query_tag() is None  # outside a step: no tag

    @dg.asset
    def tagged_asset(warehouse: sf.SnowflakeWarehouse):
        warehouse.fetch_one("SELECT 1")

    result = dg.materialize([tagged_asset], resources={"warehouse": snowflake_warehouse})
    assert result.success
    (alter,) = [s for s in sent if s.startswith("ALTER SESSION SET QUERY_TAG")]
    tag = json.loads(alter.split("=", 1)[1].strip().strip("'"))
    assert tag == {"app": "feature_factory", "job": "__ephemeral_asset_job__", "run_id": result.run_id,
                   "step": "tagged_asset", "assets": ["tagged_asset"]}


def test_pipeline_health_runs_on_snowflake(snowflake_warehouse):
    """The asset end to end on the Snowflake backend (fakesnow): volumes counted there, the
    table written there, the size from information_schema.tables (fakesnow reports 0 bytes)."""
    from feature_factory.health.assets import pipeline_health

    wh = snowflake_warehouse
    wh.execute("CREATE TABLE raw_events (event_id VARCHAR, event_date DATE)")
    wh.execute("INSERT INTO raw_events VALUES ('a', '2025-01-01'), ('b', '2025-01-02'), ('c', '2025-01-02')")
    with dg.instance_for_test() as instance:
        result = dg.materialize([pipeline_health], instance=instance, resources={"warehouse": wh})
    assert result.success
    rows = wh.fetch_all("SELECT subject, metric, samples, latest, p50 FROM pipeline_health ORDER BY subject, metric")
    assert rows == [("raw_events", "rows", 2, 2.0, 1.5), ("warehouse", "size_bytes", 1, 0.0, 0.0)]
