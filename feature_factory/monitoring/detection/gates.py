"""The evidence behind a drift verdict (pure): metrics of one day against the baseline, the effect
size per drift type, and the statistical gates that keep sampling noise from alerting.
See drift.py for the table of types, effects and tests."""

from __future__ import annotations

import math

from feature_factory.monitoring.detection import metrics
from feature_factory.monitoring.detection import trend
from feature_factory.monitoring.kinds import DriftType
from feature_factory.monitoring.statistics.summary import Summary
from feature_factory.monitoring.detection.thresholds import Thresholds, Tiers


def effects(m: dict[str, float | None], expected: dict[str, float] | None = None) -> dict[str, float | None]:
    """The effect size each drift type is judged on (see the module table), measured from where
    the baseline's own trend says the day should be (`expected`, trend.py; {} without a trend)."""
    x = expected or {}
    t = trend.signed(m)

    def off(key: str) -> float | None:
        # Anywhere between the trend stopping (0) and going on at its pace (x) is expected: a
        # decelerating trend (ageing saturates) must not alert for falling short of the line.
        if t[key] is None:
            return None
        lo, hi = sorted((0.0, x.get(key, 0.0)))
        return t[key] - lo if t[key] < lo else t[key] - hi if t[key] > hi else 0.0

    above, below = off("above_range_excess"), off("below_range_excess")
    oor = max(above, below) if above is not None and below is not None else m["out_of_range_excess"]
    return {DriftType.MEAN_SHIFT: _abs(off("mean_shift_std")),
            DriftType.VARIANCE_CHANGE: _abs(off("log_std_ratio")),
            DriftType.NULL_SPIKE: off("null_rate_delta"), DriftType.OUT_OF_RANGE: oor,
            DriftType.POPULATION_MIX: _abs(off("zero_rate_delta")),
            "INPUT_NULL": m["input_null_rate_delta"], "PSI": m["psi"], "KS": m["ks"]}


def day_metrics(cur: Summary, base: Summary, th: Thresholds) -> dict[str, float | None]:
    std_b = base.stddev if base.stddev and base.stddev > 0 else None
    oor = _share(cur.out_of_range_count, cur.value_count)
    above = _share(cur.above_range_count, cur.value_count)
    excess = above_excess = below_excess = None
    if oor is not None and above is not None:
        base_above = base.above_range_share or 0.0
        base_below = (base.out_of_range_share or 0.0) - base_above
        # A burst usually sits in one tail: compare each tail with its own baseline share.
        above_excess, below_excess = above - base_above, (oor - above) - base_below
        excess = max(above_excess, below_excess)
    hist_ok = cur.hist is not None and base.hist is not None and len(cur.hist) == len(base.hist)
    w = metrics.wasserstein_from_grids(cur.grid, base.grid)
    eps = (cur.grid_rank_error, base.grid_rank_error)  # 0 unless a statistic came from the sketch
    wb = metrics.wasserstein_error_bound(cur.grid, base.grid, eps)
    return {
        "psi": metrics.psi(cur.hist, base.hist, th.psi_epsilon) if hist_ok else None,
        "ks": metrics.ks_from_grids(cur.grid, base.grid),
        "wasserstein_norm": w / std_b if w is not None and std_b else None,
        "js_distance": metrics.js_distance(cur.hist, base.hist) if hist_ok else None,
        "mean_shift_std": (cur.mean - base.mean) / std_b if std_b and cur.mean is not None else None,
        "std_ratio": cur.stddev / std_b if std_b and cur.stddev is not None else None,
        "null_rate_delta": cur.null_rate - base.null_rate,
        "input_null_rate_delta": (cur.input_null_rate - base.input_null_rate
                                  if cur.input_null_rate is not None and base.input_null_rate is not None else None),
        "out_of_range_share": oor,
        "out_of_range_excess": excess,
        "ks_error_bound": metrics.ks_error_bound(cur.grid, base.grid, eps),
        "wasserstein_error_bound": wb / std_b if wb is not None and std_b else None,
        # Additive (issue 13): the share of zeros (a window count's inactive customers) and each tail.
        "zero_rate_delta": (cur.zero_rate - base.zero_rate
                            if cur.zero_rate is not None and base.zero_rate is not None else None),
        "above_range_excess": above_excess,
        "below_range_excess": below_excess,
    }


