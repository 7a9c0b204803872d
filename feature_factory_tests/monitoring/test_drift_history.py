"""Drift that fits a real history (issue 26 item 4): STALE only for an incomplete feed, a named
slow trend, a loud baseline window that trends, a composition shift on a short day (pure)."""

import datetime as dt
import math

import numpy as np
import pytest

from feature_factory.monitoring.detection import baseline_window as W
from feature_factory.monitoring.explain import diagnosis as D
from feature_factory.monitoring.detection import volume_trend as V
from feature_factory.monitoring.detection.drift import Thresholds, compare
from feature_factory.monitoring.statistics.feed import FeedDay, feed_day
from feature_factory.monitoring.statistics.summary import Summary

DAY0 = dt.date(1997, 7, 1)
RNG = np.random.default_rng(26)


def days(n, start=DAY0):
    return [start + dt.timedelta(days=i) for i in range(n)]


def summary(values, days_=1):
    v = np.asarray(values, dtype=float)
    return Summary(row_count=len(v), value_count=len(v), mean=float(v.mean()), stddev=float(v.std(ddof=1)),
                   zero_rate=float((v == 0).mean()), days=days_,
                   grid=list(np.quantile(v, np.linspace(0, 1, 101))))


# A baseline of a count feature: 14,092 rows per day over 28 days (the numbers).
BASE = summary(RNG.poisson(1.0, 14092 * 28), days_=28)


def test_an_ageing_cohort_with_a_complete_feed_is_not_stale():
    # The snapshot population fell to 5,309 rows (customers ageing out), every file landed.
    landed = {d: 400 + int(RNG.integers(-20, 20)) for d in days(60)}
    feed = feed_day(days(60)[-1], landed)
    assert feed.expected == pytest.approx(400, abs=25) and not feed.short()
    day = summary(RNG.poisson(1.0, 5309))
    assert "STALE" not in compare("purchases_30d", day, BASE, Thresholds(), feed=feed).types
    # Without landed counts (no raw table) the old snapshot rule is all there is: it fires.
    assert compare("purchases_30d", day, BASE, Thresholds()).types.get("STALE") == "high"


def test_a_day_with_half_its_files_missing_is_stale_and_diagnosed_as_the_feed():
    landed = {d: 1000 + int(RNG.integers(-30, 30)) for d in days(40)}
    last = days(40)[-1]
    landed[last] = 500  # two of four files
    files = {d: 4 for d in landed} | {last: 2}
    feed = feed_day(last, landed, files=files)
    assert feed.short() and feed.ratio == pytest.approx(0.5, abs=0.03) and feed.expected_files == 4
    day = summary(RNG.poisson(0.98, 14000))  # half of one day of a 30-day window
    result = compare("purchases_30d", day, BASE, Thresholds(), feed=feed)
    assert result.types["STALE"] == "high" and "500 rows landed" in result.note and "2 landing file(s) vs 4" in result.note
    assert D.preliminary(result.types, result.metrics, day, BASE, [])[0] == "volume_or_staleness"
    # A whole day missing: nothing landed at all.
    assert feed_day(last, {**landed, last: 0}, files=files | {last: 0}).short()
    # A quiet day of a complete feed (CDNOW's Sunday before Christmas: 51 rows vs 104, from the one
    # file every day comes from) is as low in rows, but nothing is missing.
    one_file = {d: 1 for d in landed}
    assert not feed_day(last, landed, files=one_file).short()
    assert feed_day(last, landed).short()  # without file counts, rows decide alone


def test_weekly_rhythm_and_small_noisy_feeds_are_not_stale():
    # Sundays land 35% of a weekday's rows: compared with earlier Sundays, not with the week.
    landed = {d: (140 if d.weekday() == 6 else 400) for d in days(56)}
    sunday = next(d for d in reversed(days(56)) if d.weekday() == 6)
    assert feed_day(sunday, landed).expected == 140 and not feed_day(sunday, landed).short()
    # 20 rows a day, a day with 9: below 60%, but within Poisson noise (3 x sqrt(20) = 13.4).
    small = {d: 20 for d in days(30)}
    small[days(30)[-1]] = 9
    assert not feed_day(days(30)[-1], small).short()
    # Too little history to compare: not judged.
    assert feed_day(DAY0, {DAY0: 3}).expected is None and not FeedDay(DAY0, 3).short()


