"""feature_stats SQL against a plain pandas computation on the same rows, on both backends."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from feature_factory.monitoring.detection import metrics as M
from feature_factory.monitoring.statistics.feature_stats import Binning, MonitoringError, stats_select_sql, write_feature_stats
from feature_factory.monitoring.statistics.summary import QUANTILE_COLUMNS, Summary

from .conftest import START, load_features, make_days


def test_stats_match_pandas_on_both_backends(warehouse, features):
    df = make_days(4, customers=120, seed=3)
    df.loc[df.index % 7 == 0, "visits"] = 0
    load_features(warehouse, df)
    edges = {"amount": [40.0, 50.0, 60.0], "visits": [0.0, 2.0, 3.0, 5.0], "ratio": [0.1, 0.3]}
    ranges = {"amount": (35.0, 65.0), "visits": (0.0, 7.0), "ratio": (0.02, 0.7)}
    binning = Binning(version=7, edges=edges, ranges=ranges)
    day1, day3 = START + dt.timedelta(days=1), START + dt.timedelta(days=3)
    n = write_feature_stats(warehouse, day1, day3, features, binning, grid_size=20)
    assert n == 3 * len(features)
    # Rerunning the same range replaces it (idempotent), and a day outside it is not touched.
    write_feature_stats(warehouse, day1, day3, features, binning, grid_size=20)
    stats = warehouse.fetch_df("SELECT * FROM feature_stats ORDER BY feature, stats_date")
    assert len(stats) == 9 and set(stats["baseline_version"]) == {7}

    for row in stats.to_dict("records"):
        f, day = row["feature"], pd.Timestamp(row["stats_date"]).date()
        values = df.loc[df["snapshot_date"] == day, f]
        x = values.dropna().to_numpy(dtype=float)
        s = Summary.from_row(row)
        assert s.row_count == len(values) and s.value_count == len(x)
        assert s.null_rate == pytest.approx(values.isna().mean(), abs=1e-12)
        assert row["zero_rate"] == pytest.approx(np.mean(x == 0))
        assert s.mean == pytest.approx(x.mean(), rel=1e-9)
        assert s.stddev == pytest.approx(x.std(ddof=1), rel=1e-9)
        assert s.kurtosis == pytest.approx(pd.Series(x).kurt(), rel=1e-6)
        assert (s.min_value, s.max_value) == pytest.approx((x.min(), x.max()))
        for name, q in QUANTILE_COLUMNS.items():
            assert s.quantiles[name] == pytest.approx(np.quantile(x, q), rel=1e-9), (f, name)
        assert s.distinct_count == len(np.unique(x))
        assert s.hist == M.bucketize(x, edges[f]).tolist()
        lo, hi = ranges[f]
        assert s.out_of_range_count == int(np.sum((x < lo) | (x > hi)))
        assert s.grid == pytest.approx(M.quantile_grid(x, 20).tolist(), rel=1e-12)


def test_stats_without_baseline_leave_histograms_empty(warehouse, features):
    load_features(warehouse, make_days(1, customers=50))
    write_feature_stats(warehouse, START, START, features)
    rows = warehouse.fetch_all("SELECT hist_counts, out_of_range_count, baseline_version FROM feature_stats")
    assert rows == [(None, None, None)] * 3


def test_stats_grid_handles_fewer_values_than_grid_points(duckdb_warehouse, features):
    df = make_days(1, customers=7, seed=1)
    load_features(duckdb_warehouse, df)
    write_feature_stats(duckdb_warehouse, START, START, features, grid_size=100)
    grid = Summary.from_row(duckdb_warehouse.fetch_df(
        "SELECT * FROM feature_stats WHERE feature = 'amount'").iloc[0]).grid
    assert grid == M.quantile_grid(df["amount"], 100).tolist()


@pytest.mark.parametrize("grid_size", [7, 100])
def test_grid_list_aggregate_equals_ranked_rows(duckdb_warehouse, features, monkeypatch, grid_size):
    """DuckDB's one-aggregate grid and the portable ROW_NUMBER grid are the same order statistics,
    ties and NULLs included, for a grid size that is no power-of-ten fraction."""
    df = make_days(2, customers=311, seed=5)
    df.loc[df.index % 3 == 0, "visits"] = 2  # ties
    load_features(duckdb_warehouse, df)

    def grids() -> dict:
        write_feature_stats(duckdb_warehouse, START, START + dt.timedelta(days=1), features, grid_size=grid_size)
        rows = duckdb_warehouse.fetch_df("SELECT * FROM feature_stats ORDER BY feature, stats_date")
        return {(r["feature"], str(r["stats_date"])): Summary.from_row(r).grid for r in rows.to_dict("records")}

    listed = grids()
    # The dialect's (the warehouse's quantile_grid delegates to it; the sketch builders take the dialect).
    monkeypatch.setattr(type(duckdb_warehouse.dialect), "quantile_grid", lambda self, expr, m: None)
    ranked = grids()
    assert listed == ranked and len(listed) == 6
    for (f, day), grid in listed.items():
        values = df.loc[df["snapshot_date"] == pd.Timestamp(day).date(), f]
        assert grid == M.quantile_grid(values, grid_size).tolist(), (f, day)


def test_stats_read_features_through_the_patch_layer(duckdb_warehouse, features, monkeypatch):
    load_features(duckdb_warehouse, make_days(1, customers=200))
    monkeypatch.setattr(
        "feature_factory.features.patch_layer.patched_expressions",
        lambda wh, specs, qualifier=None, table=None: {s.name: ("LEAST(amount, 55.0)" if s.name == "amount" else s.name)
                                           for s in specs})
    write_feature_stats(duckdb_warehouse, START, START, features)
    assert duckdb_warehouse.fetch_one("SELECT max_value FROM feature_stats WHERE feature = 'amount'")[0] == 55.0


def test_input_null_counts_follow_each_features_value_and_filter(warehouse):
    from feature_factory.catalog import DType, FeatureSpec, Lifecycle

    rev = FeatureSpec(name="revenue_7d", description="", owner="t", dtype=DType.FLOAT,
                      lifecycle=Lifecycle.ACTIVE, aggregate="SUM(amount)", window_days=7,
                      source_columns=("amount", "event_type"), value_sql="amount",
                      filter_sql="event_type = 'purchase'")
    cnt = FeatureSpec(name="events_7d", description="", owner="t", dtype=DType.INT,
                      lifecycle=Lifecycle.ACTIVE, aggregate="COUNT(*)", window_days=7)
    load_features(warehouse, make_days(2, customers=10).rename(columns={"amount": "revenue_7d",
                                                                         "visits": "events_7d"}))
    events = pd.DataFrame({
        "event_type": ["purchase", "purchase", "purchase", "browse", "purchase", "purchase"],
        "amount": [10.0, None, None, None, 5.0, None],
        "event_date": [str(START)] * 4 + [str(START + dt.timedelta(days=1))] * 2,
    })
    warehouse.write_df("raw_in", events, mode="replace")
    warehouse.replace_table("raw_events", "SELECT event_type, amount, CAST(event_date AS DATE) AS event_date "
                                          "FROM raw_in")
    write_feature_stats(warehouse, START, START + dt.timedelta(days=1), [rev, cnt])
    rows = warehouse.fetch_all("SELECT feature, stats_date, input_rows, input_nulls FROM feature_stats "
                               "ORDER BY feature, stats_date")
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("events_7d", None, None), ("events_7d", None, None),  # counts have no value to miss
        ("revenue_7d", 3, 2), ("revenue_7d", 2, 1),  # the browse row is not one revenue reads
    ]


def test_missing_features_table_is_a_clear_error(duckdb_warehouse, features):
    with pytest.raises(MonitoringError, match="customer_features does not exist.*materialize"):
        write_feature_stats(duckdb_warehouse, START, START, features)


def test_missing_inputs_are_blanks_the_feature_would_have_read(warehouse):
    """Issue 13, cases 2 and 3: a blank amount on a row the `where` would have kept but for the
    value itself is a missing input (`amount > 0`: every non-browse blank); a blank browse amount
    (the contract expects none) is not, not even for a feature that reads every amount."""
    from feature_factory.catalog import DType, FeatureSpec, Lifecycle

    def spec(name, agg, where):
        return FeatureSpec(name=name, description="", owner="t", dtype=DType.FLOAT, lifecycle=Lifecycle.ACTIVE,
                           aggregate=agg, window_days=7, source_columns=("amount", "event_type"),
                           value_sql="amount", filter_sql=where)

    nonzero, top = spec("revenue_7d", "AVG(amount)", "amount > 0"), spec("events_7d", "MAX(amount)", None)
    load_features(warehouse, make_days(1, customers=10).rename(columns={"amount": "revenue_7d",
                                                                         "visits": "events_7d"}))
    events = pd.DataFrame({
        "event_type": ["purchase", "purchase", "purchase", "refund", "browse", "browse", "browse", "purchase"],
        "amount": [10.0, None, 0.0, None, None, None, 0.0, 4.0],
        "event_date": [str(START)] * 8,
    })
    warehouse.write_df("raw_in", events, mode="replace")
    warehouse.replace_table("raw_events", "SELECT event_type, amount, CAST(event_date AS DATE) AS event_date "
                                          "FROM raw_in")
    write_feature_stats(warehouse, START, START, [nonzero, top])
    rows = dict((r[0], (r[1], r[2])) for r in warehouse.fetch_all(
        "SELECT feature, input_rows, input_nulls FROM feature_stats ORDER BY feature"))
    # amount > 0: read 10 and 4, might have read the purchase's and the refund's blanks.
    assert rows["revenue_7d"] == (4, 2)
    # MAX over every amount: four values read, two blanks missing, the browse blanks not.
    assert rows["events_7d"] == (6, 2)


def test_sketch_keeps_exact_moments_and_bounds_the_grid_on_both_backends(warehouse, features):
    """Sketch mode (stats.py): counts, moments and histograms stay exact; grid and quantiles come
    from a deterministic ~sketch_rows row sample whose ranks are within the stored DKW bound; the
    distinct count is HyperLogLog's; a re-run samples the same rows."""
    from feature_factory.monitoring.statistics.feature_stats import SKETCH_ALPHA

    df = make_days(2, customers=6000, seed=4)
    load_features(warehouse, df)
    binning = Binning(version=1, edges={"amount": [40.0, 50.0, 60.0]}, ranges={"amount": (35.0, 65.0)})
    day = START + dt.timedelta(days=1)
    write_feature_stats(warehouse, START, day, features, binning, grid_size=50, sketch_rows=1500)
    first = warehouse.fetch_df("SELECT * FROM feature_stats ORDER BY feature, stats_date")
    write_feature_stats(warehouse, START, day, features, binning, grid_size=50, sketch_rows=1500)
    again = warehouse.fetch_df("SELECT * FROM feature_stats ORDER BY feature, stats_date")
    assert list(again["quantile_grid"]) == list(first["quantile_grid"])  # the same sampled rows
    for row in again.to_dict("records"):
        f, d = row["feature"], pd.Timestamp(row["stats_date"]).date()
        x = df.loc[df["snapshot_date"] == d, f].dropna().to_numpy(dtype=float)
        s = Summary.from_row(row)
        assert s.value_count == len(x) and s.mean == pytest.approx(x.mean(), rel=1e-9)
        assert s.stddev == pytest.approx(x.std(ddof=1), rel=1e-9)
        if f == "amount":
            assert s.hist == M.bucketize(x, [40.0, 50.0, 60.0]).tolist()
        # About 1,500 of the day's 6,000 rows sampled: eps is the DKW bound for that many values.
        eps = s.grid_rank_error
        k = np.log(2 / SKETCH_ALPHA) / (2 * eps ** 2)
        assert 0.7 * 1500 * len(x) / 6000 < k < 1.3 * 1500 * len(x) / 6000 and 0.04 < eps < 0.06
        # Each grid point q_k is a quantile of the day's values at a rank within eps of k/m:
        # F(q_k) >= k/m - eps and F(q_k-) <= k/m + eps (ties included).
        xs, targets = np.sort(x), np.arange(51) / 50
        at_or_below = np.searchsorted(xs, s.grid, side="right") / len(x)
        below = np.searchsorted(xs, s.grid, side="left") / len(x)
        assert np.all(at_or_below >= targets - eps) and np.all(below <= targets + eps), f
        assert abs(s.quantiles["p50"] - np.quantile(x, 0.5)) <= np.quantile(x, 0.5 + eps) - np.quantile(x, 0.5 - eps)
        assert s.distinct_count == pytest.approx(len(np.unique(x)), rel=0.1)
        # KS against the exact grid stays within the stated bound.
        exact = M.quantile_grid(x, 50).tolist()
        assert M.ks_from_grids(s.grid, exact) <= M.ks_error_bound(s.grid, exact, (eps, 0.0))