def _share(count: int | None, total: int) -> float | None:
    return count / total if total and count is not None else None


def _abs(v: float | None) -> float | None:
    return abs(v) if v is not None else None


def z_score(effect: float | None, variance: float) -> float | None:
    return abs(effect) / math.sqrt(variance) if effect is not None and variance > 0 else None


def gated(tiers: Tiers, effect: float | None, z: float | None, alpha: float) -> int:
    # scipy.special, not scipy.stats: the same function (stats' norm.sf is ndtr(-z)), without
    # the ~1-2 s import of scipy.stats in every run that judges drift.
    from scipy.special import ndtr

    if z is None or 2 * ndtr(-z) >= alpha:
        return 0
    return tiers.rank(effect)


def null_rank(delta: float | None, cur: Summary, base: Summary, th: Thresholds) -> int:
    if delta is None or delta <= 0:
        return 0
    n_b = max(base.rows_per_day or base.row_count, 1)
    pooled = (cur.null_rate * cur.row_count + base.null_rate * n_b) / (cur.row_count + n_b)
    var = pooled * (1 - pooled) * (1 / cur.row_count + 1 / n_b)
    return gated(th.tier("null_rate_delta"), delta, z_score(delta, var) if var > 0 else math.inf, th.alpha)


def mix_rank(delta: float | None, cur: Summary, base: Summary, th: Thresholds) -> int:
    """POPULATION_MIX: the share of zeros moved (two-proportion test over the values)."""
    if not delta or cur.zero_rate is None or base.zero_rate is None:
        return 0
    n_c, n_b = cur.value_count, max(base.effective_values, 1)
    pooled = (cur.zero_rate * n_c + base.zero_rate * n_b) / (n_c + n_b)
    var = max(pooled * (1 - pooled), 1.0 / (n_c + n_b)) * (1 / n_c + 1 / n_b)
    return gated(th.tier("zero_share_delta"), delta, z_score(delta, var), th.alpha)


def input_null_rank(m: dict, cur: Summary, th: Thresholds) -> int:
    delta = m["input_null_rate_delta"]
    if delta is None or delta <= 0 or not cur.input_rows:
        return 0
    p = cur.input_null_rate - delta / 2  # pooled, with the baseline weighted like one day
    var = max(p * (1 - p), 1e-12) * 2 / cur.input_rows
    return gated(th.tier("null_rate_delta"), delta, z_score(delta, var), th.alpha)


def oor_rank(excess: float | None, base: Summary, n_c: int, th: Thresholds) -> int:
    if excess is None or excess <= 0:
        return 0
    # Test against the larger tail's baseline share, floored so a baseline with no value outside
    # [p01, p99] (discrete features) still needs more than a couple of stray values to alert.
    above = base.above_range_share or 0.0
    tail = max(above, (base.out_of_range_share or 0.0) - above)
    q = min(max(tail, 1.0 / n_c, 1e-3), 0.5)
    return gated(th.tier("out_of_range_excess"), excess, excess / math.sqrt(q * (1 - q) / n_c), th.alpha)


def psi_rank(value: float | None, cur: Summary, n_b: float, th: Thresholds) -> int:
    from scipy.special import chdtrc  # chi2.sf(x, dof) is chdtrc(dof, x)

    if value is None or cur.hist is None:
        return 0
    # Under no drift, PSI / (1/n_c + 1/n_b) is approximately chi-squared with bins - 1 dof.
    dof = max(len(cur.hist) - 1, 1)
    stat = value / (1 / cur.value_count + 1 / n_b)
    if chdtrc(dof, stat) >= th.alpha:
        return 0
    return th.tier("psi").rank(value)


def ks_rank(value: float | None, n_c: int, n_b: float, th: Thresholds) -> int:
    if value is None:
        return 0
    # Asymptotic two-sample KS critical value at alpha.
    crit = math.sqrt(-math.log(th.alpha / 2) / 2) * math.sqrt(1 / n_c + 1 / n_b)
    if value <= crit:
        return 0
    return th.tier("ks").rank(value)
