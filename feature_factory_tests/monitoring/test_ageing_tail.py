"""Issue 28 item 3: a window count's lower tail that grows with the population's ageing (more
customers without events in the window), faster than the baseline's straight-line trend but with no
shift of the distribution, stays OUT_OF_RANGE low; a burst, a real shift or a tail the population is
not ageing into keeps its tier (pure: drift.compare on summaries of simulated values)."""

from __future__ import annotations

import numpy as np
import pytest

from feature_factory.monitoring.detection import trend as T
from feature_factory.monitoring.detection.drift import Thresholds, compare
from feature_factory.monitoring.statistics.summary import Summary

GRID = 100
RNG = np.random.default_rng(28)
N = 1500


def summary(values: np.ndarray, base: Summary | None = None, noise: dict | None = None) -> Summary:
    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    grid = [float(values[max(0, int(np.ceil(k * n / GRID)) - 1)]) for k in range(GRID + 1)]
    p01, p99 = (base.quantiles["p01"], base.quantiles["p99"]) if base else (grid[1], grid[99])
    above, below = int((values > p99).sum()), int((values < p01).sum())
    return Summary(row_count=n, value_count=n, mean=float(values.mean()), stddev=float(values.std()),
                   kurtosis=0.0, zero_rate=float((values == 0).mean()), quantiles={"p01": p01, "p99": p99},
                   grid=grid, out_of_range_count=above + below, above_range_count=above,
                   out_of_range_share=(above + below) / n if base is None else None,
                   above_range_share=above / n if base is None else None, noise=noise or {},
                   days=30 if base is None else 1)


def counts(n: int, zeros: float) -> np.ndarray:
    """A 30-day event count: `zeros` of the customers without events in the window."""
    values = np.floor(-np.log(RNG.uniform(size=n)) * 8) + 1
    values[RNG.uniform(size=n) < zeros] = 0
    return values


# The baseline (30 days, pooled like `N` values a day) ages: its zero share (the values below its
# p01 = 1) grows 0.04 points a day, a significant slope stored with it (trend.fit).
AGEING = {"MEAN_SHIFT": 0.06, "VARIANCE_CHANGE": 0.03, "OUT_OF_RANGE": 0.005, "POPULATION_MIX": 0.005,
          "KS": 0.04, "PSI": 0.01, "trend:zero_rate_delta": 0.0004, "trend:below_range_excess": 0.0004,
          T.CENTER: 14.5, T.SPAN: 30.0}
FLAT = {k: v for k, v in AGEING.items() if not k.startswith("trend")}


def judged(noise: dict, values: np.ndarray, ahead: float = 10, **th):
    base = summary(counts(30 * N, 0.006), noise=noise)
    assert base.quantiles["p01"] == 1.0 and base.out_of_range_share - base.above_range_share < 0.01
    return compare("events_30d", summary(values, base), base, Thresholds(**th), ahead=ahead)


def test_the_ageing_lower_tail_beyond_the_straight_line_is_low_with_a_note():
    # 3% zeros 10 days after the window: +2.4 points, the line expects +1.0 (0.0004 x (14.5 + 10)),
    # so 1.4 points beyond it (medium by the tail's tier); nothing else moved.
    got = judged(AGEING, counts(N, 0.03))
    assert got.metrics["below_range_excess"] == pytest.approx(0.024, abs=0.006)
    assert got.metrics["below_range_excess"] > 0.01 and abs(got.metrics["mean_shift_std"]) < 0.1
    assert got.types.get("OUT_OF_RANGE") == "low" and got.severity == "low"
    assert "lower tail" in got.note and "ageing trend" in got.note and "held at low" in got.note
    # ageing_slack 1: only the straight line is expected; the same day is medium.
    assert judged(AGEING, counts(N, 0.03), ageing_slack=1.0).types["OUT_OF_RANGE"] == "medium"


def test_without_the_trend_far_beyond_it_or_with_a_shift_the_tail_keeps_its_tier():
    # The same day against a baseline without an ageing trend: a lower-tail excess, medium.
    assert severity_of(judged(FLAT, counts(N, 0.03)), "OUT_OF_RANGE") >= 2
    # 8% zeros: 7 times what the line expects for the day, not ageing's pace.
    assert severity_of(judged(AGEING, counts(N, 0.08)), "OUT_OF_RANGE") >= 2
    # The zeros come with the whole count halved: the distribution shifted, nothing is held back.
    shifted = judged(AGEING, np.floor(counts(N, 0.03) / 2))
    assert severity_of(shifted, "OUT_OF_RANGE") >= 2 and "held at low" not in shifted.note


def test_an_upper_tail_burst_in_an_ageing_population_still_alerts():
    values = counts(N, 0.01)
    values[:60] = 400  # 4% of customers with a burst of events far above the p99
    got = judged(AGEING, values)
    assert severity_of(got, "OUT_OF_RANGE") >= 2 and got.severity_rank >= 2


def test_ageing_tail_names_the_tail_only_along_a_positive_trend():
    m = {"below_range_excess": 0.02, "above_range_excess": 0.0}
    assert T.ageing_tail(m, AGEING, 10, 3.0) == ("lower", 0.02, pytest.approx(0.0098))
    assert T.ageing_tail(m, AGEING, 10, 1.5) is None  # 0.02 > 1.5 x 0.0098
    assert T.ageing_tail(m, FLAT, 10, 3.0) is None
    shrinking = {**AGEING, "trend:below_range_excess": -0.0004, "trend:zero_rate_delta": -0.0004}
    assert T.ageing_tail(m, shrinking, 10, 3.0) is None
    # Only the zero share trends (a feature whose p01 is 1): it stands for the lower tail.
    zeros_only = {k: v for k, v in AGEING.items() if k != "trend:below_range_excess"}
    assert T.ageing_tail(m, zeros_only, 10, 3.0)[0] == "lower"
    # The upper tail is the worse one and has no trend: not ageing.
    assert T.ageing_tail({"below_range_excess": 0.005, "above_range_excess": 0.03}, AGEING, 10, 3.0) is None


def severity_of(result, kind: str) -> int:
    from feature_factory.monitoring.detection.drift import severity_rank

    return severity_rank(result.types.get(kind, "none"))