def test_sketch_rows_below_the_floor_is_refused(duckdb_warehouse, features):
    load_features(duckdb_warehouse, make_days(1, customers=50))
    with pytest.raises(ValueError, match="sketch_rows=10 must be at least 1000"):
        write_feature_stats(duckdb_warehouse, START, START, features, sketch_rows=10)


def _sketch_frame(days: int, customers: int, seed: int) -> pd.DataFrame:
    """make_days plus the cases the sketch's power sums must survive: a large offset (mean 1e6,
    std 1: cancellation), a constant column (no spread) and zeros."""
    df = make_days(days, customers=customers, seed=seed)
    rng = np.random.default_rng(seed)
    df["visits"] = df["visits"].where(df.index % 5 != 0, 0)
    df.insert(5, "shifted", 1e6 + rng.normal(0.0, 1.0, len(df)))
    df.insert(6, "flat", 7.5)
    return df


@pytest.mark.parametrize("by_day", [True, False])
def test_sketch_exact_statistics_equal_the_exact_modes_on_both_backends(warehouse, features, by_day):
    """Sketch mode (sketch.py) keeps every statistic except the grid, p01..p99 and the distinct
    count exact: counts, null and zero rates, mean, stddev, kurtosis, min/max, histogram and tail
    counts equal the exact statement's, per day and pooled over the window."""
    from .conftest import spec

    specs = [*features, spec("shifted"), spec("flat")]
    load_features(warehouse, _sketch_frame(3, customers=4000, seed=8))
    binning = Binning(version=2, edges={"amount": [40.0, 50.0, 60.0], "visits": [0.0, 2.0, 3.0, 5.0],
                                        "shifted": [999999.0, 1e6, 1000001.0], "flat": [7.5]},
                      ranges={"amount": (35.0, 65.0), "visits": (0.0, 7.0), "shifted": (999998.0, 1000002.0),
                              "flat": (7.5, 7.5)})
    exprs = {s.name: s.name for s in specs}
    last = START + dt.timedelta(days=2)
    key = ["feature", "stats_date"] if by_day else ["feature"]

    def run(sketch_rows):
        sql = stats_select_sql(warehouse.dialect, exprs, START, last, by_day=by_day, binning=binning, grid_size=20,
                               sketch_rows=sketch_rows)
        return warehouse.fetch_df(sql).sort_values(key).reset_index(drop=True)

    exact, sketch = run(None), run(1000)
    assert len(exact) == len(sketch) == len(specs) * (3 if by_day else 1)
    assert sketch["grid_rank_error"].gt(0).all() and exact["grid_rank_error"].eq(0).all()
    for e, s in zip(exact.to_dict("records"), sketch.to_dict("records")):
        where = (e["feature"], e.get("stats_date"))
        for col in ("row_count", "value_count", "null_count", "min_value", "max_value",
                    "out_of_range_count", "above_range_count"):
            assert s[col] == e[col], (where, col)
        assert Summary.from_row(s).hist == Summary.from_row(e).hist, where  # (Snowflake's exact SUMs print as 1.0)
        for col in ("null_rate", "zero_rate", "mean"):
            assert s[col] == pytest.approx(e[col], rel=1e-12, abs=1e-12), (where, col)
        assert s["stddev"] == pytest.approx(e["stddev"], rel=1e-9, abs=1e-9), where
        if e["kurtosis"] is None or pd.isna(e["kurtosis"]):  # the constant column has no kurtosis
            assert pd.isna(s["kurtosis"]), where
        else:
            assert s["kurtosis"] == pytest.approx(e["kurtosis"], rel=1e-6), where


