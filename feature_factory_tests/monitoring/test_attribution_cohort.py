"""A cohort is named only when it stands out against a like-for-like expectation (issue 28 item 2):
early in a history every customer counts as new in the baseline window, so their ageing into
`returning` is no change."""

from __future__ import annotations

import pytest

from feature_factory.catalog import DType, FeatureSpec, Lifecycle
from feature_factory.monitoring.explain import attribution as A

REVENUE = FeatureSpec(name="revenue_7d", description="r", owner="t", dtype=DType.FLOAT, lifecycle=Lifecycle.ACTIVE,
                      aggregate="x", window_days=7, agg="sum", value_sql="amount", filter_sql="event_type = 'purchase'",
                      source_columns=("amount", "event_type"))
SHIFT = A.Target(REVENUE, "shift")


def _side(segments: dict[tuple[str, str], tuple[int, float]], day_mean: float | None = None) -> dict:
    """segment -> measures from (rows, value per row); every row an event of the feature, each day's
    mean value `day_mean` (the current side's same-day expectation)."""
    same = {} if day_mean is None else {A.SAME_DAY: 0.0}
    return {key: {A.EVENTS: rows, A.ROWS: rows, A.MASS: rows * per_row, A.SQUARES: rows * per_row ** 2,
                  A.MISSING: 0.0, **({A.SAME_DAY: rows * day_mean} if same else {})}
            for key, (rows, per_row) in segments.items()}


# A young history: 14 baseline days in which every customer was new (100 purchases of 10.0 a day).
BASE = _side({("cohort", "new"): (1400, 10.0), ("channel", "web"): (700, 10.0), ("channel", "mobile"): (700, 10.0)})


def test_a_uniform_inflation_in_a_young_history_names_no_segment():
    # 7 days later 60% of the rows are returning customers' and every purchase is 10% dearer.
    segments = {("cohort", "new"): (280, 11.0), ("cohort", "returning"): (420, 11.0),
                ("channel", "web"): (350, 11.0), ("channel", "mobile"): (350, 11.0)}
    assert A.contributors(SHIFT, _side(segments, day_mean=11.0), BASE, 14) == []
    # Without the same-day means (a side read by an older caller), the baseline rate alone decides.
    assert A.contributors(SHIFT, _side(segments), BASE, 14) == []


def test_a_gradual_inflation_whose_returning_rows_sit_on_later_days_names_no_cohort():
    # Returning customers' rows are on the later, dearer days (12.0 against 10.5 for the new ones'
    # days): against its baseline rate returning carries most of the change, against the mean of
    # its own days nothing (each row is its day's mean).
    now = _side({("cohort", "new"): (2800, 10.5), ("cohort", "returning"): (4200, 12.0)})
    for key, day_mean in ((("cohort", "new"), 10.5), (("cohort", "returning"), 12.0)):
        now[key][A.SAME_DAY] = now[key][A.ROWS] * day_mean
    assert A.contributors(SHIFT, now, BASE, 14) == []
    del now[("cohort", "new")][A.SAME_DAY], now[("cohort", "returning")][A.SAME_DAY]
    assert [c["value"] for c in A.contributors(SHIFT, now, BASE, 14)] == ["returning"]


def test_a_cohort_that_changed_is_named_against_its_like_for_like_expectation():
    # Returning customers pay 50% more per purchase, new ones the same: returning carries the change.
    now = _side({("cohort", "new"): (280, 10.0), ("cohort", "returning"): (420, 15.0),
                 ("channel", "web"): (350, 13.0), ("channel", "mobile"): (350, 13.0)}, day_mean=13.0)
    got = A.contributors(SHIFT, now, BASE, 14)
    assert [(c["dimension"], c["value"], c["share"], c["expected"]) for c in got] == [("cohort", "returning", 1.0, 0.6)]
    # Its own baseline rate counts once the baseline holds its rows: returning customers who always
    # paid 15.0 carry no change.
    base = _side({("cohort", "new"): (700, 10.0), ("cohort", "returning"): (700, 15.0),
                  ("channel", "web"): (700, 12.5), ("channel", "mobile"): (700, 12.5)})
    assert [c for c in A.contributors(SHIFT, now, base, 14) if c["dimension"] == "cohort"] == []


def test_a_cohort_the_baseline_barely_holds_takes_the_overall_rate():
    assert A._rate(0.0, 0.0, 10.0) == 10.0
    assert A._rate(150.0, 10.0, 10.0) == (150.0 + A.PRIOR_ROWS * 10.0) / (10.0 + A.PRIOR_ROWS)


PURCHASES = FeatureSpec(name="purchases_7d", description="p", owner="t", dtype=DType.INT, lifecycle=Lifecycle.ACTIVE,
                        aggregate="x", window_days=7, agg="count", filter_sql="event_type = 'purchase'",
                        source_columns=("event_type",))
COUNT = A.Target(PURCHASES, "shift")


def _count_side(segments: dict[tuple[str, str], tuple[int, float]], current: bool = False) -> dict:
    """segment -> a count's measures from (events, share of them that are purchases); the current
    side's events are those inside the window (`carry`), each day at its own purchase share (the
    same-day expectation, one day-mix for every segment)."""
    out = {}
    for key, (events, rate) in segments.items():
        rows = events * rate
        out[key] = {A.EVENTS: events, A.ROWS: rows, A.MASS: rows, A.SQUARES: rows, A.MISSING: 0.0}
        if current:
            out[key] |= {A.CARRY: events, A.SAME_DAY: rows}
    return out


# A young history: 14 baseline days of new customers only, 20% of their 1,000 events a day purchases.
COUNT_BASE = _count_side({("cohort", "new"): (14000, 0.2), ("channel", "web"): (7000, 0.2),
                          ("channel", "mobile"): (7000, 0.2)})


def test_a_uniform_rise_of_a_count_in_a_young_history_names_no_cohort():
    # 7 days later 60% of the events are returning customers' and every customer buys 30% more often.
    now = _count_side({("cohort", "new"): (2800, 0.26), ("cohort", "returning"): (4200, 0.26),
                       ("channel", "web"): (3500, 0.26), ("channel", "mobile"): (3500, 0.26)}, current=True)
    assert A.contributors(COUNT, now, COUNT_BASE, 14) == []
    # Against its baseline mass (the old expectation) returning would carry all of the rise: its
    # mass per day went from 0 to 0.26 x 600 while new's fell from 200 to 0.26 x 400.
    old = [(v, now[("cohort", v)][A.MASS] / 7 - COUNT_BASE.get(("cohort", v), {A.MASS: 0.0})[A.MASS] / 14)
           for v in ("new", "returning")]
    assert old == [("new", 104 - 200), ("returning", 156 - 0)]


def test_a_count_rise_in_one_cohort_names_that_cohort():
    # Only returning customers buy more often (30% of their events against 20%): it carries the rise.
    now = _count_side({("cohort", "new"): (2800, 0.2), ("cohort", "returning"): (4200, 0.3),
                       ("channel", "web"): (3500, 0.26), ("channel", "mobile"): (3500, 0.26)}, current=True)
    # The days' purchase share is 0.26 for everyone: new is below its days, returning above them.
    now[("cohort", "new")][A.SAME_DAY] = 2800 * 0.26
    now[("cohort", "returning")][A.SAME_DAY] = 4200 * 0.26
    got = A.contributors(COUNT, now, COUNT_BASE, 14)
    assert [(c["dimension"], c["value"], c["share"], c["expected"]) for c in got] == [("cohort", "returning", 1.0, 0.6)]
    assert got[0]["delta"] == pytest.approx(4200 * (0.3 - 0.2), abs=1e-3)
