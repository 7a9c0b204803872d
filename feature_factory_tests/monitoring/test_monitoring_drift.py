"""Baseline versioning, the no-baseline path, and drift types/severities on hand-made features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from feature_factory import tables
from feature_factory.monitoring.detection import baseline as B
from feature_factory.monitoring.report.alerts import alert_rows, evaluate_day, evaluate_days, write_alerts
from feature_factory.monitoring.detection.drift import Thresholds, Tiers, compare, severity_rank
from feature_factory.monitoring.statistics.feature_stats import MonitoringError, write_feature_stats
from feature_factory.monitoring.statistics.summary import Summary

from .conftest import START, load_features, make_days

D = lambda i: START + dt.timedelta(days=i)  # noqa: E731


def capture(warehouse, features, first=0, last=6):
    return B.capture_baseline(warehouse, D(first), D(last), features)


def day_drift(warehouse, features, i, th=None):
    b = B.current_baseline(warehouse)
    write_feature_stats(warehouse, D(i), D(i), features, b.binning() if b else None)
    return evaluate_day(warehouse, D(i), features, th)


def test_baseline_versions_are_kept_and_exactly_one_is_current(warehouse, features):
    df = make_days(12, customers=150, seed=2)
    load_features(warehouse, df)
    assert B.current_baseline(warehouse) is None
    v1 = capture(warehouse, features, 0, 4)
    v1_rows = warehouse.fetch_all(f"SELECT feature, mean, bin_edges FROM {tables.FEATURE_STATS_BASELINE.name} ORDER BY feature")
    v2 = capture(warehouse, features, 5, 11)
    assert (v1.version, v2.version) == (1, 2)
    assert B.current_baseline(warehouse).version == 2
    rows = warehouse.fetch_all(
        f"SELECT baseline_version, is_current, COUNT(*) FROM {tables.FEATURE_STATS_BASELINE.name} "
        "GROUP BY baseline_version, is_current ORDER BY baseline_version")
    assert rows == [(1, False, 3), (2, True, 3)]
    # v1 was not overwritten.
    assert warehouse.fetch_all(
        f"SELECT feature, mean, bin_edges FROM {tables.FEATURE_STATS_BASELINE.name} WHERE baseline_version = 1 "
        "ORDER BY feature") == v1_rows
    window = df[(df["snapshot_date"] >= D(5)) & (df["snapshot_date"] <= D(11))]
    amount = v2.features["amount"]
    assert (v2.window_start, v2.window_end, v2.days) == (D(5), D(11), 7)
    assert amount.mean == pytest.approx(window["amount"].mean())
    assert amount.rows_per_day == pytest.approx(150)
    assert sum(amount.hist) == amount.value_count == len(window)
    assert len(amount.edges) == 9  # continuous: nine distinct deciles
    visits = v2.features["visits"]
    assert visits.edges == sorted(set(visits.edges)) and len(visits.edges) < 9  # discrete: deduplicated
    assert v2.features["ratio"].null_rate == pytest.approx(window["ratio"].isna().mean())
    x = window["amount"].to_numpy()
    lo, hi = np.quantile(x, [0.01, 0.99])
    assert amount.out_of_range_share == pytest.approx(np.mean((x < lo) | (x > hi)))


def test_window_resolution_and_errors(duckdb_warehouse, features):
    load_features(duckdb_warehouse, make_days(5, customers=20))
    assert B.resolve_window(duckdb_warehouse, None, None, 3) == (D(0), D(2))
    assert B.resolve_window(duckdb_warehouse, str(D(1)), None, 2) == (D(1), D(2))
    assert B.resolve_window(duckdb_warehouse, str(D(1)), str(D(4)), 2) == (D(1), D(4))
    with pytest.raises(ValueError, match="end_date='2024-13-01' is not a date"):
        B.resolve_window(duckdb_warehouse, None, "2024-13-01", 2)
    with pytest.raises(ValueError, match="before its start"):
        B.resolve_window(duckdb_warehouse, str(D(3)), str(D(1)), 2)
    with pytest.raises(MonitoringError, match="no customer_features rows between 2025-01-01"):
        B.capture_baseline(duckdb_warehouse, dt.date(2025, 1, 1), dt.date(2025, 1, 5), features)


def test_no_baseline_says_so_and_writes_an_empty_typed_partition(warehouse, features):
    load_features(warehouse, make_days(2, customers=40))
    report = day_drift(warehouse, features, 1)
    assert report.baseline is None and report.results == []
    assert report.message == "no baseline captured yet — run capture_baseline_job"
    assert write_alerts(warehouse, D(1), []) == 0
    cols = dict(warehouse.columns(tables.DRIFT_ALERTS.name))
    assert cols["alert_date"] == "DATE" and cols["psi"] == "DOUBLE" and cols["severity"] == "VARCHAR"


# One dataset per seed: days 0-6 are the baseline, 7-9 undrifted, and one drift per later day.
DRIFT_DAYS = {10: ({"amount_shift": 0.5}, "amount", "MEAN_SHIFT"),
              11: ({"outliers": 0.02}, "amount", "OUT_OF_RANGE"),
              12: ({"null_rate": 0.10}, "ratio", "NULL_SPIKE")}


@pytest.fixture(scope="module", params=[0, 1])  # more seeds on generated data: test_monitoring_generated
def scenario(request, tmp_path_factory):
    from feature_factory.warehouse import DuckDBWarehouse

    from .conftest import features as features_fixture

    features = features_fixture.__wrapped__()
    wh = DuckDBWarehouse(path=str(tmp_path_factory.mktemp("scenario") / "w.duckdb"))
    load_features(wh, make_days(13, customers=1000, seed=request.param,
                                shift={d: opts for d, (opts, _, _) in DRIFT_DAYS.items()}))
    b = capture(wh, features)
    write_feature_stats(wh, D(7), D(12), features, b.binning())  # one statement over the range
    by_day = {i: evaluate_day(wh, D(i), features) for i in range(7, 13)}
    # The range form (what a backfill run uses) judges every day exactly as the one-day form.
    in_range = evaluate_days(wh, D(7), D(12), features)
    assert [r.day for r in in_range] == [D(i) for i in range(7, 13)]
    for i, report in zip(range(7, 13), in_range):
        assert [(r.feature, r.severity, r.types, r.metrics) for r in report.results] == [
            (r.feature, r.severity, r.types, r.metrics) for r in by_day[i].results], i
        assert report.notes == by_day[i].notes
    return request.param, by_day


def test_quiet_on_undrifted_days(scenario):
    seed, reports = scenario
    for i in (7, 8, 9):
        worst = {r.feature: (r.severity, r.drift_types) for r in reports[i].results if r.severity_rank > 1}
        assert worst == {}, f"seed {seed} day {i}: {worst}"


@pytest.mark.parametrize("day", sorted(DRIFT_DAYS))
def test_injected_drift_alerts_medium_or_above_on_that_feature_only(scenario, day):
    seed, reports = scenario
    _, feature, drift_type = DRIFT_DAYS[day]
    by_feature = {r.feature: r for r in reports[day].results}
    hit = by_feature[feature]
    assert hit.severity_rank >= severity_rank("medium"), (seed, hit.types, hit.metrics)
    assert drift_type in hit.types
    others = {f: r.types for f, r in by_feature.items() if f != feature and r.severity_rank > 1}
    assert others == {}, seed


def test_alert_rows_carry_the_contract_columns(warehouse, features):
    load_features(warehouse, make_days(9, customers=200, seed=4, shift={8: {"amount_shift": 1.0}}))
    capture(warehouse, features)
    report = day_drift(warehouse, features, 8)
    assert write_alerts(warehouse, D(8), alert_rows(report)) == 3
    write_alerts(warehouse, D(8), alert_rows(report))  # idempotent per partition
    rows = warehouse.fetch_df(f"SELECT * FROM {tables.DRIFT_ALERTS.name} ORDER BY feature")
    assert list(rows["feature"]) == ["amount", "ratio", "visits"]
    amount = rows.iloc[0]
    assert amount["baseline_version"] == 1 and amount["severity"] in ("high", "critical")
    assert "MEAN_SHIFT" in amount["drift_types"].split(",")
    assert amount["drift_types"] == ",".join(sorted(amount["drift_types"].split(",")))
    assert amount["mean_shift_std"] == pytest.approx(1.0, abs=0.2)
    assert rows.iloc[2]["drift_types"] == "" and rows.iloc[2]["severity"] == "none"


def test_schema_change_and_stale(duckdb_warehouse, features):
    load_features(duckdb_warehouse, make_days(8, customers=100))
    capture(duckdb_warehouse, features)
    # visits becomes text, ratio disappears, and day 9 has no rows at all.
    duckdb_warehouse.replace_table(
        "customer_features",
        "SELECT customer_id, snapshot_date, amount, CAST(visits AS VARCHAR) AS visits, computed_at "
        "FROM customer_features")
    report = evaluate_day(duckdb_warehouse, D(7), features)
    kinds = {r.feature: (r.drift_types, r.severity) for r in report.results}
    assert kinds["visits"] == ("SCHEMA_CHANGE", "critical") and kinds["ratio"] == ("SCHEMA_CHANGE", "critical")
    assert "type changed: baseline BIGINT, now VARCHAR" in report.results[1].note
    stale = evaluate_day(duckdb_warehouse, D(9), features)
    assert {r.feature: r.drift_types for r in stale.results}["amount"] == "STALE"
    assert stale.max_severity == "critical"


def test_tiers_and_small_samples():
    assert Tiers(0.1, 0.2, 0.3, 0.4).rank(0.25) == 2 and Tiers(0.1, 0.2, 0.3, 0.4).rank(None) == 0
    with pytest.raises(ValueError, match="ascending"):
        Tiers(0.3, 0.2, 0.3, 0.4)
    with pytest.raises(ValueError, match="unknown severity 'severe'"):
        severity_rank("severe")
    base = Summary(row_count=700, value_count=700, mean=0.0, stddev=1.0, days=7,
                   grid=list(np.linspace(-3, 3, 101)))
    # Ten values shifted by a full std: a big effect, but too few values to judge.
    tiny = Summary(row_count=10, value_count=10, mean=1.0, stddev=1.0, grid=list(np.linspace(-2, 4, 101)))
    assert compare("f", tiny, base, Thresholds()).types == {"STALE": "high"}
    assert compare("f", tiny, base, Thresholds(min_values=5, stale_row_share=0.0)).types == {}


def test_each_feature_baseline_starts_where_its_window_is_complete(warehouse, features):
    """Event history from START: a 7-day feature is complete from D(6), a 10-day one from D(9); a
    30-day one never within the window, so it is left out instead of baselining its ramp-up."""
    import dataclasses

    specs = [features[0], dataclasses.replace(features[1], window_days=10),
             dataclasses.replace(features[2], window_days=30)]
    df = make_days(14, customers=50, seed=4)
    load_features(warehouse, df)
    warehouse.execute("CREATE TABLE raw_events AS SELECT CAST(? AS DATE) AS event_date", [str(START)])
    b = B.capture_baseline(warehouse, D(0), D(13), specs)
    assert b.incomplete == {"ratio": D(29)}
    assert sorted(b.features) == ["amount", "visits"]
    rows = dict((f, (s, n)) for f, s, n in warehouse.fetch_all(
        f"SELECT feature, window_start, days FROM {tables.FEATURE_STATS_BASELINE.name} WHERE is_current"))
    assert rows == {"amount": (D(6), 8), "visits": (D(9), 5)}
    visits = df[(df["snapshot_date"] >= D(9))]["visits"]
    assert b.features["visits"].mean == pytest.approx(visits.mean())
    assert (b.window_start, b.window_end, b.days) == (D(6), D(13), 8)
    # The left-out feature is named when drift is evaluated, not silently skipped.
    report = day_drift(warehouse, specs, 13)
    assert {r.feature for r in report.results} == {"amount", "visits"}
    assert any("ratio: its 30-day window is not complete on 2024-01-14" in n for n in report.notes)
    with pytest.raises(MonitoringError, match="no feature is complete anywhere in .*ratio from 2024-01-30"):
        B.capture_baseline(warehouse, D(0), D(4), specs[2:])

    # A recapture with the default window (no dates, no first_n_days) uses the current window, so
    # nothing monitored is dropped; a window ending too early names what it drops.
    window = B.resolve_window(warehouse, None, None, None, b)
    assert window == (D(6), D(13))
    again = B.capture_baseline(warehouse, *window, specs)
    assert sorted(again.features) == ["amount", "visits"] and B.dropped_features(b, again) == {}
    assert B.resolve_window(warehouse, None, None, None, None) == (D(0), D(27))  # no baseline: 28 days
    short = B.capture_baseline(warehouse, D(0), D(7), specs)
    assert B.dropped_features(again, short) == {
        "visits": "its window is first complete on 2024-01-10, after the window's end"}


def test_ramp_up_days_are_not_judged(warehouse, features):
    """With events from START, a 7-day feature's first six days are ramp-up: no alert rows, a note."""
    df = make_days(14, customers=50, seed=6)
    load_features(warehouse, df)
    warehouse.execute("CREATE TABLE raw_events AS SELECT CAST(? AS DATE) AS event_date", [str(START)])
    B.capture_baseline(warehouse, D(0), D(13), features)
    early = day_drift(warehouse, features, 5)
    assert early.results == []
    assert any("amount: its 7-day window is not complete on 2024-01-06 (events start 2024-01-01)" in n
               for n in early.notes)
    assert {r.feature for r in day_drift(warehouse, features, 6).results} == {"amount", "visits", "ratio"}
