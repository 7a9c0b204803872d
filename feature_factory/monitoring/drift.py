"""Drift of one feature on one day against the current baseline: metrics, types, severity (pure).

Severity of each drift type is the highest tier (low < medium < high < critical) whose threshold
the effect size reaches, *provided* the effect is also distinguishable from sampling noise at
`Thresholds.alpha` (small partitions cannot alert on noise; big ones cannot alert on tiny but
"significant" effects). The row's severity is the worst type's.

| type               | effect size                                  | noise test                      |
|--------------------|----------------------------------------------|---------------------------------|
| MEAN_SHIFT         | abs(mean - mean_b) / std_b                   | z-test of the mean              |
| VARIANCE_CHANGE    | abs(ln(std / std_b))                         | z-test of ln std (normal SE)    |
| NULL_SPIKE         | null_rate - null_rate_b (increases only)     | two-proportion z-test           |
| OUT_OF_RANGE       | share below p01 / above p99 of the baseline, | one-proportion z-test           |
|                    | minus the baseline's own share, worst tail   |                                 |
| DISTRIBUTION_SHIFT | max tier of PSI and KS                       | chi2 (PSI) / KS critical value  |
| SCHEMA_CHANGE      | column missing or its type changed           | - (always `schema_severity`)    |
| STALE              | no rows, or rows < `stale_row_share` x the   | - (`stale_severity`)            |
|                    | baseline's rows per day                      |                                 |

The baseline pools several days of snapshots of the same customers, so its effective sample size
is taken as its rows per day, not its total rows (conservative). Statistical tests assume
independent, roughly normal samples, which heavy-tailed and seasonal features are not; so each type
must also exceed `noise_multiple` x the largest effect any single baseline day shows against the
pooled baseline (`baseline_noise`, stored with the baseline): a day is only drifted if it moves
further than every normal day did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from feature_factory.monitoring import metrics as M
from feature_factory.monitoring.summary import Summary

SEVERITIES = ("none", "low", "medium", "high", "critical")
DRIFT_TYPES = ("MEAN_SHIFT", "VARIANCE_CHANGE", "NULL_SPIKE", "OUT_OF_RANGE", "DISTRIBUTION_SHIFT",
               "SCHEMA_CHANGE", "STALE")


def severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(str(severity).lower())
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}") from None


@dataclass(frozen=True)
class Tiers:
    """Effect sizes at which severity becomes low, medium, high and critical (ascending)."""

    low: float
    medium: float
    high: float
    critical: float

    def __post_init__(self) -> None:
        values = (self.low, self.medium, self.high, self.critical)
        if not all(math.isfinite(v) and v >= 0 for v in values) or list(values) != sorted(values):
            raise ValueError(f"severity tiers must be finite, >= 0 and ascending; got {values}")

    @classmethod
    def of(cls, values) -> "Tiers":
        values = list(values)
        if len(values) != 4:
            raise ValueError(f"expected 4 tier values (low, medium, high, critical); got {values}")
        return cls(*[float(v) for v in values])

    def rank(self, effect: float | None) -> int:
        if effect is None or not math.isfinite(effect):
            return 0
        return sum(effect >= t for t in (self.low, self.medium, self.high, self.critical))


@dataclass(frozen=True)
class Thresholds:
    mean_shift_std: Tiers = field(default_factory=lambda: Tiers(0.15, 0.25, 0.5, 1.0))
    std_log_ratio: Tiers = field(default_factory=lambda: Tiers(0.15, 0.3, 0.6, 1.2))
    null_rate_delta: Tiers = field(default_factory=lambda: Tiers(0.02, 0.05, 0.15, 0.4))
    out_of_range_excess: Tiers = field(default_factory=lambda: Tiers(0.005, 0.01, 0.03, 0.1))
    psi: Tiers = field(default_factory=lambda: Tiers(0.1, 0.2, 0.5, 1.0))
    ks: Tiers = field(default_factory=lambda: Tiers(0.1, 0.15, 0.25, 0.4))
    alpha: float = 1e-4
    noise_multiple: float = 2.0
    psi_epsilon: float = M.PSI_EPSILON
    min_values: int = 30
    stale_row_share: float = 0.5
    stale_severity: str = "high"
    schema_severity: str = "critical"

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha={self.alpha!r} must be in (0, 1)")
        severity_rank(self.stale_severity)
        severity_rank(self.schema_severity)


@dataclass
class FeatureDrift:
    feature: str
    metrics: dict[str, float | None]
    types: dict[str, str]  # drift type -> severity (only types at low or above)
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
                "null_rate_delta", "out_of_range_share", "out_of_range_excess", "ks_error_bound",
                "wasserstein_error_bound")


def compare(feature: str, current: Summary | None, baseline: Summary, th: Thresholds,
            current_type: str | None = "DOUBLE") -> FeatureDrift:
    """Drift of `current` (one day; None when the partition has no row for it) vs `baseline`."""
    empty = dict.fromkeys(METRIC_NAMES)
    if current_type is None:
        return FeatureDrift(feature, empty, {"SCHEMA_CHANGE": th.schema_severity},
                            f"column {feature} is missing from customer_features")
    if baseline.column_type and current_type.upper() != baseline.column_type.upper():
        return FeatureDrift(feature, empty, {"SCHEMA_CHANGE": th.schema_severity},
                            f"column type changed: baseline {baseline.column_type}, now {current_type}")
    expected_rows = baseline.rows_per_day
    if current is None or current.row_count == 0:
        return FeatureDrift(feature, empty, {"STALE": th.stale_severity}, "partition has no rows")
    types: dict[str, str] = {}
    notes = []
    if expected_rows and current.row_count < th.stale_row_share * expected_rows:
        types["STALE"] = th.stale_severity
        notes.append(f"{current.row_count} rows vs {expected_rows:.0f} per baseline day")

    m = _metrics(current, baseline, th)
    e = effects(m)
    n_c, n_b = current.value_count, baseline.effective_values

    def floor(rank: int, key: str) -> int:
        """Drop a rank whose effect is within what the baseline's own days showed."""
        noise = th.noise_multiple * baseline.noise.get(key, 0.0)
        return rank if e[key] is not None and e[key] > noise else 0

    ranks = {"NULL_SPIKE": floor(_null_rank(current, baseline, th), "NULL_SPIKE")}
    if n_c >= th.min_values and n_b >= th.min_values:
        ranks["MEAN_SHIFT"] = floor(_gated(th.mean_shift_std, e["MEAN_SHIFT"],
                                           _z(e["MEAN_SHIFT"], 1 / n_c + 1 / n_b), th.alpha), "MEAN_SHIFT")
        ranks["VARIANCE_CHANGE"] = floor(_gated(
            th.std_log_ratio, e["VARIANCE_CHANGE"],
            _z(e["VARIANCE_CHANGE"], 1 / (2 * n_c) + 1 / (2 * n_b)), th.alpha), "VARIANCE_CHANGE")
        ranks["OUT_OF_RANGE"] = floor(_oor_rank(m, baseline, n_c, th), "OUT_OF_RANGE")
        ranks["DISTRIBUTION_SHIFT"] = max(floor(_psi_rank(m["psi"], current, n_b, th), "PSI"),
                                          floor(_ks_rank(m["ks"], n_c, n_b, th), "KS"))
    else:
        notes.append(f"only {n_c} values; distribution not judged")
    for name, rank in ranks.items():
        if rank > 0:
            types[name] = SEVERITIES[rank]
    return FeatureDrift(feature, m, types, "; ".join(notes))


