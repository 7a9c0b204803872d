"""The baseline's own trend: population change that is not drift (pure).

Early in a history the population ages: customers keep a snapshot row for 90 days after their
last event, so the share without recent events (zeros of a window count, values below its p01)
grows day after day, and keeps growing after the baseline window. A day after the window is then
further from the pooled baseline than any baseline day was, without anything having changed in
the data's process. The baseline shows that trend itself: per baseline day, each signed metric
against the pooled baseline (mean shift, log std ratio, null-rate, zero-share and tail-share
deltas) is regressed on the day. A slope whose t-statistic reaches `MIN_T` (a trend, not noise:
|t| >= 4 over 28 days has a chance of ~5e-4 under no trend) is stored with the baseline, and a
judged day is expected anywhere between the pooled baseline (the trend stopped) and the trend's
linear continuation (at most `HORIZON_WINDOWS` baseline windows past its end, then held): only a
move beyond that interval is an effect (gates.effects). A sudden change of the mix (a step, not the
baseline's slope) still shows in full and is named POPULATION_MIX (drift.py).

Ageing need not be a straight line: in a young history the share of customers without recent events
can grow faster after the window than in it (more customers reach the end of a 30-day window each
day), so a tail's share outruns the linear expectation although nothing but ageing happened.
`ageing_tail` names such a tail: its excess is on the side the baseline's own trend moves towards,
and of the trend's order (at most `slack` times what the trend expects that day). drift.py holds
OUT_OF_RANGE at low for it when nothing else of the distribution moved (issue 28 item 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


MIN_T = 4.0
HORIZON_WINDOWS = 1.0
SIGNED = ("mean_shift_std", "log_std_ratio", "null_rate_delta", "zero_rate_delta", "above_range_excess",
          "below_range_excess")
CENTER = "trend_center_days"  # days from the slope's centre (mean baseline day) to the window's end
SPAN = "trend_span_days"


def signed(m: dict[str, float | None]) -> dict[str, float | None]:
    """The signed metrics a trend is fitted on (from gates.day_metrics)."""
    ratio = m.get("std_ratio")
    return {"mean_shift_std": m.get("mean_shift_std"), "log_std_ratio": math.log(ratio) if ratio else None,
            "null_rate_delta": m.get("null_rate_delta"), "zero_rate_delta": m.get("zero_rate_delta"),
            "above_range_excess": m.get("above_range_excess"), "below_range_excess": m.get("below_range_excess")}


def fit(offsets: Sequence[float], metrics: Sequence[dict[str, float | None]]) -> dict[str, float]:
    """Significant slopes per day, keyed `trend:<metric>`, with the centre and span of the days.

    `offsets`: each baseline day's distance in days before the window's last day (0 = last day)."""
    x = -np.asarray(offsets, dtype=float)
    if len(x) < 7:  # too few days to tell a trend from a weekly pattern
        return {}
    out: dict[str, float] = {}
    for key in SIGNED:
        pairs = [(xi, s[key]) for xi, s in zip(x, map(signed, metrics)) if s[key] is not None and math.isfinite(s[key])]
        if len(pairs) < 7:
            continue
        xs, ys = np.asarray(pairs).T
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:  # one day, or a flat metric: no slope to speak of
            continue
        # Ordinary least squares; cov=True scales by the residual variance over n - 2 degrees of
        # freedom, so sqrt(cov[0, 0]) is the slope's usual standard error (as scipy's linregress,
        # without importing scipy.stats into every run process).
        (slope, _), cov = np.polyfit(xs, ys, 1, cov=True)
        slope, se = float(slope), math.sqrt(max(float(cov[0, 0]), 0.0))
        if se == 0 or abs(slope) / se >= MIN_T:
            out[f"trend:{key}"] = slope
    if out:
        out[CENTER] = float(-x.mean())
        out[SPAN] = float(x.max() - x.min() + 1)
    return out


TAILS = {"below_range_excess": "lower", "above_range_excess": "upper"}


def ageing_tail(m: dict[str, float | None], noise: dict[str, float], ahead: float | None,
                slack: float) -> tuple[str, float, float] | None:
    """(tail, its excess, the trend's expected excess) when the day's worse tail grew along the
    baseline's trend: the trend moves that tail outwards (its share, or for the lower tail the share
    of zeros, has a significant positive slope) and the excess is at most `slack` times the trend's
    expectation for the day; None otherwise (no trend, against it, or far beyond it)."""
    exp = expected(noise, ahead)
    t = signed(m)
    along = {"below_range_excess": exp.get("below_range_excess", exp.get("zero_rate_delta")),
             "above_range_excess": exp.get("above_range_excess")}
    # The tail that drives OUT_OF_RANGE: the larger excess beyond what its trend expects.
    worst = max(TAILS, key=lambda k: (t[k] if t[k] is not None else -math.inf) - max(along[k] or 0.0, 0.0))
    observed, trend_says = t[worst], along[worst]
    if observed is None or observed <= 0 or trend_says is None or trend_says <= 0:
        return None
    return (TAILS[worst], observed, trend_says) if observed <= slack * trend_says else None


def expected(noise: dict[str, float], ahead: float | None) -> dict[str, float]:
    """Each trending metric's expected value `ahead` days after the window's last day (negative:
    a day inside the window); {} without a trend or a day."""
    if ahead is None or CENTER not in noise:
        return {}
    x = noise[CENTER] + min(ahead, HORIZON_WINDOWS * noise.get(SPAN, 0.0))
    return {key: noise[f"trend:{key}"] * x for key in SIGNED if f"trend:{key}" in noise}
