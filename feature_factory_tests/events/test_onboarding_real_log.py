"""Onboarding a real purchase log without rewriting it (issue 26 item 5): constants, a derived row
id (and the natural-key collision it avoids), a `%Y%m%d` event time, a partition error naming
FEATURE_FACTORY_START_DATE, checks that hold on a date-only purchase log, and a missing-column
message that points at `from:`."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from ingest_helpers import NOW, csv_text

from feature_factory.catalog.errors import CatalogError
from feature_factory.catalog.spec import Expectations
from feature_factory.catalog.sources import load_sources
from feature_factory.events import quality, schema_drift
from feature_factory.events.ingestion import ingest_source_range
from feature_factory.features import expectations
from feature_factory.warehouse.dialect import DUCKDB, SNOWFLAKE, snowflake_format

# A CDNOW-like log: customer, YYYYMMDD date, quantity, amount; no event type, channel or row id.
HEADER = ("customer", "date", "quantity", "amount")
ROWS = [("c1", "19970101", "1", "10.00"), ("c1", "19970101", "2", "20.00"),  # same customer, same day
        ("c2", "19970102", "1", "5.50")]


def purchases(tmp_path, row_id=None, **extra):
    source = {
        "location": {"landing_folder": str(tmp_path / "purchases")},
        "row_id": row_id or {"column": "purchase_id", "hash": ["customer_id", "event_ts", "source_file", "source_row"]},
        "entity_keys": {"customer": "customer_id"},
        "event_time": "event_ts",
        "constants": {"event_type": "purchase", "channel": "web"},
        "columns": {"customer_id": {"type": "string", "from": "customer"},
                    "event_ts": {"type": "timestamp", "from": "date", "format": "%Y%m%d"},
                    "quantity": "number", "amount": {"type": "number", "min": 0}},
        **extra,
    }
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": {"purchases": source}}))
    return load_sources(path).get("purchases")


def ingest(warehouse, spec, tmp_path, rows=ROWS, header=HEADER):
    folder = tmp_path / "purchases"
    folder.mkdir(exist_ok=True)
    (folder / "cdnow.csv").write_text(csv_text(rows, header))
    return ingest_source_range(warehouse, spec, dt.date(1997, 1, 1), dt.date(1997, 1, 3), folder=folder, now=NOW,
                               start_date=dt.date(1997, 1, 1))


def test_the_declaration_reads_constants_a_derived_id_and_a_format(tmp_path):
    spec = purchases(tmp_path)
    assert spec.column("event_type").default == "purchase" and spec.column("channel").default == "web"
    assert spec.row_id == "purchase_id" and spec.row_id_hash == ("customer_id", "event_ts", "source_file", "source_row")
    assert spec.column("event_ts").format == "%Y%m%d" and spec.column("event_ts").source == "date"
    assert not spec.read_from_file("purchase_id") and not spec.read_from_file("channel")
    assert spec.read_from_file("amount")
    with pytest.raises(CatalogError, match=r"row_id.hash: 'basket' is not a declared column"):
        purchases(tmp_path, row_id={"column": "purchase_id", "hash": ["customer_id", "basket"]})
    with pytest.raises(CatalogError, match="columns.day: format must be a strftime-style format"):
        purchases(tmp_path, columns={"customer_id": "string", "event_ts": "timestamp",
                                     "day": {"type": "string", "format": "%Y"}})
    with pytest.raises(CatalogError, match="checks must map a shipped check"):
        purchases(tmp_path, checks={"freshnes": False})


def test_a_purchase_log_is_ingested_as_it_is(duckdb_warehouse, tmp_path):
    result = ingest(duckdb_warehouse, purchases(tmp_path), tmp_path)
    rows = duckdb_warehouse.fetch_all(
        "SELECT customer_id, event_ts, event_type, channel, quantity, amount, source_row FROM raw_purchases "
        "ORDER BY source_row")
    assert rows == [("c1", dt.datetime(1997, 1, 1), "purchase", "web", 1.0, 10.0, 1),
                    ("c1", dt.datetime(1997, 1, 1), "purchase", "web", 2.0, 20.0, 2),
                    ("c2", dt.datetime(1997, 1, 2), "purchase", "web", 1.0, 5.5, 3)]
    ids = [r[0] for r in duckdb_warehouse.fetch_all("SELECT purchase_id FROM raw_purchases")]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)  # MD5 hex
    assert result.rows_quarantined == 0
    # Idempotent: the same file again derives the same ids (nothing doubled, nothing quarantined).
    again = ingest(duckdb_warehouse, purchases(tmp_path), tmp_path)
    assert sorted(r[0] for r in duckdb_warehouse.fetch_all("SELECT purchase_id FROM raw_purchases")) == sorted(ids)
    assert again.rows_quarantined == 0


def test_a_natural_key_sends_same_day_repeat_purchases_to_quarantine(duckdb_warehouse, tmp_path):
    """The documented collision: customer + date is not unique for a purchase log."""
    spec = purchases(tmp_path, row_id={"column": "purchase_id", "hash": ["customer_id", "event_ts"]})
    ingest(duckdb_warehouse, spec, tmp_path)
    assert duckdb_warehouse.fetch_one("SELECT COUNT(*) FROM raw_purchases")[0] == 2
    assert duckdb_warehouse.fetch_all("SELECT reason, source_row FROM purchases_quarantine") == [
        ("duplicate_purchase_id_in_batch", 2)]


def test_a_missing_column_suggests_the_from_mapping():
    spec = load_sources_text("""