def effects(m: dict[str, float | None]) -> dict[str, float | None]:
    """The effect size each drift type is judged on (see the module table)."""
    log_ratio = math.log(m["std_ratio"]) if m["std_ratio"] else None
    return {"MEAN_SHIFT": _abs(m["mean_shift_std"]), "VARIANCE_CHANGE": _abs(log_ratio),
            "NULL_SPIKE": m["null_rate_delta"], "OUT_OF_RANGE": m["out_of_range_excess"],
            "PSI": m["psi"], "KS": m["ks"]}


def baseline_noise(days: list[Summary], pooled: Summary, th: Thresholds | None = None) -> dict[str, float]:
    """The largest effect any single baseline day shows against the pooled baseline: how much a
    normal day moves (sampling noise, weekday effects, heavy tails), per drift type."""
    th = th or Thresholds()
    out: dict[str, float] = {}
    for day in days:
        if day.value_count < th.min_values:
            continue
        for key, value in effects(_metrics(day, pooled, th)).items():
            if value is not None and math.isfinite(value):
                out[key] = max(out.get(key, 0.0), value)
    return out


def _metrics(cur: Summary, base: Summary, th: Thresholds) -> dict[str, float | None]:
    std_b = base.stddev if base.stddev and base.stddev > 0 else None
    oor = _share(cur.out_of_range_count, cur.value_count)
    above = _share(cur.above_range_count, cur.value_count)
    excess = None
    if oor is not None and above is not None:
        base_above = base.above_range_share or 0.0
        base_below = (base.out_of_range_share or 0.0) - base_above
        # A burst usually sits in one tail: compare each tail with its own baseline share.
        excess = max(above - base_above, (oor - above) - base_below)
    hist_ok = cur.hist is not None and base.hist is not None and len(cur.hist) == len(base.hist)
    w = M.wasserstein_from_grids(cur.grid, base.grid)
    wb = M.wasserstein_error_bound(cur.grid, base.grid)
    return {
        "psi": M.psi(cur.hist, base.hist, th.psi_epsilon) if hist_ok else None,
        "ks": M.ks_from_grids(cur.grid, base.grid),
        "wasserstein_norm": w / std_b if w is not None and std_b else None,
        "js_distance": M.js_distance(cur.hist, base.hist) if hist_ok else None,
        "mean_shift_std": (cur.mean - base.mean) / std_b if std_b and cur.mean is not None else None,
        "std_ratio": cur.stddev / std_b if std_b and cur.stddev is not None else None,
        "null_rate_delta": cur.null_rate - base.null_rate,
        "out_of_range_share": oor,
        "out_of_range_excess": excess,
        "ks_error_bound": M.ks_error_bound(cur.grid, base.grid),
        "wasserstein_error_bound": wb / std_b if wb is not None and std_b else None,
    }


