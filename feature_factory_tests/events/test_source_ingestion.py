"""A second source from YAML only (docs/examples/sources_support_tickets.yaml), ingested with
quarantine on both backends: its own column names, value mapping, range rules, duplicates,
unreadable files; re-runs change nothing; a warehouse-table source is read in place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from ingest_helpers import NOW, START, csv_text

from feature_factory.catalog.sources import load_sources
from feature_factory.events.ingestion import ingest_source_range
from feature_factory.events.layout import raw_columns
from feature_factory.homes import HomesResource

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "sources_support_tickets.yaml"
HEADER = ("ticket_id", "account_id", "created", "priority", "minutes_to_resolve", "channel", "note")
DAY = dt.date(2024, 1, 2)


def tickets():
    return load_sources(EXAMPLE).get("support_tickets")


def run(warehouse, folder, **kw):
    return ingest_source_range(warehouse, tickets(), DAY, DAY + dt.timedelta(days=1), folder=folder, now=NOW,
                               start_date=START, **kw)


def test_tickets_source_end_to_end(warehouse, tmp_path):
    folder = tmp_path / "support_tickets"
    folder.mkdir()
    (folder / "tickets_2024-01-02.csv").write_text(csv_text([
        ("t1", "c1", "2024-01-02T09:00:00Z", "P1", "30", "Email", "ok"),
        ("t2", "c2", "2024-01-02 10:00:00", "p3", "", "chat", "open - no minutes yet"),
        ("t3", "", "2024-01-02 10:00:00", "p1", "5", "chat", "no customer"),
        ("t4", "c1", "2024-01-02 11:00:00", "urgent", "5", "chat", "unknown priority"),
        ("t5", "c1", "2024-01-02 11:00:00", "p2", "-3", "chat", "negative minutes"),
        ("t6", "c1", "2024-01-02 11:00:00", "p2", "99999", "chat", "over 30 days"),
        ("t7", "c1", "2024-01-02 11:00:00", "p2", "ten", "chat", "not a number"),
        ("t8", "c1", "2024-01-02 11:00:00", "p2", "1", " ", "no channel"),
        ("t1", "c1", "2024-01-02 12:00:00", "p2", "1", "chat", "duplicate ticket"),
        ("t9", "c1", "2099-01-01 00:00:00", "p2", "1", "chat", "future"),
    ], HEADER))
    (folder / "renamed.csv").write_text(csv_text([("t20", "c1", "2024-01-02", "p1", "1", "chat")],
                                                 ("ticket_id", "customer", "created", "priority",
                                                  "minutes_to_resolve", "channel")))
    (folder / "notes.txt").write_text("not data")
    result = run(warehouse, folder)

    raw = warehouse.fetch_all("SELECT ticket_id, customer_id, opened_at, priority, minutes_to_resolve, channel, "
                              "event_date, source_row FROM raw_support_tickets ORDER BY ticket_id")
    assert raw == [
        ("t1", "c1", dt.datetime(2024, 1, 2, 9), "high", 30.0, "email", DAY, 1),
        ("t2", "c2", dt.datetime(2024, 1, 2, 10), "low", None, "chat", DAY, 2),
    ]
    assert [c for c, _ in warehouse.columns("raw_support_tickets")] == [c for c, _, _ in raw_columns(tickets())]
    quarantined = warehouse.fetch_all(
        "SELECT source_file, ticket_id, reason, detail, event_date FROM support_tickets_quarantine "
        "ORDER BY source_file, source_row")
    assert [(f, t, r) for f, t, r, _, _ in quarantined] == [
        ("notes.txt", None, "unsupported_file_type"),
        ("renamed.csv", None, "unreadable_file"),
        ("tickets_2024-01-02.csv", "t3", "null_or_empty_key"),
        ("tickets_2024-01-02.csv", "t4", "unknown_priority"),
        ("tickets_2024-01-02.csv", "t5", "negative_minutes_to_resolve"),
        ("tickets_2024-01-02.csv", "t6", "minutes_to_resolve_above_max"),
        ("tickets_2024-01-02.csv", "t7", "non_numeric_minutes_to_resolve"),
        ("tickets_2024-01-02.csv", "t8", "missing_channel"),
        ("tickets_2024-01-02.csv", "t1", "duplicate_ticket_id_in_batch"),
        ("tickets_2024-01-02.csv", "t9", "timestamp_in_future"),
    ]
    details = {r: d for _, _, r, d, _ in quarantined}
    assert "missing column(s) account_id that source 'support_tickets' reads" in details["unreadable_file"]
    assert details["unknown_priority"] == "priority is not one of high, normal, low"
    assert details["minutes_to_resolve_above_max"] == "minutes_to_resolve is above 43200"
    assert {d for _, _, r, _, d in quarantined if r == "timestamp_in_future"} == {None}  # no day owns it
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (12, 2, 10)
    assert result.by_reason()["unsupported_file_type"] == 1

    # Re-running changes nothing (files unchanged, partitions replaced, undated rows kept once).
    again = run(warehouse, folder)
    assert warehouse.row_count("raw_support_tickets") == 2
    assert warehouse.row_count("support_tickets_quarantine") == 10
    assert {f.status for f in again.sync.files} == {"unchanged"}
    assert (again.rows_accepted, again.rows_quarantined) == (2, 8)  # the two file-level rows are no day's

    # A rewritten file replaces its rows; a ticket stored in another partition is a duplicate.
    # ... and Parquet with typed columns (minutes an integer, created a timestamp) reads the same.
    pd.DataFrame({"ticket_id": ["t1", "t30"], "account_id": ["c1", "c3"],
                  "created": pd.to_datetime(["2024-01-03 09:00:00", "2024-01-03 09:30:00"]),
                  "priority": ["P2", "P3"], "minutes_to_resolve": [1, 7], "channel": ["chat", "Phone"]},
                 ).to_parquet(folder / "tickets_2024-01-03.parquet", index=False)
    nxt = ingest_source_range(warehouse, tickets(), DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2),
                              folder=folder, now=NOW, start_date=START)
    assert nxt.by_reason() == {"duplicate_ticket_id_stored": 1}
    assert warehouse.fetch_all("SELECT ticket_id, opened_at, priority, minutes_to_resolve, channel "
                               "FROM raw_support_tickets WHERE event_date = '2024-01-03'") == [
        ("t30", dt.datetime(2024, 1, 3, 9, 30), "low", 7.0, "phone")]


def test_a_warehouse_table_source_is_read_in_place(warehouse):
    from feature_factory.catalog.sources import parse_sources

    spec = parse_sources({"crm_tickets": {
        "location": {"table": "crm_export"}, "row_id": "ticket_id", "entity_keys": {"customer": "customer_id"},
        "event_time": "opened_at",
        "columns": {"ticket_id": "string", "customer_id": {"type": "string", "from": "cust"},
                    "opened_at": "timestamp", "minutes": {"type": "number", "min": 0}}}}, "s.yaml").get("crm_tickets")
    warehouse.execute("CREATE TABLE crm_export (ticket_id VARCHAR, cust VARCHAR, opened_at TIMESTAMP, minutes DOUBLE)")
    warehouse.execute("INSERT INTO crm_export VALUES ('a', 'c1', '2024-01-02 08:00:00', 5), "
                      "('b', 'c2', '2024-01-02 09:00:00', -1), ('c', 'c1', NULL, 1), "
                      "('d', 'c1', '2024-01-03 09:00:00', 1)")
    for _ in range(2):  # idempotent
        result = ingest_source_range(warehouse, spec, DAY, DAY + dt.timedelta(days=1), now=NOW, start_date=START)
    assert warehouse.fetch_all("SELECT ticket_id, customer_id, minutes, source_file FROM raw_crm_tickets") == [
        ("a", "c1", 5.0, "crm_export")]
    assert warehouse.fetch_all("SELECT ticket_id, reason FROM crm_tickets_quarantine ORDER BY ticket_id") == [
        ("b", "minutes_below_min"), ("c", "unparseable_timestamp")]
    assert (result.rows_accepted, result.rows_quarantined) == (1, 2)


def test_asset_factory_materializes_a_source_with_schema_and_check(duckdb_warehouse, tmp_path):
    import dagster as dg

    from feature_factory.events import definitions as events_definitions

    folder = tmp_path / "landing" / "support_tickets"
    folder.mkdir(parents=True)
    (folder / "export.csv").write_text(csv_text([
        ("t1", "c1", "2024-01-02 09:00:00", "p1", "30", "chat"),
        ("t2", "c1", "2024-01-02 10:00:00", "p9", "30", "chat")], HEADER[:-1]))
    defs = events_definitions.definitions(load_sources(EXAMPLE))
    (assets,) = defs.assets
    specs = {s.key.to_user_string(): s for s in assets.specs}
    assert set(specs) == {"raw_support_tickets", "support_tickets_quarantine"}
    schema = specs["raw_support_tickets"].metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns][:3] == ["ticket_id", "customer_id", "opened_at"]
    assert "`unknown_priority`: priority is not one of high, normal, low" in specs[
        "support_tickets_quarantine"].description
    assert [s.name for s in defs.sensors] == ["support_tickets_landing_sensor"]
    result = dg.materialize([assets], partition_key="2024-01-02", resources={"warehouse": duckdb_warehouse, "homes": HomesResource()},
                            run_config={"ops": {"ingest_support_tickets": {"config": {
                                "landing_dir": str(folder), "max_quarantine_rate": 0.4}}}}, raise_on_error=False)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["quarantine_rate_under_threshold"].passed
    assert checks["quarantine_rate_under_threshold"].metadata["quarantine_rate"].value == 0.5  # 1 of 2 over 0.4
    assert checks["no_duplicate_row_id"].passed and checks["landing_files_readable"].passed
    assert not result.success  # the check is blocking: downstream of raw_support_tickets would not run
    raw = next(m for m in result.get_asset_materialization_events()
               if m.asset_key == dg.AssetKey("raw_support_tickets")).materialization.metadata
    assert (raw["rows_accepted"].value, raw["rows_quarantined"].value) == (1, 1)


def test_a_new_source_entry_appears_in_the_code_location(tmp_path):
    """The Done-when path: a YAML entry and a reload, no code change."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "FEATURE_FACTORY_SOURCES": str(EXAMPLE), "PYTHONPATH": str(Path(__file__).parents[2])}
    code = ("from feature_factory.definitions import defs; g = defs.resolve_asset_graph(); "
            "print(sorted(k.to_user_string() for k in g.get_all_asset_keys() if 'ticket' in k.to_user_string()), "
            "sorted(j.name for j in defs.resolve_all_job_defs() if 'ticket' in j.name))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['raw_support_tickets', 'support_tickets_quarantine'] ['ingest_support_tickets_job']"
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("row_id: ticket_id", "row_id: ticket_no"))
    # The events domain's definitions are where the sources load (lighter than the whole location).
    out = subprocess.run([sys.executable, "-c", "import feature_factory.events.definitions"],
                         env={**env, "FEATURE_FACTORY_SOURCES": str(bad)},
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert f"{bad}: source 'support_tickets': row_id 'ticket_no' is not a declared column" in out.stderr


def test_source_sensor_requests_the_days_a_new_file_covers(project_home):
    import dagster as dg

    from feature_factory.events import sensors

    folder = project_home / "landing" / "support_tickets"  # the source's landing_folder under the home
    folder.mkdir(parents=True)
    (folder / "export.csv").write_text(csv_text([
        ("t1", "c1", "2024-01-02 09:00:00", "p1", "30", "chat"),
        ("t2", "c1", "2024-01-03T23:00:00Z", "p2", "30", "chat")], HEADER[:-1]))
    _, sensor = sensors.source_job_and_sensor(tickets())
    instance = dg.DagsterInstance.ephemeral()
    first = sensor(dg.build_sensor_context(instance=instance, resources={"homes": HomesResource()}))
    (request,) = first.run_requests
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (
        "2024-01-02", "2024-01-03")  # from the file's own `created` times: its name says no day
    assert sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"homes": HomesResource()})).run_requests == []