def decline(total_change, n=300, noise=0.02, ref=10000.0):
    """Totals per day falling (or growing) linearly by `total_change` over the first 270 days."""
    out = {}
    for i, d in enumerate(days(n)):
        trend = 1 + total_change * min(i, 270) / 270
        out[d] = ref * trend * (1 + noise * RNG.standard_normal())
    return out


def test_a_30_percent_decline_over_nine_months_is_a_sustained_trend():
    totals = decline(-0.30)
    th = Thresholds()
    base = Summary(row_count=28, value_count=28, mean=10000.0, stddev=100.0, days=28)  # total 10k per day
    assert V.reference(base) == pytest.approx(10000.0)
    late = V.level(days(300)[-1], totals, 10000.0)
    assert late.log_ratio == pytest.approx(math.log(0.7), abs=0.02) and late.consistent == 1.0
    assert V.rank(late, th.tier("sustained_trend_log_ratio"), 0.03, th.noise_multiple) == 2  # medium
    # Three months in (-10%): too small yet; five months in (-17%): low.
    assert V.rank(V.level(days(300)[90], totals, 1e4), th.tier("sustained_trend_log_ratio"), 0.03, 2.0) == 0
    assert V.rank(V.level(days(300)[150], totals, 1e4), th.tier("sustained_trend_log_ratio"), 0.03, 2.0) == 1
    # Through compare: the named type, its severity and the note.
    day = summary(RNG.poisson(1.0, 14092))
    result = compare("purchases_30d", day, BASE, th, level=late)
    assert result.types["SUSTAINED_TREND"] == "medium" and "sustained decline: total -30%" in result.note
    assert D.preliminary({"SUSTAINED_TREND": "medium"}, result.metrics, day, BASE, [])[0] == "population_shift"
    # Growth is named as well.
    up = V.level(days(300)[-1], decline(+0.5), 1e4)
    assert up.log_ratio > 0 and "sustained growth" in up.describe()


def test_drift_free_totals_and_a_short_burst_raise_nothing():
    th = Thresholds()
    tiers = th.tier("sustained_trend_log_ratio")
    flat = decline(0.0, noise=0.05)
    assert all(V.rank(V.level(d, flat, 1e4), tiers, 0.05, 2.0) == 0 for d in days(300)[27:])
    # A 10-day burst of +60% (the demo's injected drift) cannot move a 28-day median.
    burst = {d: t * (1.6 if i >= 290 else 1.0) for i, (d, t) in enumerate(flat.items())}
    assert V.rank(V.level(days(300)[-1], burst, 1e4), tiers, 0.05, 2.0) == 0
    # A level within what the baseline's own days showed (noise floor 0.2 x 2) is not judged either.
    assert V.rank(V.level(days(300)[-1], decline(-0.30), 1e4), tiers, 0.2, 2.0) == 0
    # Too few stored days (under 3/4 of 28) or a missing judged day: no level.
    sparse = {d: 1e4 for d in days(300)[-20:]}
    assert V.level(days(300)[-1], sparse, 1e4) is None
    # The baseline's noise: the largest abs ln ratio of a day's total to the per-day reference.
    pooled = Summary(row_count=2, value_count=2, mean=15.0, days=2)  # total 30 over 2 days: 15 a day
    d1, d2 = Summary(row_count=1, value_count=1, mean=10.0), Summary(row_count=1, value_count=1, mean=20.0)
    assert V.noise([d1, d2], pooled)[V.KEY] == pytest.approx(math.log(15 / 10))  # the low day


def test_a_composition_shift_on_a_short_day_is_reported_as_what_it_is():
    day = summary(RNG.poisson(1.0, 7000))
    got, evidence = D.preliminary({"STALE": "high", "POPULATION_MIX": "medium"}, {"ks": 0.2}, day, BASE, [])
    assert got == "population_shift" and evidence["short_feed"] is True
    assert D.preliminary({"STALE": "high", "MEAN_SHIFT": "low"}, {}, day, BASE, [])[0] == "volume_or_staleness"
    # A low mix move is what the missing rows themselves cause: still the feed.
    assert D.preliminary({"STALE": "high", "POPULATION_MIX": "low"}, {}, day, BASE, [])[0] == "volume_or_staleness"


