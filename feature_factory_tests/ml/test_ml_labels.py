"""churn_labels: eligibility, outcome window edges, complete-window rule, and equality with a
pandas reference, on both backends."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from ml_helpers import d, make_raw_events

from feature_factory.ml.labels import LabelError, build_labels, plan_label_dates

L = "2024-04-01"


def day(offset: int) -> str:
    return (d(L) + dt.timedelta(days=offset)).isoformat()


def test_label_semantics_at_the_edges(warehouse):
    make_raw_events(warehouse, [
        ("c1", "browse", day(-5), None), ("c1", "purchase", day(3), 10.0),       # active, buys
        ("c2", "purchase", day(-10), 5.0), ("c2", "purchase", day(30), 5.0),    # buys after window
        ("c3", "purchase", day(-91), 5.0), ("c3", "purchase", day(2), 5.0),     # outside lookback
        ("c4", "purchase", day(0), 5.0),                                         # first seen on L
        ("c5", "browse", day(-1), None), ("c5", "refund", day(1), 3.0),         # refund only
        ("c6", "browse", day(-90), None), ("c6", "purchase", day(29), None),    # both edges inside
        ("c7", "browse", day(40), None),                                         # extends data
    ])
    summary = build_labels(warehouse, label_dates=[L, day(20)], horizon_days=30, lookback_days=90)
    got = warehouse.fetch_df("SELECT customer_id, churned, outcome_purchases FROM churn_labels "
                             "ORDER BY customer_id")
    assert got["customer_id"].tolist() == ["c1", "c2", "c5", "c6"]
    assert got["churned"].tolist() == [0, 1, 1, 0]
    assert got["outcome_purchases"].tolist() == [1, 0, 0, 1]
    # day(20) + 29 = day(49) > last event day(40): incomplete window, skipped with a reason.
    assert summary.plan.dates == [d(L)]
    assert "not complete" in summary.plan.skipped[day(20)]
    assert summary.per_date == [(d(L), 4, 2)] and summary.churn_rate == 0.5


def test_rebuild_replaces_not_appends(warehouse):
    make_raw_events(warehouse, [("c1", "browse", day(-1), None), ("c1", "browse", day(40), None)])
    build_labels(warehouse, label_dates=[L])
    build_labels(warehouse, label_dates=[L])
    assert warehouse.row_count("churn_labels") == 1


def _reference(events: pd.DataFrame, dates, horizon, lookback) -> pd.DataFrame:
    out = []
    for L_ in dates:
        window = events[(events.event_date >= L_ - dt.timedelta(days=lookback)) & (events.event_date < L_)]
        outcome = events[(events.event_date >= L_) & (events.event_date < L_ + dt.timedelta(days=horizon))
                         & (events.event_type == "purchase")]
        for c in sorted(window.customer_id.unique()):
            out.append((c, L_, int((outcome.customer_id == c).sum() == 0)))
    return pd.DataFrame(out, columns=["customer_id", "label_date", "churned"])


def test_matches_pandas_reference(warehouse):
    rng = np.random.default_rng(7)
    start = d("2024-01-01")
    rows = [(f"c{rng.integers(0, 25):02d}", str(rng.choice(["purchase", "browse", "refund"])),
             (start + dt.timedelta(days=int(rng.integers(0, 120)))).isoformat(), 1.0) for _ in range(400)]
    make_raw_events(warehouse, rows)
    summary = build_labels(warehouse, every_days=9, horizon_days=21, lookback_days=30, min_history_days=20)
    events = pd.DataFrame(rows, columns=["customer_id", "event_type", "event_date", "amount"])
    events["event_date"] = pd.to_datetime(events["event_date"]).dt.date
    expected = _reference(events, summary.plan.dates, 21, 30)
    got = warehouse.fetch_df("SELECT customer_id, label_date, churned FROM churn_labels")
    got["label_date"] = pd.to_datetime(got["label_date"]).dt.date
    got = got.sort_values(["label_date", "customer_id"]).reset_index(drop=True)
    expected = expected.sort_values(["label_date", "customer_id"]).reset_index(drop=True)
    assert len(summary.plan.dates) >= 8
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # Generated dates step back from the last complete date, so the newest possible one is labelled.
    assert summary.plan.dates[-1] == events.event_date.max() - dt.timedelta(days=20)


def test_plan_rejects_bad_inputs():
    first, last = d("2024-01-01"), d("2024-02-15")
    with pytest.raises(LabelError, match="none of the label dates can be labelled"):
        plan_label_dates(first_event_date=first, last_event_date=last, label_dates=["2024-02-01"], horizon_days=30)
    with pytest.raises(LabelError, match="not a date"):
        plan_label_dates(first_event_date=first, last_event_date=last, label_dates=["02/01/2024"])
    with pytest.raises(LabelError, match="horizon_days"):
        plan_label_dates(first_event_date=first, last_event_date=last, horizon_days=0)
    with pytest.raises(LabelError, match="no label dates between"):
        plan_label_dates(first_event_date=first, last_event_date=last, min_history_days=40, horizon_days=30)


def test_missing_or_empty_events_are_clear(duckdb_warehouse):
    with pytest.raises(LabelError, match="raw_events does not exist"):
        build_labels(duckdb_warehouse)
    make_raw_events(duckdb_warehouse, [("c1", "browse", L, None)])
    duckdb_warehouse.execute("DELETE FROM raw_events")
    with pytest.raises(LabelError, match="raw_events is empty"):
        build_labels(duckdb_warehouse)


def test_min_tenure_starts_labels_after_the_acquisition_period(warehouse):
    make_raw_events(warehouse, [
        ("old", "purchase", day(-60), 5.0), ("old", "purchase", day(-3), 5.0),   # tenure 60 days
        ("new", "purchase", day(-10), 5.0),                                      # acquired 10 days ago
        ("edge", "purchase", day(-30), 5.0),                                     # exactly 30 days
        ("x", "browse", day(40), None),
    ])
    build_labels(warehouse, label_dates=[L], horizon_days=30, lookback_days=90)
    assert warehouse.fetch_df("SELECT customer_id FROM churn_labels ORDER BY customer_id")[
        "customer_id"].tolist() == ["edge", "new", "old"]
    build_labels(warehouse, label_dates=[L], horizon_days=30, lookback_days=90, min_tenure_days=30)
    assert warehouse.fetch_df("SELECT customer_id, churned FROM churn_labels ORDER BY customer_id").values.tolist() == [
        ["edge", 1], ["old", 1]]
    with pytest.raises(LabelError, match="min_tenure_days must be >= 0"):
        build_labels(warehouse, label_dates=[L], min_tenure_days=-1)
