"""The ingestion assets in Dagster: definitions, metadata values, checks, failures, range runs."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from ingest_helpers import csv_text, ev

from feature_factory import partitions, settings
from feature_factory.events import checks
from feature_factory.events.assets import ingest_events
from feature_factory.events.definitions import defs
from feature_factory.events.sensors import RANGE_END_TAG, RANGE_START_TAG, landing_files_sensor
from feature_factory.homes import HomesResource


@pytest.fixture
def landing_home(project_home):
    path = settings.landing_dir()
    path.mkdir(parents=True)
    return path


def _run(warehouse, partition_key=None, tags=None, **config):
    return dg.materialize(
        [ingest_events], partition_key=partition_key, tags=tags, raise_on_error=False,
        resources={"warehouse": warehouse, "homes": HomesResource()},
        run_config={"ops": {"ingest_events": {"config": config}}} if config else None,
    )


def _metadata(result, key):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _checks(result):
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_definitions_wire_assets_checks_job_and_sensor(duckdb_warehouse):
    full = dg.Definitions.merge(defs, dg.Definitions(resources={"warehouse": duckdb_warehouse, "homes": HomesResource()}))
    graph = full.resolve_asset_graph()
    for key in ("raw_events", "quarantined_events"):
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == "events" and node.kinds == {"sql", "warehouse"}
        assert node.partitions_def == partitions.daily_partitions
        assert node.backfill_policy == partitions.single_run_backfill
    specs = {s.name: s.blocking for s in ingest_events.check_specs}
    assert specs == {checks.QUARANTINE_RATE: True, checks.NO_DUPLICATES: True,
                     checks.FRESHNESS: False, checks.FILES_READABLE: False}
    job = full.resolve_job_def("ingest_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {"raw_events", "quarantined_events"}
    assert full.resolve_sensor_def("landing_files_sensor").job_name == "ingest_job"


def test_materialize_reports_counts_reasons_preview_and_checks(duckdb_warehouse, landing_home):
    (landing_home / "events_2024-01-02.csv").write_text(csv_text([
        ev("e1", day=2, hour=9), ev("e2", day=2, hour=20, amount=""), ev("e3", day=2, amount="-1"),
        ev("e4", day=2, channel="fax"), ("e5", "c1", "browse", "web", "", "soon"),
    ]))
    result = _run(duckdb_warehouse, "2024-01-02", max_quarantine_rate=0.7)
    assert result.success
    raw = _metadata(result, "raw_events")
    assert (raw["rows_read"], raw["rows_accepted"], raw["rows_quarantined"]) == (5, 2, 3)
    assert raw["quarantine_rate"] == 0.6 and raw["dagster/partition_row_count"] == 2
    assert raw["partition_range"] == "2024-01-02 .. 2024-01-02"
    by_reason = raw["quarantine_by_reason"]
    for reason in ("negative_amount", "unknown_channel", "unparseable_timestamp"):
        assert f"| {reason} | 1 |" in by_reason
    assert "| events_2024-01-02.csv | 5 | 2 | 3 |" in raw["rows_by_file"]
    assert raw["preview"].index("| e1 |") < raw["preview"].index("| e2 |")
    assert [c.name for c in raw["dagster/column_schema"].columns][:6] == [
        "event_id", "customer_id", "event_type", "channel", "amount", "event_ts"]
    assert raw["schema_drift_findings_count"] == 0
    quarantine = _metadata(result, "quarantined_events")
    assert quarantine["rows_quarantined"] == 3 and quarantine["dagster/row_count"] == 3
    assert "| e5 |" in quarantine["preview"] and "unparseable_timestamp" in quarantine["preview"]
    results = _checks(result)
    assert {n: c.passed for n, c in results.items()} == {
        checks.QUARANTINE_RATE: True, checks.NO_DUPLICATES: True, checks.FRESHNESS: True,
        checks.FILES_READABLE: True}
    assert results[checks.QUARANTINE_RATE].metadata["quarantine_rate"].value == 0.6


def test_blocking_quarantine_rate_and_warning_checks(duckdb_warehouse, landing_home):
    (landing_home / "events_2024-01-03.csv").write_text(csv_text([ev("a", day=3, hour=8), ev("b", day=3, amount="x")]))
    (landing_home / "readme.md").write_text("# not data")
    result = _run(duckdb_warehouse, "2024-01-03")
    assert not result.success  # the blocking check stops the run (and anything downstream)
    results = _checks(result)
    assert not results[checks.QUARANTINE_RATE].passed
    fresh = results[checks.FRESHNESS]
    assert (fresh.passed, fresh.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert fresh.metadata["stale_days"].value == 1 and "2024-01-03 08:00:00" in fresh.metadata["days"].value
    files = results[checks.FILES_READABLE]
    assert not files.passed and "readme.md" in files.metadata["files"].value
    assert _metadata(result, "raw_events")["rows_accepted"] == 1  # written, then gated


def test_duplicate_check_catches_what_the_run_wrote_twice(duckdb_warehouse, landing_home, monkeypatch):
    # Ingestion never writes a duplicate; the check is the gate against one that slips through
    # (simulated: the batch step's duplicate detection switched off).
    from feature_factory.events import ingestion

    monkeypatch.setattr(ingestion, "_batch_sql", lambda lo, hi, ids, *_: (
        f"SELECT *, 1 AS dup_rank, row_reason AS reason FROM landing_rows "
        f"WHERE event_date >= {lo} AND event_date < {hi}"))
    (landing_home / "events_2024-01-04.csv").write_text(csv_text([ev("a", day=4, hour=22), ev("a", day=4, hour=23)]))
    # Duplicates outside the run's days are another run's concern: 'z' does not fail this one.
    duckdb_warehouse.execute(
        "CREATE TABLE raw_events AS SELECT 'z' AS event_id, CAST('2024-01-09' AS DATE) AS event_date "
        "UNION ALL SELECT 'z', CAST('2024-01-09' AS DATE)")
    result = _run(duckdb_warehouse, "2024-01-04")
    dup = _checks(result)[checks.NO_DUPLICATES]
    assert not dup.passed and dup.metadata["duplicate_event_ids"].value == 1
    assert dup.metadata["sample"].value == "a"


def test_duplicate_check_passes_a_clean_run_and_sees_older_copies(duckdb_warehouse, landing_home):
    (landing_home / "events_2024-01-04.csv").write_text(csv_text([ev("a", day=4, hour=22)]))
    assert _checks(_run(duckdb_warehouse, "2024-01-04"))[checks.NO_DUPLICATES].passed
    # A copy of a run's id in another day (written out of band) is found from the run's side.
    duckdb_warehouse.execute("INSERT INTO raw_events (event_id, event_date) VALUES ('a', DATE '2024-01-09')")
    from feature_factory.events import quality

    assert quality.duplicate_event_ids(duckdb_warehouse, dt.date(2024, 1, 4), dt.date(2024, 1, 5)) == (1, ["a"])
    assert quality.duplicate_event_ids(duckdb_warehouse, dt.date(2024, 1, 5), dt.date(2024, 1, 9)) == (0, [])


def test_schema_drift_failure_names_file_and_column(duckdb_warehouse, landing_home):
    header = ("event_id", "customer_id", "event_type", "channel", "event_ts")
    (landing_home / "events_2024-01-05.csv").write_text(
        csv_text([("a", "c", "browse", "web", "2024-01-05T10:00:00Z")], header))
    result = _run(duckdb_warehouse, "2024-01-05")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.event_specific_data.error)
    assert "events_2024-01-05.csv" in message and "'amount' is missing" in message
    relaxed = _run(duckdb_warehouse, "2024-01-05", schema_drift={"missing_column": "alert"})
    assert _metadata(relaxed, "raw_events")["schema_drift_findings_count"] == 1


def test_range_run_over_several_days(duckdb_warehouse, landing_home):
    for day in (6, 7, 8):
        (landing_home / f"events_2024-01-0{day}.csv").write_text(csv_text([ev(f"e{day}", day=day, hour=21)]))
    result = _run(duckdb_warehouse, tags={RANGE_START_TAG: "2024-01-06", RANGE_END_TAG: "2024-01-07"})
    assert result.success
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("raw_events")]
    assert sorted(e.partition for e in events) == ["2024-01-06", "2024-01-07"]  # one run, two partitions
    raw = {k: v.value for k, v in events[0].materialization.metadata.items()}
    assert (raw["partition_range"], raw["rows_accepted"]) == ("2024-01-06 .. 2024-01-07", 2)
    assert duckdb_warehouse.fetch_all("SELECT event_id FROM raw_events ORDER BY 1") == [("e6",), ("e7",)]


def test_selecting_one_table_still_ingests_both(duckdb_warehouse, landing_home):
    (landing_home / "events_2024-01-09.csv").write_text(csv_text([ev("ok", day=9, hour=22), ev("bad", day=9, amount="-2")]))
    result = dg.materialize([ingest_events], partition_key="2024-01-09", selection=["quarantined_events"],
                            resources={"warehouse": duckdb_warehouse, "homes": HomesResource()})
    assert [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()] == ["quarantined_events"]
    assert result.get_asset_check_evaluations() == []
    assert duckdb_warehouse.fetch_all("SELECT event_id FROM raw_events") == [("ok",)]
    assert _metadata(result, "quarantined_events")["rows_quarantined"] == 1


def test_the_homes_resource_chooses_the_landing_folder_not_the_environment(duckdb_warehouse, landing_home, tmp_path):
    # The environment's landing folder holds one file; the resource's folder another: the run
    # reads the resource's, as the demo's runs do with the folders it hands to build_defs.
    (landing_home / "events_2024-01-03.csv").write_text(csv_text([ev("env", day=3)]))
    chosen = tmp_path / "chosen_home"
    (chosen / "landing" / "events").mkdir(parents=True)
    (chosen / "landing" / "events" / "events_2024-01-03.csv").write_text(
        csv_text([ev("mine1", day=3), ev("mine2", day=3, hour=11)]))
    result = dg.materialize([ingest_events], partition_key="2024-01-03",
                            resources={"warehouse": duckdb_warehouse, "homes": HomesResource(home=str(chosen))})
    assert result.success
    assert [r[0] for r in duckdb_warehouse.fetch_all("SELECT event_id FROM raw_events ORDER BY 1")] == ["mine1", "mine2"]
    sensor_run = landing_files_sensor(dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources={"homes": HomesResource(landing=str(landing_home))}))
    assert [r.partition_key for r in sensor_run.run_requests] == ["2024-01-03"]


def test_raw_metadata_shows_a_sample_of_quarantined_rows_per_reason(duckdb_warehouse, landing_home):
    # Four negative amounts (three shown: the first by row), one unknown channel, one undated row.
    rows = [ev(f"n{i}", day=2, hour=9 + i, amount=f"-{i}") for i in range(1, 5)]
    rows += [ev("f1", day=2, hour=20, channel="fax"), ("u1", "c9", "browse", "web", "", "soon"), ev("ok", day=2, hour=21)]
    (landing_home / "events_2024-01-02.csv").write_text(csv_text(rows))
    result = _run(duckdb_warehouse, "2024-01-02", max_quarantine_rate=0.9)
    lines = _metadata(result, "raw_events")["quarantine_samples"].splitlines()
    assert lines[0] == "| reason | detail | raw values | source_file | source_row |"
    assert lines[2:] == [
        "| negative_amount | amount is negative | event_id=n1; customer_id=c1; event_type=purchase; channel=web; "
        "amount=-1; event_ts=2024-01-02T10:00:00Z | events_2024-01-02.csv | 1 |",
        "| negative_amount | amount is negative | event_id=n2; customer_id=c1; event_type=purchase; channel=web; "
        "amount=-2; event_ts=2024-01-02T11:00:00Z | events_2024-01-02.csv | 2 |",
        "| negative_amount | amount is negative | event_id=n3; customer_id=c1; event_type=purchase; channel=web; "
        "amount=-3; event_ts=2024-01-02T12:00:00Z | events_2024-01-02.csv | 3 |",
        "| unknown_channel | channel is not one of web, mobile | event_id=f1; customer_id=c1; event_type=purchase; "
        "channel=fax; amount=10.0; event_ts=2024-01-02T20:00:00Z | events_2024-01-02.csv | 5 |",
        "| unparseable_timestamp | event_ts is missing or not an ISO-8601 timestamp; the row belongs to no day | "
        "event_id=u1; customer_id=c9; event_type=browse; channel=web; event_ts=soon | events_2024-01-02.csv | 6 |",
    ]
