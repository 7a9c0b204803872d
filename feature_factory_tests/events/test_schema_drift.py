"""Schema drift of landing files: detection, recorded findings, and each configured action."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from ingest_helpers import D1, ev, table

from feature_factory.events.config import SchemaDriftPolicy
from feature_factory.events.contract import CONTRACT_COLUMNS
from feature_factory.events.schema_drift import SchemaDriftError, map_columns

FINDINGS = "source_file, kind, column_name, action, severity"
NO_AMOUNT = tuple(c for c in CONTRACT_COLUMNS if c != "amount")


def _without(row: tuple, column: str) -> tuple:
    return tuple(v for c, v in zip(CONTRACT_COLUMNS, row) if c != column)


def test_extra_column_auto_adapts_by_default(warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1") + ("USD",), ev("e2") + ("EUR",)],
              header=CONTRACT_COLUMNS + ("currency",))
    result = ingest(warehouse, D1)
    assert table(warehouse, "raw_events", "event_id, amount") == [("e1", 10.0), ("e2", 10.0)]
    assert [c for c, _ in warehouse.columns("raw_events")][:6] == list(CONTRACT_COLUMNS)
    assert "currency" not in dict(warehouse.columns("raw_events"))
    assert table(warehouse, "landing_schema_drift", FINDINGS, "column_name") == [
        ("events_2024-01-01.csv", "extra_column", "currency", "auto_adapt", "info")]
    assert [(f["kind"], f["column_name"]) for f in result.findings] == [("extra_column", "currency")]


def test_missing_column_fails_naming_file_and_column(warehouse, landing, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("ok")])
    write_csv("events_2024-01-02.csv", [_without(ev("e1", day=2), "amount")], header=NO_AMOUNT)
    with pytest.raises(SchemaDriftError) as err:
        ingest(warehouse, D1)
    message = str(err.value)
    assert str(landing / "events_2024-01-02.csv") in message and "'amount'" in message
    assert "missing" in message
    # Nothing was written by the failed run, but the finding is recorded.
    assert warehouse.row_count("raw_events") == 0
    assert table(warehouse, "landing_schema_drift", FINDINGS, "column_name") == [
        ("events_2024-01-02.csv", "missing_column", "amount", "fail", "error")]
    # Every run fails until the file or the policy changes; then it goes through.
    with pytest.raises(SchemaDriftError):
        ingest(warehouse, D1)
    ingest(warehouse, D1, dt.date(2024, 1, 3), schema_drift={"missing_column": "alert"})
    assert table(warehouse, "raw_events", "event_id, amount") == [("ok", 10.0), ("e1", None)]
    assert table(warehouse, "landing_schema_drift", "column_name, action, severity", "column_name") == [
        ("amount", "alert", "warning")]


def test_missing_key_column_with_alert_quarantines_rows(duckdb_warehouse, write_csv, ingest):
    cols = tuple(c for c in CONTRACT_COLUMNS if c != "channel")
    write_csv("events_2024-01-01.csv", [_without(ev("e1"), "channel")], header=cols)
    result = ingest(duckdb_warehouse, D1, schema_drift={"missing_column": "auto_adapt"})
    assert result.by_reason() == {"unknown_channel": 1}
    assert table(duckdb_warehouse, "landing_schema_drift", "kind, column_name, severity", "column_name") == [
        ("missing_column", "channel", "info")]


def test_extra_column_can_be_configured_to_fail(duckdb_warehouse, landing, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1") + ("x",)], header=CONTRACT_COLUMNS + ("note",))
    with pytest.raises(SchemaDriftError, match=r"events_2024-01-01\.csv: column 'note'"):
        ingest(duckdb_warehouse, D1, schema_drift={"extra_column": "fail"})
    assert duckdb_warehouse.row_count("raw_events") == 0


def test_renamed_column_hint_and_alias(duckdb_warehouse, write_csv, ingest):
    header = tuple("amount_usd" if c == "amount" else c for c in CONTRACT_COLUMNS)
    write_csv("events_2024-01-01.csv", [ev("e1", amount="7.5")], header=header)
    with pytest.raises(SchemaDriftError, match="possibly renamed to 'amount_usd'"):
        ingest(duckdb_warehouse, D1)
    ingest(duckdb_warehouse, D1, schema_drift={"column_aliases": {"amount_usd": "amount"}})
    assert table(duckdb_warehouse, "raw_events", "event_id, amount") == [("e1", 7.5)]
    assert duckdb_warehouse.row_count("landing_schema_drift") == 0


def test_retyped_amount_alerts_and_casts_losslessly(warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1", amount="12.50 USD"), ev("e2", amount=""),
                                        ev("e3", amount="0.99 USD")])
    result = ingest(warehouse, D1)
    assert table(warehouse, "raw_events", "event_id, amount") == [("e1", 12.5), ("e2", None), ("e3", 0.99)]
    assert [(f["kind"], f["column_name"], f["action"], f["severity"]) for f in result.findings] == [
        ("changed_type", "amount", "alert", "warning")]
    detail = result.findings[0]["detail"]
    assert "100% of 2 non-blank values" in detail and "unit 'USD'" in detail


def test_retyped_amount_without_lossless_cast_quarantines(duckdb_warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1", amount="12.50 USD"), ev("e2", amount="3 EUR"),
                                        ev("e3", amount="4")])
    result = ingest(duckdb_warehouse, D1, schema_drift={"changed_type": "auto_adapt"})
    assert result.by_reason() == {"non_numeric_amount": 2}
    assert table(duckdb_warehouse, "raw_events", "event_id, amount") == [("e3", 4.0)]
    finding = result.findings[0]
    assert (finding["severity"], "no lossless cast" in finding["detail"]) == ("warning", True)


def test_retyped_amount_configured_to_fail(duckdb_warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1", amount="12.50 USD")])
    with pytest.raises(SchemaDriftError, match=r"events_2024-01-01\.csv: column 'amount' changed type"):
        ingest(duckdb_warehouse, D1, schema_drift={"changed_type": "fail"})


def test_few_bad_values_are_bad_rows_not_drift(duckdb_warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1", amount="oops")] + [ev(f"g{i}") for i in range(3)])
    result = ingest(duckdb_warehouse, D1)
    assert result.findings == [] and result.by_reason() == {"non_numeric_amount": 1}


def test_epoch_timestamps_cast_on_both_backends(warehouse, write_csv, write_parquet, ingest):
    epoch = int(dt.datetime(2024, 1, 1, 10, 30, tzinfo=dt.timezone.utc).timestamp())
    write_csv("events_2024-01-01.csv", [ev("e1")[:5] + (epoch,), ev("e2")[:5] + (epoch + 61,)])
    frame = pd.DataFrame([ev("p1")[:5]], columns=CONTRACT_COLUMNS[:5]).assign(event_ts=[(epoch + 1) * 1000])
    write_parquet("events_2024-01-01_b.parquet", frame)
    result = ingest(warehouse, D1)
    assert table(warehouse, "raw_events", "event_id, event_ts", "event_id") == [
        ("e1", dt.datetime(2024, 1, 1, 10, 30)), ("e2", dt.datetime(2024, 1, 1, 10, 31, 1)),
        ("p1", dt.datetime(2024, 1, 1, 10, 30, 1))]
    details = sorted(f["detail"].split("; ")[1] for f in result.findings)  # what the cast does
    assert details == ["epoch milliseconds", "epoch seconds"]  # both files, each its own unit


def test_invalid_alias_is_a_clear_error():
    with pytest.raises(ValueError, match="'amt' to 'price', which is not a contract column"):
        map_columns(["amt"], SchemaDriftPolicy(column_aliases={"amt": "price"}))
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        map_columns(["x"], SchemaDriftPolicy(column_aliases={"Amount USD": "amount"}))