def _share(count: int | None, total: int) -> float | None:
    return count / total if total and count is not None else None


def _abs(v: float | None) -> float | None:
    return abs(v) if v is not None else None


def _z(effect: float | None, variance: float) -> float | None:
    return abs(effect) / math.sqrt(variance) if effect is not None and variance > 0 else None


def _gated(tiers: Tiers, effect: float | None, z: float | None, alpha: float) -> int:
    from scipy.stats import norm

    if z is None or 2 * norm.sf(z) >= alpha:
        return 0
    return tiers.rank(effect)


def _null_rank(cur: Summary, base: Summary, th: Thresholds) -> int:
    delta = cur.null_rate - base.null_rate
    if delta <= 0:
        return 0
    n_b = max(base.rows_per_day or base.row_count, 1)
    pooled = (cur.null_rate * cur.row_count + base.null_rate * n_b) / (cur.row_count + n_b)
    var = pooled * (1 - pooled) * (1 / cur.row_count + 1 / n_b)
    return _gated(th.null_rate_delta, delta, _z(delta, var) if var > 0 else math.inf, th.alpha)


def _oor_rank(m: dict, base: Summary, n_c: int, th: Thresholds) -> int:
    excess = m["out_of_range_excess"]
    if excess is None or excess <= 0:
        return 0
    # Test against the larger tail's baseline share, floored so a baseline with no value outside
    # [p01, p99] (discrete features) still needs more than a couple of stray values to alert.
    above = base.above_range_share or 0.0
    tail = max(above, (base.out_of_range_share or 0.0) - above)
    q = min(max(tail, 1.0 / n_c, 1e-3), 0.5)
    return _gated(th.out_of_range_excess, excess, excess / math.sqrt(q * (1 - q) / n_c), th.alpha)


def _psi_rank(value: float | None, cur: Summary, n_b: float, th: Thresholds) -> int:
    from scipy.stats import chi2

    if value is None or cur.hist is None:
        return 0
    # Under no drift, PSI / (1/n_c + 1/n_b) is approximately chi-squared with bins - 1 dof.
    dof = max(len(cur.hist) - 1, 1)
    stat = value / (1 / cur.value_count + 1 / n_b)
    if chi2.sf(stat, dof) >= th.alpha:
        return 0
    return th.psi.rank(value)


def _ks_rank(value: float | None, n_c: int, n_b: float, th: Thresholds) -> int:
    if value is None:
        return 0
    # Asymptotic two-sample KS critical value at alpha.
    crit = math.sqrt(-math.log(th.alpha / 2) / 2) * math.sqrt(1 / n_c + 1 / n_b)
    if value <= crit:
        return 0
    return th.ks.rank(value)
