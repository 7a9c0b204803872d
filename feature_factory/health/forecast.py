"""Trends projected forward with their uncertainty: when does a series reach a threshold?

Theil-Sen (scipy.stats.theilslopes): the median of pairwise slopes, robust to the odd slow run or
failed-then-retried outlier that would tilt a least-squares line, with a confidence interval on the
slope. The time to the threshold is (threshold - fitted value now) / slope; the slope's interval
bounds it (a lower slope bound at or below zero: the threshold may never be reached)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

DAY = 86400.0


@dataclass(frozen=True)
class Projection:
    now_value: float  # the trend's value now
    slope_per_day: float
    slope_low: float
    slope_high: float
    residual_sigma: float  # robust spread of the points around the trend
    threshold: float
    days: float  # to the threshold at the fitted slope (inf: not growing; 0: already past)
    days_low: float  # at the upper slope bound (soonest)
    days_high: float  # at the lower slope bound (latest; inf when it may not grow)
    points: int

    @property
    def significant(self) -> bool:
        """The whole slope interval is above zero: the series is growing, not wobbling."""
        return self.slope_low > 0

    def describe(self, unit: str = "") -> str:
        if self.days == 0:
            return f"already at {self.now_value:,.0f}{unit}, past the threshold {self.threshold:,.0f}{unit}"
        if not math.isfinite(self.days):
            return f"not growing ({self.slope_per_day:+,.2f}{unit}/day)"
        high = "never" if not math.isfinite(self.days_high) else f"{self.days_high:.0f}"
        return (f"reaches {self.threshold:,.0f}{unit} in about {self.days:.0f} days ({self.days_low:.0f}-{high} "
                f"days; {self.slope_per_day:+,.2f}{unit}/day from {self.now_value:,.0f}{unit})")


def _days(gap: float, slope: float) -> float:
    return gap / slope if slope > 0 else math.inf


def project(times: Sequence[float], values: Sequence[float], threshold: float, now: float,
            confidence: float = 0.9) -> Projection | None:
    """Fit the trend of (times in epoch seconds, values) and project it to `threshold` from `now`.
    None with fewer than 3 points or all at one time."""
    t = np.asarray(times, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(t) < 3 or np.ptp(t) == 0:
        return None
    x = (t - t.min()) / DAY
    slope, intercept, low, high = stats.theilslopes(y, x, alpha=confidence)
    x_now = (now - t.min()) / DAY
    fitted = float(intercept + slope * x_now)
    residuals = y - (intercept + slope * x)
    sigma = float(np.median(np.abs(residuals - np.median(residuals)))) * 1.4826
    gap = threshold - fitted
    if gap <= 0:
        days = days_low = days_high = 0.0
    else:
        days, days_low, days_high = _days(gap, slope), _days(gap, high), _days(gap, low)
    return Projection(fitted, float(slope), float(low), float(high), sigma, float(threshold), float(days),
                      float(days_low), float(days_high), len(t))
