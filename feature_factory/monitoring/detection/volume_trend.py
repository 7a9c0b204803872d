"""SUSTAINED_TREND: a slow, sustained decline or growth of what a count or sum feature totals (pure).

A purchase log that loses 30% of its monthly purchases over nine months moves no single day far
from the day before, and a customer's own counts may not move at all (fewer customers buy): every
per-day test stays quiet. What moves is the feature's *total* over the snapshot: for a count or sum
feature, mean x values of a day is the number (or amount) of events in the trailing window over
the whole population, and customers without events add nothing to it, so it does not change when
inactive customers leave the snapshot (a cohort ageing out of the population is not a trend).

| step      | rule                                                                                      |
|-----------|-------------------------------------------------------------------------------------------|
| reference | the baseline's total per day: mean x values / days of the window                         |
| level     | the median of ln(total / reference) over the `sustained_trend_days` (28) days up to the   |
|           | judged day (stored feature_stats, at least `MIN_COVERAGE` (3/4) of them): one odd day,    |
|           | or a burst shorter than half of them, cannot move it                                      |
| sustained | at least `CONSISTENT` (0.8) of those days on the same side of the reference               |
| effect    | abs(level), against `sustained_trend_log_ratio` tiers (0.1, 0.2, 0.4, 0.7; 0.36 is -30%)  |
|           | and above `noise_multiple` x the largest abs ln ratio a baseline day showed               |
|           | (`noise["SUSTAINED_TREND"]`, stored with the baseline)                                     |

Only count and sum features are judged (an average or a recency has no total); the others' level
changes are MEAN_SHIFT / DISTRIBUTION_SHIFT as before.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from feature_factory.monitoring.statistics.summary import Summary

KEY = "SUSTAINED_TREND"  # its key in a baseline's noise floor
TOTALLED = ("count", "sum")
MIN_COVERAGE = 0.75
CONSISTENT = 0.8


def total(s: Summary | None) -> float | None:
    """What a day (or a whole window) of a count/sum feature adds up to."""
    if s is None or s.mean is None or not s.value_count:
        return None
    return s.mean * s.value_count


def reference(baseline: Summary) -> float | None:
    t = total(baseline)
    return t / max(baseline.days, 1) if t else None


def noise(days: Sequence[Summary], pooled: Summary) -> dict[str, float]:
    """The largest abs ln(day total / baseline total per day) over the baseline's days."""
    ref = reference(pooled)
    ratios = [math.log(t / ref) for t in map(total, days) if ref and t and t > 0]
    return {KEY: max(map(abs, ratios))} if ratios else {}


@dataclass(frozen=True)
class Level:
    """Where the trailing days' totals sit against the baseline's."""

    log_ratio: float  # median ln(total / reference); < 0 a decline
    consistent: float  # share of the days on the level's side of the reference
    days: int

    @property
    def change(self) -> float:
        return math.exp(self.log_ratio) - 1

    def describe(self) -> str:
        way = "decline" if self.log_ratio < 0 else "growth"
        return (f"sustained {way}: total {self.change:+.0%} vs the baseline's per day (median of the last "
                f"{self.days} days, {self.consistent:.0%} of them on that side)")


def level(day: dt.date, totals: Mapping[dt.date, float], ref: float | None, days: int = 28) -> Level | None:
    """The trailing `days` days' level against `ref`; None without a reference or with too few days."""
    if not ref or ref <= 0:
        return None
    window = [totals.get(day - dt.timedelta(days=i)) for i in range(days)]
    ratios = [math.log(t / ref) if t > 0 else -math.inf for t in window if t is not None]
    if len(ratios) < MIN_COVERAGE * days or window[0] is None:
        return None
    mid = statistics.median(ratios)
    if not math.isfinite(mid):
        return None  # most days total nothing: the feed is gone (STALE), not a trend
    side = sum(1 for r in ratios if (r < 0) == (mid < 0) and r != 0) / len(ratios)
    return Level(mid, side, len(ratios))


def rank(lv: Level | None, tiers, noise_floor: float, noise_multiple: float) -> int:
    """Severity rank (0 none) of a level: its effect by the tiers, if it is sustained and beyond
    what the baseline's own days showed."""
    if lv is None or lv.consistent < CONSISTENT:
        return 0
    effect = abs(lv.log_ratio)
    return tiers.rank(effect) if effect > noise_multiple * noise_floor else 0