def test_sketch_baseline_capture_merges_the_windows_moments_exactly(warehouse, features):
    """A sketch capture takes the window's moments from the by-day pass's merged power sums (one
    full scan), not from a second scan: they equal an exact capture's on both backends, and the
    frozen bins (from the sample's grid) are deciles of the window within the rank error."""
    from feature_factory.monitoring.detection.baseline import capture_baseline
    from feature_factory.monitoring.statistics.feature_stats import SKETCH_ALPHA

    df = _sketch_frame(4, customers=3000, seed=9)
    load_features(warehouse, df)
    last = START + dt.timedelta(days=3)
    exact = capture_baseline(warehouse, START, last, features).features
    sketch = capture_baseline(warehouse, START, last, features, sketch_rows=2000).features
    for f, e in exact.items():
        s = sketch[f]
        x = df[f].dropna().to_numpy(dtype=float)
        assert (s.row_count, s.value_count, s.days) == (e.row_count, e.value_count, e.days) == (len(df), len(x), 4)
        assert s.mean == pytest.approx(e.mean, rel=1e-12) and s.stddev == pytest.approx(e.stddev, rel=1e-9)
        assert s.kurtosis == pytest.approx(e.kurtosis, rel=1e-6)
        assert (s.zero_rate, s.min_value, s.max_value) == pytest.approx((e.zero_rate, e.min_value, e.max_value))
        assert s.hist == M.bucketize(x, s.edges).tolist() and sum(s.hist) == len(x)
        # About 2,000 of the window's 12,000 rows sampled (pooled): the DKW eps of that many values.
        assert e.grid_rank_error == 0.0
        assert s.grid_rank_error == pytest.approx(
            np.sqrt(np.log(2 / SKETCH_ALPHA) / (2 * s.value_count * 2000 / 12000)), rel=0.15)
        ranks = np.searchsorted(np.sort(x), s.edges, side="right") / len(x)
        exact_ranks = np.searchsorted(np.sort(x), e.edges, side="right") / len(x)
        if len(s.edges) == len(e.edges):
            assert np.all(np.abs(ranks - exact_ranks) <= 2 * s.grid_rank_error + 0.02), f


