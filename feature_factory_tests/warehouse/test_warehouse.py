"""The Warehouse contract, asserted identically on DuckDB and on Snowflake (fakesnow)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from feature_factory.warehouse import WarehouseError, quote_ident, sql_literal


def test_replace_table_swaps_atomically_and_counts(warehouse):
    assert warehouse.replace_table("t", "SELECT 1 AS x, 'a' AS y") == 1
    assert warehouse.replace_table("t", "SELECT 2 AS x, 'b' AS y UNION ALL SELECT 3, 'c'") == 2
    df = warehouse.fetch_df("SELECT x, y FROM t ORDER BY x")
    assert df["x"].tolist() == [2, 3] and df["y"].tolist() == ["b", "c"]
    assert not warehouse.table_exists("t__staging")


def test_failed_replace_keeps_previous_version(warehouse):
    warehouse.replace_table("t", "SELECT 1 AS x")
    with pytest.raises(WarehouseError):
        warehouse.replace_table("t", "SELECT no_such_column FROM t")
    assert warehouse.fetch_all("SELECT x FROM t") == [(1,)]


def test_replace_where_is_idempotent_and_grows_columns(warehouse):
    warehouse.replace_where("p", "d = 1", "SELECT 1 AS d, 10 AS v")
    warehouse.replace_where("p", "d = 2", "SELECT 2 AS d, 20 AS v")
    # Re-running a partition replaces it; never appends twice.
    warehouse.replace_where("p", "d = ?", "SELECT 2 AS d, 21 AS v", where_params=[2])
    warehouse.replace_where("p", "d = ?", "SELECT 2 AS d, 21 AS v", where_params=[2])
    assert warehouse.fetch_all("SELECT d, v FROM p ORDER BY d") == [(1, 10), (2, 21)]
    # A new column is added; old rows get NULL.
    warehouse.replace_where("p", "d = 3", "SELECT 3 AS d, 30 AS v, CAST(2.5 AS DOUBLE) AS w")
    rows = warehouse.fetch_all("SELECT d, v, w FROM p ORDER BY d")
    assert rows == [(1, 10, None), (2, 21, None), (3, 30, 2.5)]


def test_replace_where_select_sees_the_rows_before_the_delete(warehouse):
    warehouse.replace_where("p", "d = 1", "SELECT 1 AS d, 10 AS v")
    warehouse.replace_where("p", "d = 2", "SELECT 2 AS d, 20 AS v")
    # A partition rebuilt from itself (DuckDB inserts straight from the SELECT only when it cannot
    # read the table): directly, and through a view over the table.
    assert warehouse.replace_where("p", "d = 1", "SELECT d, v + 1 AS v FROM p WHERE d = 1") == 1
    warehouse.execute("CREATE VIEW p_view AS SELECT d, v FROM p")
    assert warehouse.replace_where("p", "d = 2", "SELECT d, v + 5 AS v FROM p_view WHERE d = 2") == 1
    assert warehouse.fetch_all("SELECT d, v FROM p ORDER BY d") == [(1, 11), (2, 25)]
    assert not warehouse.table_exists("p__staging")


def test_failed_replace_where_keeps_the_partition(warehouse):
    warehouse.replace_where("p", "d = 1", "SELECT 1 AS d, 10 AS v")
    warehouse.replace_table("src", "SELECT 1 AS d, 'not a number' AS s")
    # Fails while the rows are produced (a cast of the data), after the DELETE would have run.
    with pytest.raises(WarehouseError):
        warehouse.replace_where("p", "d = 1", "SELECT d, CAST(s AS INTEGER) AS v FROM src")
    assert warehouse.fetch_all("SELECT d, v FROM p") == [(1, 10)]
    assert warehouse.replace_where("p", "d = 1", "SELECT d, 12 AS v FROM src") == 1
    assert warehouse.fetch_all("SELECT d, v FROM p") == [(1, 12)]


def test_write_df_append_and_replace(warehouse):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert warehouse.write_df("w", df) == 2
    warehouse.write_df("w", pd.DataFrame({"a": [3], "b": ["z"]}))
    assert warehouse.fetch_df("SELECT a, b FROM w ORDER BY a")["b"].tolist() == ["x", "y", "z"]
    warehouse.write_df("w", pd.DataFrame({"a": [9], "b": ["q"]}), mode="replace")
    assert warehouse.fetch_all("SELECT a, b FROM w") == [(9, "q")]
    assert warehouse.row_count("w") == 1 and warehouse.row_count("missing_table") == 0


def test_columns_are_lower_case_with_portable_types(warehouse):
    warehouse.replace_table(
        "c",
        "SELECT CAST('a' AS VARCHAR) AS name, CAST(1 AS BIGINT) AS n, CAST(1.5 AS DOUBLE) AS f, "
        "CAST('2024-01-02' AS DATE) AS d",
    )
    cols = dict(warehouse.columns("c"))
    assert list(cols) == ["name", "n", "f", "d"]
    assert cols["name"] == "VARCHAR" and cols["n"] == "BIGINT" and cols["f"] == "DOUBLE"
    assert warehouse.columns("nope") == []


def test_parsing_fragments(warehouse):
    warehouse.write_df(
        "raw", pd.DataFrame({"s": ["12.5", "abc", None, "2024-01-02T03:04:05Z",
                                   "2024-01-02T03:04:05+02:00", "2024-02-30T00:00:00"]})
    )
    rows = warehouse.fetch_all(
        f"SELECT {warehouse.try_double('s')}, {warehouse.try_timestamp('s')} FROM raw"
    )
    assert [r[0] for r in rows] == [12.5, None, None, None, None, None]
    assert [r[1] for r in rows] == [
        None, None, None,
        dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 1, 2, 1, 4, 5), None,
    ]


def test_date_and_quantile_fragments(warehouse):
    warehouse.write_df("q", pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0, 5.0]}))
    d = "CAST('2024-01-30' AS DATE)"
    row = warehouse.fetch_one(
        f"SELECT {warehouse.date_add_days(d, 3)}, {warehouse.date_diff_days(d, warehouse.date_add_days(d, 3))}"
    )
    assert row == (dt.date(2024, 2, 2), 3)
    qs = warehouse.fetch_one(f"SELECT {', '.join(warehouse.quantiles('v', [0.0, 0.25, 0.5, 1.0]))} FROM q")
    assert [float(x) for x in qs] == [1.0, 2.0, 3.0, 5.0]


def test_stage_file_reads_csv_and_parquet_as_text(warehouse, tmp_path):
    csv = tmp_path / "e.csv"
    csv.write_text("Event_ID,amount\n1,2.5\n2,\n3,x\n")
    assert warehouse.stage_file(csv, "csv", "stg") == ["event_id", "amount"]
    assert warehouse.fetch_all("SELECT event_id, amount, source_row FROM stg ORDER BY source_row") == [
        ("1", "2.5", 1), ("2", None, 2), ("3", "x", 3),
    ]
    pq = tmp_path / "e.parquet"
    pd.DataFrame({"event_id": ["a", "b"], "amount": [1.5, None]}).to_parquet(pq)
    assert warehouse.stage_file(pq, "parquet", "stg2") == ["event_id", "amount"]
    assert warehouse.fetch_all("SELECT event_id, amount FROM stg2 ORDER BY source_row") == [
        ("a", "1.5"), ("b", None),
    ]


def test_stage_file_names_the_bad_file(warehouse, tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"\x00\x01 not parquet")
    with pytest.raises(WarehouseError, match="bad.parquet"):
        warehouse.stage_file(bad, "parquet", "stg")


@pytest.mark.parametrize("name", ["Revenue", "a b", "x;drop table t", "", "1abc", '"q"'])
def test_quote_ident_refuses_anything_but_snake_case(name):
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        quote_ident(name)


def test_sql_literal_escapes_and_refuses_non_finite():
    assert sql_literal("o'brien") == "'o''brien'"
    assert sql_literal(None) == "NULL" and sql_literal(3) == "3" and sql_literal(True) == "TRUE"
    assert sql_literal(dt.date(2024, 1, 2)) == "CAST('2024-01-02' AS DATE)"
    with pytest.raises(ValueError):
        sql_literal(float("nan"))


def test_the_dialect_needs_no_connection_and_the_warehouse_delegates_to_it(warehouse):
    import subprocess
    import sys

    import duckdb

    from feature_factory.warehouse.dialect import DUCKDB, SNOWFLAKE

    # Importable on its own: neither Dagster nor a database driver comes with it.
    probe = ("import sys, feature_factory.warehouse.dialect; "
             "print(sorted(m for m in ('dagster', 'duckdb', 'snowflake.connector') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
    assert warehouse.dialect is {"duckdb": DUCKDB, "snowflake": SNOWFLAKE}[str(warehouse.dialect)]
    assert warehouse.transactional_ddl is warehouse.dialect.transactional_ddl is (warehouse.dialect is DUCKDB)
    assert warehouse.describe().startswith(warehouse.dialect.name)
    # A DuckDB fragment, run on a bare DuckDB connection with no warehouse around it.
    day, text = "DATE '2024-02-27'", "'x'"
    sql = f"SELECT {DUCKDB.date_add_days(day, 3)}, {DUCKDB.try_double(text)}"
    assert duckdb.connect().execute(sql).fetchone() == (dt.date(2024, 3, 1), None)
