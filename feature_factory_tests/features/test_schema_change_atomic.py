"""A catalog change that fails at run time leaves `customer_features` exactly as it was: the new
column is added in the same transaction as the data (DuckDB), so the failure rolls both back."""

from __future__ import annotations

import datetime as dt

import pytest
from features_helpers import D, events_frame, write_raw_events

from feature_factory.catalog import load_catalog
from feature_factory.catalog.loader import parse_entries
from feature_factory.features import snapshots
from feature_factory.warehouse.base import WarehouseError

NOW = dt.datetime(2024, 4, 11)
ROWS = [("a", "purchase", "web", 10.0, "2024-04-09"), ("b", "browse", "mobile", None, "2024-04-10")]
# Valid SQL over a raw_events column, refused only when it runs: 'a' is not an integer.
FAILS_AT_RUN_TIME = parse_entries([{
    "name": "customer_number_sum", "description": "d", "owner": "me", "dtype": "float", "lifecycle": "active",
    "window_days": 7, "aggregate": {"agg": "sum", "value": "CAST(customer_id AS INTEGER)"}}]).features


def test_failed_run_leaves_the_table_and_its_columns_as_they_were(duckdb_warehouse):
    catalog = load_catalog()
    write_raw_events(duckdb_warehouse, events_frame(ROWS))
    snapshots.write_snapshots(duckdb_warehouse, catalog.features, D("2024-04-10"), D("2024-04-10"), computed_at=NOW)
    columns = duckdb_warehouse.columns("customer_features")
    rows = duckdb_warehouse.fetch_all("SELECT * FROM customer_features ORDER BY customer_id")
    assert [r[0] for r in rows] == ["a", "b"]
    with pytest.raises(WarehouseError):
        snapshots.write_snapshots(duckdb_warehouse, catalog.with_features(FAILS_AT_RUN_TIME).features,
                                  D("2024-04-10"), D("2024-04-10"), computed_at=NOW)
    assert duckdb_warehouse.columns("customer_features") == columns
    assert "customer_number_sum" not in dict(columns)
    assert duckdb_warehouse.fetch_all("SELECT * FROM customer_features ORDER BY customer_id") == rows


def test_failed_first_run_creates_no_table(duckdb_warehouse):
    write_raw_events(duckdb_warehouse, events_frame(ROWS))
    with pytest.raises(WarehouseError):
        snapshots.write_snapshots(duckdb_warehouse, load_catalog().with_features(FAILS_AT_RUN_TIME).features,
                                  D("2024-04-10"), D("2024-04-10"), computed_at=NOW)
    assert not duckdb_warehouse.table_exists("customer_features")
