"""Daily refresh writes (window-only reads, idempotent) and the online table + API, on both backends."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from features_helpers import D, assert_frames_match, events_frame, reference_features, write_raw_events

from feature_factory.catalog import load_catalog
from feature_factory.features import online, snapshots

CATALOG = load_catalog()
NAMES = [f.name for f in CATALOG.computed()]
NOW = dt.datetime(2024, 6, 1)

ROWS = [
    ("a", "purchase", "web", 10.0, "2024-03-10"),
    ("a", "browse", "mobile", 0.0, "2024-03-12"),
    ("b", "purchase", "mobile", 30.0, "2024-03-01"),
    ("c", "refund", "web", 4.0, "2024-01-05"),  # only > 90 days before 2024-04-10
    ("d", "purchase", "web", 7.5, "2024-04-10"),
]
# Rows older than the 90-day lookback of 2024-04-10 (starts 2024-01-12): must change nothing.
ANCIENT = [
    ("a", "purchase", "web", 5000.0, "2023-12-01"),
    ("b", "refund", "web", 77.0, "2024-01-11"),
    ("z", "purchase", "web", 1.0, "2023-11-11"),
]


def write_day(warehouse, day: str):
    return snapshots.write_snapshots(warehouse, CATALOG.features, D(day), D(day), computed_at=NOW)


def test_one_day_refresh_reads_only_its_window_and_is_idempotent(warehouse):
    write_raw_events(warehouse, events_frame(ROWS))
    # The day before: its run leaves the lifetime state (issue 26) the next day's refresh reads
    # instead of history.
    assert write_day(warehouse, "2024-04-09").plan.reads_history
    first = write_day(warehouse, "2024-04-10")
    assert first.plan.read_from == D("2024-01-12") and first.plan.strategy == "direct"
    assert not first.plan.reads_history
    day = "SELECT * FROM customer_features WHERE snapshot_date = DATE '2024-04-10' ORDER BY customer_id"
    before = warehouse.fetch_df(day)
    assert before["customer_id"].tolist() == ["a", "b", "d"]  # c was seen only > 90 days ago

    write_raw_events(warehouse, events_frame(ROWS + ANCIENT))
    again = write_day(warehouse, "2024-04-10")  # re-run: replaces the day, never appends
    after = warehouse.fetch_df(day)
    count = "SELECT COUNT(*) FROM customer_features WHERE snapshot_date = DATE '2024-04-10'"
    assert again.rows == first.rows == 3 and warehouse.fetch_one(count)[0] == 3
    pd.testing.assert_frame_equal(before, after)
    assert_frames_match(after, reference_features(events_frame(ROWS), [D("2024-04-10")]), NAMES)


def test_days_are_replaced_independently(duckdb_warehouse):
    write_raw_events(duckdb_warehouse, events_frame(ROWS))
    write_day(duckdb_warehouse, "2024-04-09")
    write_day(duckdb_warehouse, "2024-04-10")
    snapshots.write_snapshots(duckdb_warehouse, CATALOG.features, D("2024-04-09"), D("2024-04-10"),
                              computed_at=NOW, strategy="window")
    counts = duckdb_warehouse.fetch_all(
        "SELECT snapshot_date, COUNT(*) FROM customer_features GROUP BY snapshot_date ORDER BY 1")
    assert [(str(d), n) for d, n in counts] == [("2024-04-09", 2), ("2024-04-10", 3)]


def test_missing_raw_events_is_a_clear_error(duckdb_warehouse):
    with pytest.raises(snapshots.FeatureBuildError, match="raw_events does not exist"):
        write_day(duckdb_warehouse, "2024-04-10")


def build_history(warehouse):
    write_raw_events(warehouse, events_frame(ROWS))
    snapshots.write_snapshots(warehouse, CATALOG.features, D("2024-04-01"), D("2024-04-10"),
                              computed_at=NOW, strategy="window")


def test_online_table_latest_snapshot_with_staleness(warehouse):
    build_history(warehouse)
    # Age out b early: drop its last days so its newest snapshot is 2024-04-05.
    warehouse.execute("DELETE FROM customer_features WHERE customer_id = 'b' AND snapshot_date > CAST('2024-04-05' AS DATE)")
    result = online.build_online_table(warehouse, CATALOG, ttl_days=2)
    # c (last event 2024-01-05) leaves the population after 2024-04-03: its newest row is stale.
    assert (result.rows, result.stale, result.reference_date) == (4, 2, D("2024-04-10"))
    df = warehouse.fetch_df("SELECT * FROM customer_features_online ORDER BY customer_id")
    assert df["customer_id"].tolist() == ["a", "b", "c", "d"]
    assert [str(pd.Timestamp(d).date()) for d in df["snapshot_date"]] == [
        "2024-04-10", "2024-04-05", "2024-04-03", "2024-04-10"]
    assert df["snapshot_age_days"].tolist() == [0, 5, 7, 0]
    assert df["is_stale"].tolist() == [False, True, True, False]
    assert df.loc[0, "days_since_last_event"] == 29 and df.loc[3, "revenue_7d"] == 7.5
    # "As of" an earlier day: snapshots up to it, staleness measured from it.
    online.build_online_table(warehouse, CATALOG, ttl_days=0, as_of=D("2024-04-06"))
    df = warehouse.fetch_df("SELECT customer_id, snapshot_age_days, is_stale FROM customer_features_online ORDER BY 1")
    assert df.values.tolist() == [["a", 0, False], ["b", 1, True], ["c", 3, True]]


def test_get_online_features_keeps_request_order_and_marks_unknown_ids(warehouse):
    build_history(warehouse)
    online.build_online_table(warehouse, CATALOG)
    got = online.get_online_features(warehouse, ["d", "nobody", "a", "d", None])
    assert got["customer_id"].tolist() == ["d", "nobody", "a", "d", None]
    assert got["found"].tolist() == [True, False, True, True, False]
    assert got["purchases_7d"].dtype == "Int64" and got["revenue_7d"].dtype == "float64"
    assert got["purchases_7d"].tolist()[0] == 1 and pd.isna(got["purchases_7d"][1])
    assert pd.isna(got["revenue_7d"][1]) and pd.isna(got["is_stale"][1]) and got["snapshot_date"][1] is None
    assert got["snapshot_date"][0] == D("2024-04-10") and got["is_stale"][0] == False  # noqa: E712
    assert list(got.columns[:4]) == ["customer_id", "found", "snapshot_date", "snapshot_age_days"]
    assert set(NAMES) <= set(got.columns)
    some = online.get_online_features(warehouse, ["a"], features=["events_7d"])
    assert some.columns.tolist()[-1] == "events_7d" and "revenue_7d" not in some.columns
    assert online.get_online_features(warehouse, []).empty


def test_online_api_errors(duckdb_warehouse):
    with pytest.raises(online.OnlineTableError, match="materialize customer_features_online first"):
        online.get_online_features(duckdb_warehouse, ["a"])
    with pytest.raises(online.OnlineTableError, match="materialize customer_features first"):
        online.build_online_table(duckdb_warehouse, CATALOG)
    build_history(duckdb_warehouse)
    online.build_online_table(duckdb_warehouse, CATALOG)
    with pytest.raises(TypeError, match="list of customer id strings"):
        online.get_online_features(duckdb_warehouse, "a")
    with pytest.raises(KeyError, match="not served"):
        online.get_online_features(duckdb_warehouse, ["a"], features=["nope"])


def test_long_range_is_written_in_chunks_with_the_same_values(duckdb_warehouse):
    write_raw_events(duckdb_warehouse, events_frame(ROWS))
    one = snapshots.write_snapshots(duckdb_warehouse, CATALOG.features, D("2024-04-01"), D("2024-04-10"),
                                    computed_at=NOW, strategy="window")
    whole = duckdb_warehouse.fetch_df("SELECT * FROM customer_features ORDER BY customer_id, snapshot_date")
    chunked = snapshots.write_snapshots(duckdb_warehouse, CATALOG.features, D("2024-04-01"), D("2024-04-10"),
                                        computed_at=NOW, max_days_per_statement=4)
    assert len(one.plans) == 1 and [(p.first, p.last) for p in chunked.plans] == [
        (D("2024-04-01"), D("2024-04-04")), (D("2024-04-05"), D("2024-04-08")), (D("2024-04-09"), D("2024-04-10"))]
    assert chunked.rows == one.rows == len(whole) and chunked.read_from == D("2024-01-03")
    again = duckdb_warehouse.fetch_df("SELECT * FROM customer_features ORDER BY customer_id, snapshot_date")
    pd.testing.assert_frame_equal(whole, again)


def test_plan_arguments_are_checked(duckdb_warehouse):
    from feature_factory.features.snapshot_sql import snapshot_plan

    with pytest.raises(ValueError, match="snapshot range is empty"):
        snapshot_plan(duckdb_warehouse.dialect, CATALOG.features, D("2024-04-02"), D("2024-04-01"), NOW)
    with pytest.raises(ValueError, match="strategy 'fast' is not one of auto, direct, window"):
        snapshot_plan(duckdb_warehouse.dialect, CATALOG.features, D("2024-04-01"), D("2024-04-01"), NOW, strategy="fast")
    auto = [snapshot_plan(duckdb_warehouse.dialect, CATALOG.features, D("2024-04-01"), D("2024-04-01") + dt.timedelta(days=n - 1), NOW).strategy
            for n in (1, 14, 15)]
    assert auto == ["direct", "direct", "window"]


def test_online_table_reads_through_the_patch_layer(duckdb_warehouse, monkeypatch):
    build_history(duckdb_warehouse)
    seen = {}

    def patched(warehouse, features, qualifier=None, table=None):
        seen["features"] = [f.name for f in features]
        exprs = {f.name: f"{qualifier}.{f.name}" for f in features}
        exprs["revenue_7d"] = f"LEAST({qualifier}.revenue_7d, 5.0)"  # a stand-in for a cap patch
        return exprs

    monkeypatch.setattr(online.patch_layer, "patched_expressions", patched)
    online.build_online_table(duckdb_warehouse, CATALOG)
    assert seen["features"] == [f.name for f in CATALOG.served()]
    got = online.get_online_features(duckdb_warehouse, ["d"])
    assert got.loc[0, "revenue_7d"] == 5.0  # served value patched
    raw = duckdb_warehouse.fetch_one(
        "SELECT revenue_7d FROM customer_features WHERE customer_id = 'd' AND snapshot_date = CAST('2024-04-10' AS DATE)")
    assert raw == (7.5,)  # the snapshot itself is untouched


def test_failed_write_keeps_the_previous_rows_and_retyping_is_refused(warehouse):
    write_raw_events(warehouse, events_frame(ROWS))
    write_day(warehouse, "2024-04-10")
    before = warehouse.fetch_df("SELECT * FROM customer_features ORDER BY customer_id")
    with pytest.raises(Exception):
        snapshots._replace_range(warehouse, CATALOG.computed(), D("2024-04-10"), D("2024-04-10"),
                                 "SELECT no_such_column FROM raw_events")
    pd.testing.assert_frame_equal(before, warehouse.fetch_df("SELECT * FROM customer_features ORDER BY customer_id"))
    retyped = [f if f.name != "events_7d" else type(f)(**{**f.__dict__, "dtype": type(f.dtype)("float")})
               for f in CATALOG.computed()]
    with pytest.raises(snapshots.FeatureBuildError, match="events_7d is BIGINT but the catalog now makes it DOUBLE"):
        snapshots.write_snapshots(warehouse, retyped, D("2024-04-10"), D("2024-04-10"), computed_at=NOW)


def test_readers_of_snapshot_days_and_online_ids(warehouse):
    # What the demo's summary and the baseline capture read, before and after the tables exist.
    assert snapshots.snapshot_days(warehouse) == 0 and online.online_ids(warehouse, 2) == []
    build_history(warehouse)
    assert snapshots.snapshot_days(warehouse) == 10
    assert snapshots.snapshot_days(warehouse, D("2024-04-03"), D("2024-04-05")) == 3
    assert snapshots.snapshot_days(warehouse, D("2024-05-01"), D("2024-05-09")) == 0
    online.build_online_table(warehouse, CATALOG)
    assert online.online_ids(warehouse, 2) == ["a", "b"] and online.online_ids(warehouse, 9) == ["a", "b", "c", "d"]