def test_a_trending_baseline_window_warns_and_suggests_a_flatter_one():
    # A cohort ageing out: 20.9k rows per snapshot day falling to 7.2k over a quarter, flat later.
    all_days = days(365, dt.date(1997, 1, 1))
    q2 = (dt.date(1997, 4, 1), dt.date(1997, 6, 29))
    population, rng = {}, np.random.default_rng(1)  # its own stream: the same numbers run alone or not
    for d in all_days:
        x = min(max((d - q2[0]).days, 0), 89) / 89
        population[d] = 20900 * (7200 / 20900) ** x * (1 + 0.01 * rng.standard_normal())
    t = W.fit(population, *q2, "rows per snapshot day")  # the means of the first and the last week
    assert t.first == pytest.approx(20900 * (7200 / 20900) ** (3 / 89), rel=0.02)
    assert t.last == pytest.approx(20900 * (7200 / 20900) ** (86 / 89), rel=0.02)
    short = W.fit(population, q2[0], q2[0] + dt.timedelta(days=9), "x")  # under 14 days: the fitted trend
    assert short.first == pytest.approx(20900, rel=0.03)
    warnings = W.warnings(population, {}, *q2)
    assert "fall from 20.2k to 7.5k (-63%, first against last week)" in warnings[0]
    a, b = (dt.date.fromisoformat(v.split()[0]) for v in warnings[1].split("start_date=")[1].split("end_date="))
    assert (b - a).days == 89 and a > q2[0] and abs(W.fit(population, a, b, "x").change) < W.MAX_CHANGE
    # ... the first flat one from the requested start on (the most days left to judge).
    before = a - dt.timedelta(days=1)
    assert abs(W.fit(population, before, before + dt.timedelta(days=89), "x").change) >= W.MAX_CHANGE
    # Volume trending inside a flat population is named too; a flat window says nothing.
    landed = {d: 500 * (1 - 0.5 * (d - q2[0]).days / 89) for d in all_days if q2[0] <= d <= q2[1]}
    assert any("landed rows per day (volume) fall" in w for w in W.warnings({d: 1e4 for d in all_days}, landed, *q2))
    assert W.warnings({d: 1e4 for d in all_days}, {d: 500.0 for d in all_days}, *q2) == []


def test_evaluate_day_judges_the_landed_feed_not_the_snapshot(duckdb_warehouse, features):
    """Through the warehouse: a snapshot day that shrank to a third with every file landed is not
    STALE; the same day with one of its two files missing is."""
    from feature_factory.monitoring.detection import baseline as B
    from feature_factory.monitoring.report.alerts import evaluate_day

    from .conftest import START, load_features, make_days

    wh = duckdb_warehouse
    load_features(wh, make_days(20, customers=90))
    last = START + dt.timedelta(days=19)
    wh.execute(f"DELETE FROM customer_features WHERE snapshot_date = DATE '{last}' AND customer_id >= 'c00030'")
    B.capture_baseline(wh, START, START + dt.timedelta(days=9), features)
    wh.execute("CREATE TABLE raw_events AS SELECT CAST(DATE '2024-01-01' + CAST(d AS INTEGER) AS DATE) AS event_date, "
               "'f' || CAST(i % 2 AS VARCHAR) || '.csv' AS source_file FROM range(20) t(d), range(200) u(i)")
    complete = evaluate_day(wh, last, features)
    assert [r.feature for r in complete.results] and all("STALE" not in r.types for r in complete.results)
    wh.execute(f"DELETE FROM raw_events WHERE event_date = DATE '{last}' AND source_file = 'f1.csv'")
    short = evaluate_day(wh, last, features)
    assert all(r.types.get("STALE") == "high" for r in short.results)
    assert "100 rows landed" in short.results[0].note and "1 landing file(s) vs 2" in short.results[0].note
