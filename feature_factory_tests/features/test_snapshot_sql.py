"""customer_features values against the pandas reference, on DuckDB and on Snowflake (fakesnow)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from features_helpers import D, assert_frames_match, events_frame, random_events, reference_features, write_raw_events

from feature_factory.catalog import load_catalog
from feature_factory.features.snapshot_sql import snapshot_plan

NOW = dt.datetime(2024, 6, 1, 12, 0, 0)
FEATURES = load_catalog().computed()
NAMES = [f.name for f in FEATURES]


def compute(warehouse, first: dt.date, last: dt.date, strategy: str = "auto", features=FEATURES):
    plan = snapshot_plan(warehouse.dialect, features, first, last, NOW, strategy=strategy)
    return warehouse.fetch_df(f"SELECT * FROM ({plan.sql}) AS q ORDER BY customer_id, snapshot_date"), plan


def days(first: str, last: str) -> list[dt.date]:
    a, b = D(first), D(last)
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


# Hand-made edge cases around snapshot day 2024-04-30 (window starts: 7d 04-24, 30d 04-01, 90d 02-01).
HAND = [
    ("a", "purchase", "web", 10.0, "2024-04-30"),  # single-event 7d window
    ("a", "purchase", "web", 99.5, "2024-04-01"),  # first day of the 30d window
    ("a", "refund", "mobile", 5.25, "2024-03-31"),  # just outside the 30d window
    ("b", "browse", "mobile", 0.0, "2024-02-01"),  # first day of the 90d window: only 90d counts
    ("b", "purchase", "web", 20.0, "2024-01-31"),  # 90 days before: outside everything
    ("c", "purchase", "web", None, "2024-04-28"),  # missing amount: counted, not summed
    ("c", "refund", "web", None, "2024-04-27"),
    ("d", "browse", "web", 0.0, "2024-04-25"),
    ("d", "purchase", "mobile", 40.0, "2024-04-25"),
    ("d", "purchase", "mobile", 40.0, "2024-04-24"),  # equal amounts: stddev exactly 0 with the zero
    ("e", "purchase", "web", 12.0, "2024-01-15"),  # seen only > 90 days before: no row
    ("f", "purchase", "web", 7.0, "2024-05-02"),  # after the snapshot day: ignored
]


@pytest.mark.parametrize("strategy", ["direct", "window"])
def test_hand_made_edge_cases(warehouse, strategy):
    events = events_frame(HAND)
    write_raw_events(warehouse, events)
    got, _ = compute(warehouse, D("2024-04-30"), D("2024-04-30"), strategy)
    assert got["customer_id"].tolist() == ["a", "b", "c", "d"]
    row = {r["customer_id"]: r for r in got.to_dict("records")}
    assert row["a"]["purchases_7d"] == 1 and pd.isna(row["a"]["amount_stddev_7d"])
    assert row["a"]["max_amount_7d"] == row["a"]["min_amount_7d"] == 10.0
    assert row["a"]["revenue_30d"] == pytest.approx(109.5) and row["a"]["events_30d"] == 2
    assert row["b"]["events_7d"] == 0 and row["b"]["revenue_7d"] == 0.0 and row["b"]["events_90d"] == 1
    assert row["b"]["days_since_last_event"] == 90 - 1
    assert row["c"]["purchases_7d"] == 1 and row["c"]["revenue_7d"] == 0.0 and row["c"]["refunds_7d"] == 1
    assert row["d"]["amount_stddev_7d"] == pytest.approx(23.094010767585033)
    assert_frames_match(got, reference_features(events, [D("2024-04-30")]), NAMES)


RANGE = ("2024-04-20", "2024-05-20")  # quiet days, customers aging out, emptying windows at the end


@pytest.fixture(scope="module")
def random_case():
    events = random_events(seed=11)
    return events, reference_features(events, days(*RANGE))


@pytest.mark.parametrize("strategy", ["direct", "window"])
def test_random_events_match_reference_over_days(warehouse, strategy, random_case):
    events, expected = random_case
    write_raw_events(warehouse, events)
    got, plan = compute(warehouse, D(RANGE[0]), D(RANGE[1]), strategy)
    assert plan.strategy == strategy and plan.read_from == D(RANGE[0]) - dt.timedelta(days=89)
    per_day = expected.groupby("snapshot_date")["customer_id"].nunique()
    assert len(expected) > 300 and per_day.iloc[-1] < per_day.iloc[0]  # some aged out
    assert_frames_match(got, expected, NAMES)


def test_equal_amounts_have_zero_stddev(duckdb_warehouse):
    rows = [("a", "purchase", "web", 40.1, "2024-04-30"), ("a", "purchase", "web", 40.1, "2024-04-29")]
    write_raw_events(duckdb_warehouse, events_frame(rows))
    for strategy in ("direct", "window"):
        got, _ = compute(duckdb_warehouse, D("2024-04-30"), D("2024-04-30"), strategy)
        assert got.loc[0, "amount_stddev_7d"] == 0.0
