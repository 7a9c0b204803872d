"""Staging many landing files in one sync: per-file rows, counts and findings, whatever the grouping."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from ingest_helpers import D1, D2, csv_text, ev, table

from feature_factory.events.contract import CONTRACT_COLUMNS


def _frame(rows: list[tuple], **extra) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CONTRACT_COLUMNS).assign(**extra)


def test_several_files_in_one_sync_keep_per_file_rows_counts_and_findings(warehouse, write_parquet, ingest):
    # a, b and d have the same columns (DuckDB reads them in one statement); c has an extra column;
    # d's amounts carry a unit, so d alone is re-read with the lossless cast.
    write_parquet("events_2024-01-01_a.parquet", _frame([ev("a1"), ev("a2", hour=11), ev("a3", hour=12)]))
    write_parquet("events_2024-01-01_b.parquet", _frame([ev("b1"), ev("b2", amount="oops"), ev("b3"), ev("b4")]))
    write_parquet("events_2024-01-01_c.parquet", _frame([ev("c1"), ev("c2", day=2)], currency=["USD", "EUR"]))
    write_parquet("events_2024-01-02_d.parquet", _frame([ev("d1", day=2, amount="12.50 USD"),
                                                       ev("d2", day=2, amount="0.99 USD")]))
    result = ingest(warehouse, D1, D2 + (D2 - D1))
    files = ["events_2024-01-01_a.parquet", "events_2024-01-01_b.parquet", "events_2024-01-01_c.parquet",
             "events_2024-01-02_d.parquet"]
    a, b, c, d = files
    assert [(f.source_file, f.status) for f in result.sync.files] == [(f, "staged") for f in files]
    assert table(warehouse, "landing_rows", "source_file, source_row, event_id, amount_value, row_reason") == [
        (a, 1, "a1", 10.0, None), (a, 2, "a2", 10.0, None), (a, 3, "a3", 10.0, None),
        (b, 1, "b1", 10.0, None), (b, 2, "b2", None, "non_numeric_amount"), (b, 3, "b3", 10.0, None),
        (b, 4, "b4", 10.0, None),
        (c, 1, "c1", 10.0, None), (c, 2, "c2", 10.0, None),
        (d, 1, "d1", 12.5, None), (d, 2, "d2", 0.99, None)]
    assert table(warehouse, "landing_files", "source_file, status, rows_staged, min_event_date, max_event_date",
                 "source_file") == [(a, "staged", 3, D1, D1), (b, "staged", 4, D1, D1), (c, "staged", 2, D1, D2),
                                    (d, "staged", 2, D2, D2)]
    assert table(warehouse, "landing_schema_drift", "source_file, kind, column_name, action", "source_file") == [
        (c, "extra_column", "currency", "auto_adapt"), (d, "changed_type", "amount", "alert")]
    assert result.by_file() == {a: {"read": 3, "accepted": 3, "quarantined": 0},
                                b: {"read": 4, "accepted": 3, "quarantined": 1},
                                c: {"read": 2, "accepted": 2, "quarantined": 0},
                                d: {"read": 2, "accepted": 2, "quarantined": 0}}
    # Unchanged files are not staged again.
    again = ingest(warehouse, D1, D2 + (D2 - D1))
    assert {f.status for f in again.sync.files} == {"unchanged"}
    assert warehouse.row_count("landing_rows") == 11


def test_schema_failed_file_does_not_stop_the_others_in_its_sync(warehouse, landing, write_parquet, ingest):
    write_parquet("events_2024-01-01_a.parquet", _frame([ev("a1")]))
    write_parquet("events_2024-01-01_b.parquet", _frame([ev("b1", amount="12.50 USD")]))
    write_parquet("events_2024-01-01_c.parquet", _frame([ev("c1")]))
    try:
        ingest(warehouse, D1, schema_drift={"changed_type": "fail"})
    except ValueError as exc:
        assert "events_2024-01-01_b.parquet" in str(exc) and "changed type" in str(exc)
    else:
        raise AssertionError("expected SchemaDriftError")
    assert table(warehouse, "landing_rows", "source_file, event_id") == [
        ("events_2024-01-01_a.parquet", "a1"), ("events_2024-01-01_c.parquet", "c1")]
    assert table(warehouse, "landing_files", "source_file, status, rows_staged", "source_file") == [
        ("events_2024-01-01_a.parquet", "staged", 1), ("events_2024-01-01_b.parquet", "schema_failed", 0),
        ("events_2024-01-01_c.parquet", "staged", 1)]


def _corrupt_first_column(path) -> None:
    """Keep the footer (the schema reads) but overwrite the first column's pages (the data does not)."""
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start:start + chunk.total_compressed_size] = b"\x07" * chunk.total_compressed_size
    path.write_bytes(bytes(data))


