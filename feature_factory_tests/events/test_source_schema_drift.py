"""Landing schema drift of a declared source (support tickets, docs/examples): the events source's
cases and logic (events/schema_drift.py) under the source's `schema_drift:` policy, on DuckDB and
Snowflake (fakesnow). Defaults keep what a file missing a column did before (quarantined whole) and
record what was found; a policy reads a renamed column through an alias, a missing one as blank,
numbers with a unit and epoch times through a lossless cast, or fails the run naming the file.
Findings are per (source, file) in landing_schema_drift and in the ingestion asset's metadata."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml
from ingest_helpers import NOW, START, csv_text

from feature_factory.catalog.sources import load_sources
from feature_factory.events import schema_drift
from feature_factory.events.ingestion import ingest_source_range
from feature_factory.homes import HomesResource

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "sources_support_tickets.yaml"
HEADER = ("ticket_id", "account_id", "created", "priority", "minutes_to_resolve", "channel")
DAY = dt.date(2024, 1, 2)
FINDINGS = "SELECT source_file, kind, column_name, action, severity FROM landing_schema_drift " \
           "WHERE source = 'support_tickets' ORDER BY source_file, kind, column_name"


def tickets(tmp_path: Path, policy: dict | None = None):
    if policy is None:
        return load_sources(EXAMPLE).get("support_tickets")
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["sources"]["support_tickets"]["schema_drift"] = policy
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_sources(path).get("support_tickets")


def run(warehouse, spec, folder):
    return ingest_source_range(warehouse, spec, DAY, DAY + dt.timedelta(days=1), folder=folder, now=NOW,
                               start_date=START)


def land(folder: Path, name: str, rows: list[tuple], header=HEADER) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(csv_text(rows, header))


def test_defaults_quarantine_a_file_missing_a_column_and_record_what_was_found(warehouse, tmp_path):
    folder = tmp_path / "support_tickets"
    land(folder, "a.csv", [("t1", "c1", "2024-01-02 09:00:00", "p1", "30", "chat", "x")], (*HEADER, "note"))
    land(folder, "b.csv", [("t2", "c1", "2024-01-02 09:00:00", "p1", "30", "chat")],
         ("ticket_id", "customer", "created", "priority", "minutes_to_resolve", "channel"))
    result = run(warehouse, tickets(tmp_path), folder)
    assert warehouse.fetch_all("SELECT ticket_id FROM raw_support_tickets") == [("t1",)]
    assert warehouse.fetch_all("SELECT source_file, reason FROM support_tickets_quarantine") == [
        ("b.csv", "unreadable_file")]
    assert warehouse.fetch_all(FINDINGS) == [
        ("a.csv", "extra_column", "note", "auto_adapt", "info"),
        ("b.csv", "extra_column", "customer", "auto_adapt", "info"),
        ("b.csv", "missing_column", "customer_id", "quarantine", "error"),
    ]
    (detail,) = warehouse.fetch_one("SELECT detail FROM landing_schema_drift WHERE kind = 'missing_column'")
    assert detail == ("column 'customer_id' is missing; the file is quarantined; possibly renamed to 'customer' "
                      "(map it with sources file: support_tickets.schema_drift.column_aliases)")
    assert [(f["source_file"], f["kind"]) for f in result.findings] == [
        ("a.csv", "extra_column"), ("b.csv", "extra_column"), ("b.csv", "missing_column")]


def test_a_policy_adapts_aliases_blank_columns_units_and_epoch_times(warehouse, tmp_path):
    spec = tickets(tmp_path, {"missing_column": "alert", "column_aliases": {"customer": "customer_id"}})
    folder = tmp_path / "support_tickets"
    # Renamed account_id -> customer (an alias) and no minutes_to_resolve column (read as blank).
    land(folder, "renamed.csv", [("t1", "c1", "2024-01-02 09:00:00", "p1", "chat")],
         ("ticket_id", "customer", "created", "priority", "channel"))
    # Every minute value with a unit: cast strips it; one row is just bad (not the unit).
    land(folder, "units.csv", [("t2", "c2", "2024-01-02 10:00:00", "p2", "30 min", "chat"),
                               ("t3", "c2", "2024-01-02 10:30:00", "p2", "7 min", "chat"),
                               ("t4", "c2", "2024-01-02 10:45:00", "p2", "-1 min", "chat")])
    # Epoch seconds for created: cast to UTC (2024-01-02 11:00:00 and 12:00:00).
    land(folder, "epoch.csv", [("t5", "c3", "1704193200", "p3", "5", "email"),
                               ("t6", "c3", "1704196800", "p3", "6", "email")])
    # No channel column: required, so each row is quarantined missing_channel (the file is not).
    land(folder, "no_channel.csv", [("t7", "c4", "2024-01-02 13:00:00", "p1", "1")], HEADER[:-1])
    result = run(warehouse, spec, folder)
    assert warehouse.fetch_all("SELECT ticket_id, customer_id, opened_at, minutes_to_resolve, source_file "
                               "FROM raw_support_tickets ORDER BY ticket_id") == [
        ("t1", "c1", dt.datetime(2024, 1, 2, 9), None, "renamed.csv"),
        ("t2", "c2", dt.datetime(2024, 1, 2, 10), 30.0, "units.csv"),
        ("t3", "c2", dt.datetime(2024, 1, 2, 10, 30), 7.0, "units.csv"),
        ("t5", "c3", dt.datetime(2024, 1, 2, 11), 5.0, "epoch.csv"),
        ("t6", "c3", dt.datetime(2024, 1, 2, 12), 6.0, "epoch.csv"),
    ]
    assert warehouse.fetch_all("SELECT ticket_id, reason, minutes_to_resolve FROM support_tickets_quarantine "
                               "ORDER BY ticket_id") == [
        ("t4", "negative_minutes_to_resolve", "-1 min"),  # the raw text is kept
        ("t7", "missing_channel", "1")]
    assert warehouse.fetch_all(FINDINGS) == [
        ("epoch.csv", "changed_type", "opened_at", "alert", "warning"),
        ("no_channel.csv", "missing_column", "channel", "alert", "warning"),
        ("renamed.csv", "missing_column", "minutes_to_resolve", "alert", "warning"),
        ("units.csv", "changed_type", "minutes_to_resolve", "alert", "warning"),
    ]
    details = dict(warehouse.fetch_all("SELECT source_file, detail FROM landing_schema_drift "
                                       "WHERE kind = 'changed_type'"))
    assert details["units.csv"] == ("column 'minutes_to_resolve' changed type: 100% of 3 non-blank values are not "
                                    "a number (e.g. '-1 min'); number with unit 'min'; cast strips the unit")
    assert details["epoch.csv"].endswith("epoch seconds; cast to UTC")
    assert (result.rows_accepted, result.rows_quarantined) == (5, 2)

    # Unchanged files are not read again; a changed policy re-judges every file.
    again = run(warehouse, spec, folder)
    assert {f.status for f in again.sync.files} == {"unchanged"} and warehouse.row_count("raw_support_tickets") == 5
    strict = tickets(tmp_path, {"missing_column": "alert", "changed_type": "auto_adapt",
                                "column_aliases": {"customer": "customer_id"}})
    run(warehouse, strict, folder)
    assert warehouse.fetch_all(FINDINGS)[0] == ("epoch.csv", "changed_type", "opened_at", "auto_adapt", "info")


def test_without_a_lossless_cast_the_rows_are_quarantined_as_before(warehouse, tmp_path):
    folder = tmp_path / "support_tickets"
    land(folder, "words.csv", [("t1", "c1", "2024-01-02 09:00:00", "p1", "ten", "chat"),
                               ("t2", "c1", "2024-01-02 09:30:00", "p1", "a few", "chat")])
    run(warehouse, tickets(tmp_path), folder)
    assert warehouse.fetch_all("SELECT ticket_id, reason FROM support_tickets_quarantine ORDER BY 1") == [
        ("t1", "non_numeric_minutes_to_resolve"), ("t2", "non_numeric_minutes_to_resolve")]
    (detail,) = warehouse.fetch_one("SELECT detail FROM landing_schema_drift WHERE source = 'support_tickets'")
    assert detail.endswith("no lossless cast; those rows are quarantined")


def test_fail_stops_the_run_naming_the_file_and_the_next_run_reads_it_again(warehouse, tmp_path):
    spec = tickets(tmp_path, {"missing_column": "fail", "changed_type": "fail"})
    folder = tmp_path / "support_tickets"
    land(folder, "good.csv", [("t1", "c1", "2024-01-02 09:00:00", "p1", "30", "chat")])
    land(folder, "bad.csv", [("t2", "c1", "2024-01-02 09:00:00", "p1", "chat")], HEADER[:4] + ("channel",))
    land(folder, "units.csv", [("t3", "c1", "2024-01-02 09:00:00", "p1", "3 min", "chat")])
    with pytest.raises(schema_drift.SchemaDriftError) as err:
        run(warehouse, spec, folder)
    assert str(err.value) == (
        f"landing file {folder / 'bad.csv'}: column 'minutes_to_resolve' is missing (schema_drift.missing_column = "
        f"fail); landing file {folder / 'units.csv'}: column 'minutes_to_resolve' changed type: 100% of 1 non-blank "
        "values are not a number (e.g. '3 min'); number with unit 'min'; cast strips the unit "
        "(schema_drift.changed_type = fail)")
    assert warehouse.fetch_all(FINDINGS) == [
        ("bad.csv", "missing_column", "minutes_to_resolve", "fail", "error"),
        ("units.csv", "changed_type", "minutes_to_resolve", "fail", "error")]
    assert warehouse.fetch_all("SELECT source_file, status FROM support_tickets_landing_files ORDER BY 1") == [
        ("bad.csv", "schema_failed"), ("good.csv", "staged"), ("units.csv", "schema_failed")]
    assert warehouse.fetch_all("SELECT DISTINCT source_file FROM support_tickets_landing_rows") == [("good.csv",)]
    # Fixed files are read on the next run; the findings of a fixed file are gone.
    land(folder, "bad.csv", [("t2", "c1", "2024-01-02 09:00:00", "p1", "4", "chat")])
    land(folder, "units.csv", [("t3", "c1", "2024-01-02 09:00:00", "p1", "3", "chat")])
    result = run(warehouse, spec, folder)
    assert warehouse.fetch_all("SELECT ticket_id, minutes_to_resolve FROM raw_support_tickets ORDER BY 1") == [
        ("t1", 30.0), ("t2", 4.0), ("t3", 3.0)]
    assert warehouse.fetch_all(FINDINGS) == [] and result.findings == []


def test_findings_are_kept_per_source(duckdb_warehouse):
    """An events file and a tickets file of the same name keep their own findings."""
    wh = duckdb_warehouse
    finding = schema_drift.Finding("extra_column", "note", "column 'note' is not in ...", "auto_adapt", "info")
    with wh.session() as s:
        # A table from before findings had a source: the column is added, its rows count as events'.
        s.execute("CREATE TABLE landing_schema_drift (source_file VARCHAR, file_fingerprint VARCHAR, kind VARCHAR, "
                  "column_name VARCHAR, detail VARCHAR, action VARCHAR, severity VARCHAR, detected_at TIMESTAMP)")
        s.execute("INSERT INTO landing_schema_drift VALUES ('day.csv', 'old', 'extra_column', 'x', '', "
                  "'auto_adapt', 'info', TIMESTAMP '2024-01-01 00:00:00')")
        schema_drift.ensure_table(wh, s)
        schema_drift.record(s, "day.csv", "fp2", [finding], "TIMESTAMP '2024-01-02 00:00:00'", source="support_tickets")
    assert wh.fetch_all("SELECT source, file_fingerprint FROM landing_schema_drift ORDER BY 2") == [
        ("support_tickets", "fp2"), (None, "old")]
    with wh.session() as s:
        schema_drift.record(s, "day.csv", "new", [finding], "TIMESTAMP '2024-01-03 00:00:00'")  # the events'
    assert wh.fetch_all("SELECT source, file_fingerprint FROM landing_schema_drift ORDER BY 2") == [
        ("support_tickets", "fp2"), ("events", "new")]


def test_the_ingestion_asset_shows_the_findings_and_fails_on_fail(duckdb_warehouse, tmp_path):
    from feature_factory.events.assets import source_assets

    folder = tmp_path / "support_tickets"
    land(folder, "units.csv", [("t1", "c1", "2024-01-02 09:00:00", "p1", "3 min", "chat")])
    resources = {"warehouse": duckdb_warehouse, "homes": HomesResource()}
    config = {"ops": {"ingest_support_tickets": {"config": {"landing_dir": str(folder)}}}}
    result = dg.materialize([source_assets(tickets(tmp_path))], partition_key="2024-01-02", resources=resources,
                            run_config=config)
    raw = next(m for m in result.get_asset_materialization_events()
               if m.asset_key == dg.AssetKey("raw_support_tickets")).materialization.metadata
    assert raw["schema_drift_findings_count"].value == 1 and raw["rows_accepted"].value == 1
    assert "| units.csv | changed_type | minutes_to_resolve | alert | warning |" in raw["schema_drift_findings"].value

    failing = source_assets(tickets(tmp_path, {"changed_type": "fail"}))
    result = dg.materialize([failing], partition_key="2024-01-02", resources=resources, run_config=config,
                            raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "schema drift configured to fail (source support_tickets): landing file" in \
        failure.event_specific_data.error.message


def test_a_table_source_gets_the_column_policy(warehouse):
    from feature_factory.catalog.sources import parse_sources

    def spec(policy=None):
        entry = {"location": {"table": "crm_export"}, "row_id": "ticket_id",
                 "entity_keys": {"customer": "customer_id"}, "event_time": "opened_at",
                 "columns": {"ticket_id": "string", "customer_id": {"type": "string", "from": "cust"},
                             "opened_at": "timestamp", "minutes": "number"}}
        if policy:
            entry["schema_drift"] = policy
        return parse_sources({"crm_tickets": entry}, "s.yaml").get("crm_tickets")

    # The export renamed cust -> customer and dropped minutes; it has a column nobody reads.
    warehouse.execute("CREATE TABLE crm_export (ticket_id VARCHAR, customer VARCHAR, opened_at TIMESTAMP, "
                      "extra VARCHAR)")
    warehouse.execute("INSERT INTO crm_export VALUES ('a', 'c1', '2024-01-02 08:00:00', 'x')")
    with pytest.raises(schema_drift.SchemaDriftError, match=r"^table crm_export: missing column\(s\) cust, minutes "
                       r"that source 'crm_tickets' reads \(found ticket_id, customer, opened_at, extra\)"):
        ingest_source_range(warehouse, spec(), DAY, DAY + dt.timedelta(days=1), now=NOW, start_date=START)
    adapted = spec({"missing_column": "alert", "extra_column": "alert", "column_aliases": {"customer": "customer_id"}})
    result = ingest_source_range(warehouse, adapted, DAY, DAY + dt.timedelta(days=1), now=NOW, start_date=START)
    assert warehouse.fetch_all("SELECT ticket_id, customer_id, minutes FROM raw_crm_tickets") == [("a", "c1", None)]
    assert warehouse.fetch_all("SELECT source_file, kind, column_name, severity FROM landing_schema_drift "
                               "WHERE source = 'crm_tickets' ORDER BY kind") == [
        ("crm_export", "extra_column", "extra", "warning"), ("crm_export", "missing_column", "minutes", "warning")]
    assert [f["kind"] for f in result.findings] == ["extra_column", "missing_column"]
