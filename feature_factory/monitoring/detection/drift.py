"""Drift of one feature on one day against the current baseline: metrics, types, severity (pure).

Severity of each drift type is the highest tier (low < medium < high < critical) whose threshold
the effect size reaches, *provided* the effect is also distinguishable from sampling noise at
`Thresholds.alpha` (small partitions cannot alert on noise; big ones cannot alert on tiny but
"significant" effects). The row's severity is the worst type's.

| type               | effect size                                  | noise test                      |
|--------------------|----------------------------------------------|---------------------------------|
| MEAN_SHIFT         | abs(mean - mean_b) / std_b                   | z-test of the mean              |
| VARIANCE_CHANGE    | abs(ln(std / std_b))                         | z-test of ln std (kurtosis SE)  |
| NULL_SPIKE         | null_rate - null_rate_b (increases only), or | two-proportion z-test           |
|                    | the same for the raw values it reads or      |                                 |
|                    | would have read (inputs.py)                  |                                 |
| OUT_OF_RANGE       | share below p01 / above p99 of the baseline, | one-proportion z-test           |
|                    | minus the baseline's own share, worst tail   |                                 |
| DISTRIBUTION_SHIFT | max tier of PSI and KS                       | chi2 (PSI) / KS critical value  |
| SCHEMA_CHANGE      | column missing or its type changed           | - (always `schema_severity`)    |
| STALE              | no rows; or the feed is incomplete: landed   | shortfall >= 3 x the comparable |
|                    | rows < `feed_short_share` x comparable       | days' noise (`stale_severity`)  |
|                    | recent days (feed.py); only without landed   |                                 |
|                    | counts: rows < `stale_row_share` x baseline's|                                 |
| POPULATION_MIX     | abs(zero_rate - zero_rate_b): the share of   | two-proportion z-test           |
|                    | customers without such activity (mix change) |                                 |
| SUSTAINED_TREND    | count/sum features: abs median ln(total /    | 80% of the days on one side,    |
|                    | baseline total per day) over 28 days         | beyond the baseline days' own   |
|                    | (volume_trend.py: a slow decline or growth)  | (noise_multiple)                |

The baseline pools several days of snapshots of the same customers, so its effective sample size
is taken as its rows per day, not its total rows (conservative). Statistical tests assume
independent, roughly normal samples, which heavy-tailed and seasonal features are not; so each type
must also exceed `noise_multiple` x the largest effect any single baseline day shows against the
pooled baseline (`baseline_noise`, stored with the baseline): a day is only drifted if it moves
further than every normal day did.

Signed effects (mean shift, log std ratio, null, zero-share and tail deltas) are measured from the
baseline's own trend where it has a significant one (trend.py: population ageing early in a
history is not drift). A young population ages faster than that straight line; an OUT_OF_RANGE
whose tail grew along the trend (at most `ageing_slack` times its expectation, trend.ageing_tail)
while MEAN_SHIFT and DISTRIBUTION_SHIFT stay below low is held at low, with a note (issue 28). The
calibration of all this, by simulation at 1k..1M values a day, is in
docs/drift-calibration.md (`python -m bench --only calibration`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from feature_factory.monitoring.detection import gates
from feature_factory.monitoring.detection import metrics
from feature_factory.monitoring.detection import trend
from feature_factory.monitoring.detection import volume_trend
from feature_factory.monitoring.statistics.feed import FeedDay
from feature_factory.monitoring.kinds import DriftType
from feature_factory.monitoring.statistics.summary import Summary
# The thresholds and the severity scale live in thresholds.py (gates.py reads them too: no import
# circle); importable from here as before.
from feature_factory.monitoring.detection.thresholds import SEVERITIES, Thresholds, Tiers, severity_rank  # noqa: F401

DRIFT_TYPES = tuple(DriftType)  # the values, in drift.py's table order


@dataclass
class FeatureDrift:
    feature: str
    metrics: dict[str, float | None]
    types: dict[DriftType, str]  # drift type -> severity (only types at low or above)
    note: str = ""

    @property
    def severity(self) -> str:
        return SEVERITIES[max((severity_rank(s) for s in self.types.values()), default=0)]

    @property
    def severity_rank(self) -> int:
        return severity_rank(self.severity)

    @property
    def drift_types(self) -> str:
        return ",".join(sorted(self.types))


METRIC_NAMES = ("psi", "ks", "wasserstein_norm", "js_distance", "mean_shift_std", "std_ratio",
                "null_rate_delta", "input_null_rate_delta", "out_of_range_share", "out_of_range_excess", "ks_error_bound",
                "wasserstein_error_bound", "zero_rate_delta", "above_range_excess", "below_range_excess")


def compare(feature: str, current: Summary | None, baseline: Summary, th: Thresholds,
            current_type: str | None = "DOUBLE", ahead: float | None = None,
            table: str = "customer_features", feed: FeedDay | None = None,
            level: volume_trend.Level | None = None) -> FeatureDrift:
    """Drift of `current` (one day; None when the partition has no row for it) vs `baseline`;
    `ahead`: days from the baseline window's last day to this day (for the baseline's trend);
    `table`: the entity's feature table the feature is a column of (named when it is missing);
    `feed`: the day's landed rows against comparable days (STALE judges the feed by it; without
    it, snapshot rows against the baseline's); `level`: the trailing days' total against the
    baseline's (count/sum features, SUSTAINED_TREND)."""
    empty = dict.fromkeys(METRIC_NAMES)
    if current_type is None:
        return FeatureDrift(feature, empty, {DriftType.SCHEMA_CHANGE: th.schema_severity},
                            f"column {feature} is missing from {table}")
    if baseline.column_type and current_type.upper() != baseline.column_type.upper():
        return FeatureDrift(feature, empty, {DriftType.SCHEMA_CHANGE: th.schema_severity},
                            f"column type changed: baseline {baseline.column_type}, now {current_type}")
    expected_rows = baseline.rows_per_day
    if current is None or current.row_count == 0:
        return FeatureDrift(feature, empty, {DriftType.STALE: th.stale_severity}, "partition has no rows")
    types: dict[DriftType, str] = {}
    notes = []
    if _stale(current, expected_rows, feed, th):
        types[DriftType.STALE] = th.stale_severity
        notes.append(feed.describe() if feed is not None else
                     f"{current.row_count} rows vs {expected_rows:.0f} per baseline day")

    m = gates.day_metrics(current, baseline, th)
    e = gates.effects(m, trend.expected(baseline.noise, ahead))
    n_c, n_b = current.value_count, baseline.effective_values

    def floor(rank: int, key: str) -> int:
        """Drop a rank whose effect is within what the baseline's own days showed."""
        noise = th.noise_multiple * baseline.noise.get(key, 0.0)
        return rank if e[key] is not None and e[key] > noise else 0

    T = DriftType
    ranks = {T.NULL_SPIKE: max(floor(gates.null_rank(e[T.NULL_SPIKE], current, baseline, th), T.NULL_SPIKE),
                               floor(gates.input_null_rank(m, current, th), "INPUT_NULL"))}
    if ranks[T.NULL_SPIKE] and e["INPUT_NULL"] and e["INPUT_NULL"] > (e[T.NULL_SPIKE] or 0):
        notes.append(f"input values missing: {baseline.input_null_rate:.1%} -> {current.input_null_rate:.1%} "
                     "of the raw_events rows it reads or would have read")
    if n_c >= th.min_values and n_b >= th.min_values:
        ranks[T.MEAN_SHIFT] = floor(gates.gated(th.tier("mean_shift_std"), e[T.MEAN_SHIFT],
                                                gates.z_score(e[T.MEAN_SHIFT], 1 / n_c + 1 / n_b), th.alpha),
                                    T.MEAN_SHIFT)
        # Var(ln s) ~ (excess kurtosis + 2) / 4n: heavy tails make the std itself noisy.
        spread = (max(baseline.kurtosis or 0.0, 0.0) + 2) / 4
        ranks[T.VARIANCE_CHANGE] = floor(gates.gated(
            th.tier("std_log_ratio"), e[T.VARIANCE_CHANGE],
            gates.z_score(e[T.VARIANCE_CHANGE], spread * (1 / n_c + 1 / n_b)), th.alpha), T.VARIANCE_CHANGE)
        ranks[T.OUT_OF_RANGE] = floor(gates.oor_rank(e[T.OUT_OF_RANGE], baseline, n_c, th), T.OUT_OF_RANGE)
        ranks[T.POPULATION_MIX] = floor(gates.mix_rank(e[T.POPULATION_MIX], current, baseline, th), T.POPULATION_MIX)
        if ranks[T.POPULATION_MIX]:
            notes.append(f"population mix: zeros (no such activity in the window) {baseline.zero_rate:.1%} -> "
                         f"{current.zero_rate:.1%} of values")
        ranks[T.DISTRIBUTION_SHIFT] = max(floor(gates.psi_rank(m["psi"], current, n_b, th), "PSI"),
                                          floor(gates.ks_rank(m["ks"], n_c, n_b, th), "KS"))
        ageing = _ageing_note(ranks, m, baseline, ahead, th)
        if ageing:
            ranks[T.OUT_OF_RANGE] = 1
            notes.append(ageing)
    else:
        notes.append(f"only {n_c} values; distribution not judged")
    ranks[T.SUSTAINED_TREND] = volume_trend.rank(level, th.tier("sustained_trend_log_ratio"),
                                                 baseline.noise.get(volume_trend.KEY, 0.0), th.noise_multiple)
    if ranks[T.SUSTAINED_TREND]:
        notes.append(level.describe())
    for name, rank in ranks.items():
        if rank > 0:
            types[name] = SEVERITIES[rank]
    return FeatureDrift(feature, m, types, "; ".join(notes))