def test_file_failing_mid_read_is_quarantined_and_the_rest_staged(duckdb_warehouse, landing, write_parquet,
                                                                  ingest):
    write_parquet("events_2024-01-01_a.parquet", _frame([ev("a1"), ev("a2", hour=11)]))
    _corrupt_first_column(write_parquet("events_2024-01-01_b.parquet", _frame([ev(f"b{i}") for i in range(50)])))
    write_parquet("events_2024-01-01_c.parquet", _frame([ev("c1")]))
    result = ingest(duckdb_warehouse, D1)
    assert [(f.source_file, f.status) for f in result.sync.files] == [
        ("events_2024-01-01_a.parquet", "staged"), ("events_2024-01-01_b.parquet", "quarantined"),
        ("events_2024-01-01_c.parquet", "staged")]
    assert table(duckdb_warehouse, "raw_events", "source_file, source_row, event_id") == [
        ("events_2024-01-01_a.parquet", 1, "a1"), ("events_2024-01-01_a.parquet", 2, "a2"),
        ("events_2024-01-01_c.parquet", 1, "c1")]
    (reason, detail), = duckdb_warehouse.fetch_all(
        "SELECT reason, detail FROM quarantined_events WHERE source_file = 'events_2024-01-01_b.parquet'")
    assert reason == "unreadable_file" and str(landing / "events_2024-01-01_b.parquet") in detail


def test_csv_files_with_one_header_are_read_together_and_a_bad_record_falls_back(
        duckdb_warehouse, landing, write_csv, ingest):
    # a and b: one statement (DuckDB reads CSVs with the same header together, numbering each file's
    # rows); c's record with a missing field fails the group's strict read, so the group is staged
    # file by file and only c's bad record is quarantined, with the file-by-file reason.
    write_csv("events_2024-01-01_a.csv", [ev("a1"), ev("a2", hour=11)])
    write_csv("events_2024-01-01_b.csv", [ev("b1"), ev("b2", amount="oops"), ev("b3")])
    reads = duckdb_warehouse.read_landing_files(
        [("a", landing / "events_2024-01-01_a.csv"), ("b", landing / "events_2024-01-01_b.csv")], "csv")
    assert [(r.labels, r.columns) for r in reads] == [(("a", "b"), tuple(CONTRACT_COLUMNS))]
    assert duckdb_warehouse.fetch_all(f"SELECT source_file, source_row, event_id FROM ({reads[0].sql}) "
                                      "ORDER BY 1, 2") == [
        ("a", 1, "a1"), ("a", 2, "a2"), ("b", 1, "b1"), ("b", 2, "b2"), ("b", 3, "b3")]
    result = ingest(duckdb_warehouse, D1)
    a, b = "events_2024-01-01_a.csv", "events_2024-01-01_b.csv"
    assert table(duckdb_warehouse, "landing_rows", "source_file, source_row, event_id, row_reason") == [
        (a, 1, "a1", None), (a, 2, "a2", None), (b, 1, "b1", None), (b, 2, "b2", "non_numeric_amount"),
        (b, 3, "b3", None)]
    assert result.rows_accepted == 4
    c = landing / "events_2024-01-01_c.csv"
    c.write_text(csv_text([ev("c1"), ev("c2")]) + "c3,c1,purchase\n")
    (landing / a).write_text(csv_text([ev("a1"), ev("a2", hour=11), ev("a4", hour=12)]))
    result = ingest(duckdb_warehouse, D1)
    assert table(duckdb_warehouse, "landing_rows", "source_file, source_row, event_id, row_reason",
                 "source_file, source_row") == [
        (a, 1, "a1", None), (a, 2, "a2", None), (a, 3, "a4", None),
        (b, 1, "b1", None), (b, 2, "b2", "non_numeric_amount"), (b, 3, "b3", None),
        ("events_2024-01-01_c.csv", 1, "c1", None), ("events_2024-01-01_c.csv", 2, "c2", None),
        ("events_2024-01-01_c.csv", 3, "c3", "malformed_row")]


def test_landing_tables_are_created_from_their_contracts(duckdb_warehouse):
    from feature_factory import tables
    from feature_factory.events.staging import ensure_tables

    with duckdb_warehouse.session() as s:
        ensure_tables(duckdb_warehouse, s)
    for table in (tables.LANDING_FILES, tables.LANDING_ROWS):
        assert [(c, t.upper()) for c, t in duckdb_warehouse.columns(table.name)] == table.schema, table.name