def test_older_days_of_a_range_take_the_sketch_and_the_last_day_stays_exact(duckdb_warehouse, features):
    """`older_sketch_rows` (StatsConfig.range_sketch_rows): a backfill's history is sketched, the
    last day (the one a daily run alerts on) keeps the exact statistics."""
    df = make_days(3, customers=3000, seed=6)
    load_features(duckdb_warehouse, df)
    last = START + dt.timedelta(days=2)
    n = write_feature_stats(duckdb_warehouse, START, last, features, grid_size=20, older_sketch_rows=1000)
    assert n == 3 * len(features)
    rows = duckdb_warehouse.fetch_df("SELECT * FROM feature_stats ORDER BY feature, stats_date").to_dict("records")
    for r in rows:
        day = pd.Timestamp(r["stats_date"]).date()
        x = df.loc[df["snapshot_date"] == day, r["feature"]].dropna().to_numpy(dtype=float)
        s = Summary.from_row(r)
        assert s.value_count == len(x) and s.mean == pytest.approx(x.mean(), rel=1e-9)
        if day == last:
            assert s.grid_rank_error == 0.0 and s.grid == pytest.approx(M.quantile_grid(x, 20).tolist())
            assert s.distinct_count == len(np.unique(x))
        else:  # about 1,000 of the day's 3,000 rows sampled
            assert 0.04 < s.grid_rank_error < 0.08


def test_sketch_grid_from_ranked_sample_equals_the_listed_one(duckdb_warehouse, features, monkeypatch):
    """The sketch's grid is the same order statistics of the same sampled rows whether DuckDB's
    list aggregate picks them or the portable ROW_NUMBER path (Snowflake's) ranks the sample."""
    load_features(duckdb_warehouse, make_days(2, customers=5000, seed=12))

    def grids() -> dict:
        write_feature_stats(duckdb_warehouse, START, START + dt.timedelta(days=1), features, grid_size=30,
                            sketch_rows=1200)
        rows = duckdb_warehouse.fetch_df("SELECT * FROM feature_stats ORDER BY feature, stats_date")
        return {(r["feature"], str(r["stats_date"])): (Summary.from_row(r).grid, r["grid_rank_error"])
                for r in rows.to_dict("records")}

    listed = grids()
    # The dialect's (the warehouse's quantile_grid delegates to it; the sketch builders take the dialect).
    monkeypatch.setattr(type(duckdb_warehouse.dialect), "quantile_grid", lambda self, expr, m: None)
    ranked = grids()
    assert listed == ranked and len(listed) == 6 and all(eps > 0 for _, eps in listed.values())
