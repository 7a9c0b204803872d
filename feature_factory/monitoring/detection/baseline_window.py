"""Does a baseline window trend? Population (rows per snapshot day) and volume (landed rows per
event day) fitted over the window, and a flatter window of the same length suggested (pure).

A baseline is "what a normal day looks like". Captured over a window in which the population
shrinks (a cohort ageing out of the snapshot: 20.9k rows per day at its start, 7.2k at its end),
every later day sits at the window's end or past it, far from the pooled mean of the window, and
looks abnormal forever. So a capture fits ln(rows + 1) on the day (least squares) for each series
and warns when the fitted change from the window's first to its last day reaches `max_change`
(default 25%: a stationary population's weekly rhythm and noise move the fit by a few percent).
It then slides a window of the same length over every day the series cover and suggests the first
one from the requested start on whose two series both change less than that (the most days left
to judge; else the latest flat one before it, else the flattest one).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

MAX_CHANGE = 0.25
MIN_DAYS = 7


@dataclass(frozen=True)
class WindowTrend:
    what: str  # "rows per snapshot day" (population) or "landed rows per day" (volume)
    start: dt.date
    end: dt.date
    first: float  # mean of the window's first week (fitted at its first day in a window under 14 days)
    last: float  # mean of its last week (or fitted at its last day)

    @property
    def change(self) -> float:
        return self.last / self.first - 1 if self.first > 0 else math.inf

    def describe(self) -> str:
        way = "fall" if self.last < self.first else "grow"
        return (f"{self.what} {way} from {_k(self.first)} to {_k(self.last)} ({self.change:+.0%}, first "
                f"against last week) inside {self.start}..{self.end}")


def fit(counts: Mapping[dt.date, float], start: dt.date, end: dt.date, what: str) -> WindowTrend | None:
    """The change over [start, end] of the days in `counts` (a day absent from it is not counted:
    days before a series starts): the first week's mean against the last week's (weekly rhythm
    cancels), or in a window under 14 days the least-squares trend of ln(count + 1); None with
    fewer than 7 days."""
    pts = sorted(((d - start).days, max(float(v), 0.0)) for d, v in counts.items() if start <= d <= end)
    if len(pts) < MIN_DAYS:
        return None
    span = (end - start).days
    if span + 1 >= 2 * MIN_DAYS:
        head = [v for x, v in pts if x < MIN_DAYS]
        tail = [v for x, v in pts if x > span - MIN_DAYS]
        if head and tail:
            return WindowTrend(what, start, end, float(np.mean(head)), float(np.mean(tail)))
    x, y = np.asarray([(x, math.log1p(v)) for x, v in pts]).T
    if np.ptp(x) == 0:
        return None
    slope, icpt = np.polyfit(x, y, 1)
    return WindowTrend(what, start, end, math.expm1(icpt), math.expm1(icpt + slope * span))


def trending(trends: list[WindowTrend | None], max_change: float = MAX_CHANGE) -> list[WindowTrend]:
    return [t for t in trends if t is not None and abs(t.change) >= max_change]


def flattest(series: dict[str, Mapping[dt.date, float]], length: int, max_change: float = MAX_CHANGE,
             after: dt.date | None = None) -> tuple[dt.date, dt.date, float] | None:
    """(start, end, worst abs change) of the first window of `length` days starting at or after
    `after` whose series all change less than `max_change` (the one that leaves the most days to
    judge), else of the latest such window before it, else of the flattest; None when the series
    cover fewer days."""
    days = sorted(set().union(*(set(s) for s in series.values()))) if series else []
    if length < MIN_DAYS or len(days) < length:
        return None
    scored = []
    for i in range(len(days) - length + 1):
        start, end = days[i], days[i] + dt.timedelta(days=length - 1)
        if end > days[-1]:
            break
        fits = [fit(s, start, end, what) for what, s in series.items()]
        worst = max((abs(f.change) for f in fits if f is not None), default=None)
        if worst is not None:
            scored.append((start, end, worst))
    if not scored:
        return None
    flat = [w for w in scored if w[2] < max_change]
    later = [w for w in flat if after is None or w[0] >= after]
    if later:
        return later[0]
    return flat[-1] if flat else min(scored, key=lambda w: w[2])


def warnings(population: Mapping[dt.date, float], landed: Mapping[dt.date, float], start: dt.date,
             end: dt.date, max_change: float = MAX_CHANGE) -> list[str]:
    """One sentence per trending series of the window [start, end], plus the suggested window;
    [] when the window is flat."""
    found = trending([fit(population, start, end, "rows per snapshot day (population)"),
                      fit(landed, start, end, "landed rows per day (volume)")], max_change)
    if not found:
        return []
    out = [f"baseline window trends: {t.describe()}; later days would be judged against a pooled mean "
           "that no longer exists (a cohort ageing out of the population, or a feed growing or shrinking)"
           for t in found]
    series = {"population": population, **({"volume": landed} if landed else {})}
    best = flattest(series, (end - start).days + 1, max_change, after=start)
    if best and (best[0], best[1]) != (start, end):
        a, b, worst = best
        out.append(f"a flatter window of the same length: start_date={a} end_date={b} (largest change "
                   f"{worst:.0%}); recapture with it (capture_baseline_job config)")
    else:
        out.append("no window of the same length is flatter; a shorter window changes less")
    return out


def _k(v: float) -> str:
    return f"{v / 1000:.1f}k" if abs(v) >= 1000 else f"{v:.0f}"