def _ageing_note(ranks: dict[DriftType, int], m: dict[str, float | None], baseline: Summary,
                 ahead: float | None, th: Thresholds) -> str:
    """Why OUT_OF_RANGE is held at low, or "" when it is not: its tail grew along the baseline's
    ageing trend (trend.ageing_tail) and the distribution did not shift (MEAN_SHIFT and
    DISTRIBUTION_SHIFT below low). A burst or a real shift moves the mean or the CDF as well, or
    lies in a tail the population is not ageing into, and keeps its tier (issue 28 item 3)."""
    T = DriftType
    if ranks[T.OUT_OF_RANGE] <= 1 or ranks[T.MEAN_SHIFT] or ranks[T.DISTRIBUTION_SHIFT]:
        return ""
    found = trend.ageing_tail(m, baseline.noise, ahead, th.ageing_slack)
    if found is None:
        return ""
    tail, observed, expected = found
    ms, ks = m.get("mean_shift_std"), m.get("ks")
    return (f"{tail} tail +{observed:.1%} of values along the baseline's ageing trend (+{expected:.1%} expected), "
            f"no shift of the distribution (mean {ms or 0:+.3f} std, KS {ks or 0:.2f}): OUT_OF_RANGE held at low")


def _stale(current: Summary, expected_rows: float | None, feed: FeedDay | None, th: Thresholds) -> bool:
    """An incomplete feed: the day's landed rows short of comparable days'. Only where landed rows
    are unknown, snapshot rows short of the baseline's (a snapshot population shrinks as a cohort
    ages out of it with every file present, so that comparison is a fallback, not the rule)."""
    if feed is not None:
        return feed.short(th.feed_short_share)
    return bool(expected_rows) and current.row_count < th.stale_row_share * expected_rows


def baseline_noise(days: list[Summary], pooled: Summary, th: Thresholds | None = None,
                   offsets: list[float] | None = None) -> dict[str, float]:
    """The largest effect any single baseline day shows against the pooled baseline: how much a
    normal day moves (sampling noise, weekday effects, heavy tails), per drift type. With
    `offsets` (each day's days before the window's last day), the baseline's significant trends
    are stored too (trend.py) and each day's effect is measured from the trend, not the mean."""
    th = th or Thresholds()
    judged = [(i, d) for i, d in enumerate(days) if d.value_count >= th.min_values]
    per_day = [gates.day_metrics(d, pooled, th) for _, d in judged]
    trends = trend.fit([offsets[i] for i, _ in judged], per_day) if offsets is not None else {}
    out: dict[str, float] = {}
    for (i, _), m in zip(judged, per_day):
        expected = trend.expected(trends, -offsets[i]) if trends else {}
        for key, value in gates.effects(m, expected).items():
            if value is not None and math.isfinite(value):
                out[key] = max(out.get(key, 0.0), value)
    # The day-to-day spread of a count/sum feature's total (SUSTAINED_TREND's floor).
    return {**out, **trends, **volume_trend.noise([d for _, d in judged], pooled)}