sources:
  purchases:
    location: {landing_folder: purchases}
    row_id: {column: purchase_id, hash: [customer_id, source_row]}
    entity_keys: {customer: customer_id}
    event_time: event_ts
    columns: {customer_id: string, event_ts: timestamp, amount: number}
""")
    mapping, findings, problem = schema_drift.judge_columns(spec, "landing file x.csv",
                                                            ["cust_id", "date", "quantity", "amount_usd"])
    assert problem[0] == "unreadable_file"
    assert "customer_id: `from: cust_id`" in problem[1] and "event_ts: `from: date`" in problem[1]
    assert "amount: `from: amount_usd`" in problem[1] and "constants:" in problem[1]
    # With one column matching: the per-column findings name the likely rename too.
    _, findings, problem = schema_drift.judge_columns(spec, "landing file y.csv", ["cust_id", "date", "amount"])
    assert "customer_id: `from: cust_id`; event_ts: `from: date`" in problem[1]
    details = {f.column: f.detail for f in findings if f.kind == "missing_column"}
    assert "possibly renamed to 'cust_id'" in details["customer_id"]
    assert schema_drift.similar("channel", ["customer", "date"]) is None


def load_sources_text(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "sources.yaml"
        path.write_text(text)
        return load_sources(path).get("purchases")


def test_a_partition_before_the_start_date_names_the_setting():
    import dagster as dg
    from dagster._core.errors import DagsterInvalidSubsetError

    from feature_factory.partitions import ProjectDailyPartitions, outside_message

    assert "FEATURE_FACTORY_START_DATE=1997-01-01" in outside_message("1997-01-01", start="2024-01-01", last="")
    assert "FEATURE_FACTORY_END_DATE" in outside_message("2025-01-01", start="2024-01-01", last="2024-12-31")
    assert outside_message("2024-03-01", start="2024-01-01", last="") is None
    parts = ProjectDailyPartitions(start_date="2024-01-01", end_date="2024-02-01")
    with pytest.raises(DagsterInvalidSubsetError, match="FEATURE_FACTORY_START_DATE"):
        parts.validate_partition_key("1997-01-01")
    parts.validate_partition_key("2024-01-05")  # a key inside is fine

    @dg.asset(partitions_def=parts)
    def daily():
        return 1

    with pytest.raises(DagsterInvalidSubsetError, match="before the first daily partition 2024-01-01"):
        dg.materialize([daily], partition_key="1997-01-01")


def test_checks_hold_on_a_date_only_purchase_log(tmp_path):
    day = dt.date(1997, 1, 1)
    newest = {day: dt.datetime(1997, 1, 1), day + dt.timedelta(days=1): dt.datetime(1997, 1, 2)}
    assert quality.date_only(newest, "%Y%m%d") and quality.date_only(newest)
    assert not quality.date_only(newest, "%Y%m%d %H:%M") and not quality.date_only({day: dt.datetime(1997, 1, 1, 9)})
    # Date-only: a day with any event is fresh; a day without one is still stale.
    assert quality.stale_days(newest, day, day + dt.timedelta(days=3), 6, dated_only=True) == [
        (day + dt.timedelta(days=2), None)]
    assert len(quality.stale_days(newest, day, day + dt.timedelta(days=2), 6)) == 2  # timed feeds: as before
    # A source that turns the NULL-rate check off: features over it are not judged on NULLs.
    spec = purchases(tmp_path, checks={"null_rate": False, "freshness": False})
    assert not spec.check_enabled("null_rate") and not spec.check_enabled("freshness")
    catalog = load_sources(tmp_path / "sources.yaml")

    class F:
        def __init__(self, name, source):
            self.name, self.source = name, source

    off = expectations.null_rate_off([F("min_amount_7d", "purchases"), F("x", "events"), F("y", "nope")], catalog)
    assert off == frozenset({"min_amount_7d"})
    o = expectations.Outcome("min_amount_7d", 100, 90, 0, 0, 1.0, 5.0)
    spec_f = type("S", (), {"name": "min_amount_7d", "expectations": Expectations(max_null_rate=0.8)})
    assert expectations._failures(spec_f, o) and not expectations._failures(spec_f, o, null_rate=False)


def test_timestamp_formats_in_both_dialects():
    assert snowflake_format("%Y%m%d") == "YYYYMMDD"
    assert snowflake_format("%Y-%m-%dT%H:%M:%S") == 'YYYY-MM-DD"T"HH24:MI:SS'
    assert SNOWFLAKE.try_strptime("x", "%Y%m%d") == "TRY_TO_TIMESTAMP_NTZ(x, 'YYYYMMDD')"
    assert DUCKDB.try_strptime("x", "%Y%m%d") == "CAST(TRY_STRPTIME(x, '%Y%m%d') AS TIMESTAMP)"
    with pytest.raises(ValueError, match="'%j' has no Snowflake equivalent"):
        snowflake_format("%Y%j")