def test_a_sample_of_quarantined_rows_per_reason_for_any_source(warehouse, tmp_path):
    from feature_factory.events import report

    folder = tmp_path / "support_tickets"
    folder.mkdir()
    (folder / "tickets_2024-01-02.csv").write_text(csv_text([
        ("t1", "c1", "2024-01-02 09:00:00", "p1", "30", "chat"),
        ("t2", "c1", "2024-01-02 09:30:00", "urgent", "5", "chat"),
        ("t3", "c1", "2024-01-02 10:00:00", "p2", "-3", "chat"),
        ("t4", "c2", "2024-01-02 10:30:00", "whenever", "", "mail"),
        ("t1", "c1", "2024-01-02 11:00:00", "p1", "1", "chat")], HEADER[:-1]))
    (folder / "notes.txt").write_text("not data")
    result = run(warehouse, folder)
    samples = report.quarantine_samples(warehouse, tickets(), result, NOW, per_reason=1)
    assert samples == [
        ("duplicate_ticket_id_in_batch", "ticket_id already seen earlier in this batch (file, row order)",
         "ticket_id=t1; customer_id=c1; opened_at=2024-01-02 11:00:00; priority=p1; minutes_to_resolve=1; "
         "channel=chat", "tickets_2024-01-02.csv", 5),
        ("negative_minutes_to_resolve", "minutes_to_resolve is negative",
         "ticket_id=t3; customer_id=c1; opened_at=2024-01-02 10:00:00; priority=p2; minutes_to_resolve=-3; "
         "channel=chat", "tickets_2024-01-02.csv", 3),
        ("unknown_priority", "priority is not one of high, normal, low",
         "ticket_id=t2; customer_id=c1; opened_at=2024-01-02 09:30:00; priority=urgent; minutes_to_resolve=5; "
         "channel=chat", "tickets_2024-01-02.csv", 2),  # t4 (also unknown_priority) is past the sample
        ("unsupported_file_type", f"landing file {folder / 'notes.txt'}: unsupported file type '.txt'; expected "
         ".csv, .csv.gz or .parquet", "", "notes.txt", None),
    ]
