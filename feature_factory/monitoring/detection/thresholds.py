"""When a drift type alerts, and how badly: the severity scale, the tiers and `Thresholds` (pure,
no Dagster). drift.py judges with them; gates.py reads them; config.py's DriftConfig inherits the
fields for the Launchpad."""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from feature_factory.monitoring.detection import metrics

SEVERITIES = ("none", "low", "medium", "high", "critical")


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


_TIERS = "Effect size at which this drift type becomes low, medium, high, critical (4 ascending values)."


def _tiers(default: tuple[float, float, float, float], what: str) -> Any:
    return Field(default=list(default), description=f"{what} {_TIERS}")


class Thresholds(BaseModel):
    """When a drift type alerts, and how badly: the one source of these defaults.

    A plain pydantic model (no Dagster): the calculations take it, and `DriftConfig` (config.py)
    inherits its fields, so the Launchpad shows the same names, defaults and descriptions.
    """

    model_config = ConfigDict(frozen=True)

    mean_shift_std: list[float] = _tiers((0.15, 0.25, 0.5, 1.0), "MEAN_SHIFT: |mean - baseline mean| / baseline std.")
    std_log_ratio: list[float] = _tiers((0.15, 0.3, 0.6, 1.2), "VARIANCE_CHANGE: |ln(std / baseline std)|.")
    null_rate_delta: list[float] = _tiers((0.02, 0.05, 0.15, 0.4), "NULL_SPIKE: null rate increase (0.05 = 5 points).")
    out_of_range_excess: list[float] = _tiers(
        (0.005, 0.01, 0.03, 0.1), "OUT_OF_RANGE: share below the baseline p01 or above its p99 (worst tail) in "
        "excess of the baseline's own share in that tail.")
    psi: list[float] = _tiers((0.1, 0.2, 0.5, 1.0), "DISTRIBUTION_SHIFT: PSI over the frozen bins.")
    ks: list[float] = _tiers((0.1, 0.15, 0.25, 0.4), "DISTRIBUTION_SHIFT: two-sample KS statistic.")
    zero_share_delta: list[float] = _tiers(
        (0.02, 0.05, 0.15, 0.4), "POPULATION_MIX: change of the share of zero values (for a window count: "
        "customers without such activity in the window), beyond the baseline's own trend (0.05 = 5 points).")
    sustained_trend_log_ratio: list[float] = _tiers(
        (0.1, 0.2, 0.4, 0.7), "SUSTAINED_TREND: abs ln(total / baseline total per day) of a count or sum "
        "feature, median over the last `sustained_trend_days` days (0.36 is a 30% decline).")
    sustained_trend_days: int = Field(default=28, ge=7, description="SUSTAINED_TREND: trailing days whose "
                                      "median total is judged (stored feature_stats); shorter bursts cannot move it.")
    alpha: float = Field(default=1e-4, gt=0, lt=1, description="An effect must also be significant at this "
                         "level (so sampling noise in small partitions never alerts).")
    noise_multiple: float = Field(default=2.0, description="A drift type also needs an effect above this "
                                  "multiple of the largest one any baseline day shows against the pooled baseline.")
    ageing_slack: float = Field(
        default=3.0, ge=1.0, description="OUT_OF_RANGE stays low when its tail grew along the baseline's own "
        "ageing trend, by at most this multiple of what the trend expects for the day, and neither the mean nor "
        "the distribution (KS, PSI) moved (a young population ages faster than a straight line; 1 = only the line).")
    min_values: int = Field(default=30, description="Fewer non-null values than this: only nulls, staleness "
                            "and schema are judged.")
    stale_row_share: float = Field(default=0.5, description="Only where no landed rows are known (no raw "
                                   "table): STALE when a day has fewer snapshot rows than this share of the "
                                   "baseline's rows per day (no rows at all is always STALE).")
    feed_short_share: float = Field(default=0.6, gt=0, le=1, description="STALE when the day's landed rows "
                                    "(raw table, per event day) are below this share of the median of comparable "
                                    "recent days and the shortfall is beyond their noise (feed.py): an "
                                    "incomplete feed, never a snapshot population that shrinks as a cohort ages.")
    stale_severity: str = Field(default="high", description="Severity of STALE.")
    schema_severity: str = Field(default="critical", description="Severity of SCHEMA_CHANGE.")
    psi_epsilon: ClassVar[float] = metrics.PSI_EPSILON

    @field_validator("mean_shift_std", "std_log_ratio", "null_rate_delta", "out_of_range_excess", "psi", "ks",
                     "zero_share_delta", "sustained_trend_log_ratio")
    @classmethod
    def _four_ascending(cls, values: list[float]) -> list[float]:
        return list(astuple(Tiers.of(values)))

    @field_validator("stale_severity", "schema_severity")
    @classmethod
    def _known_severity(cls, value: str) -> str:
        severity_rank(value)
        return value

    def tier(self, name: str) -> Tiers:
        """The tiers of one drift type's effect (`name` is the field, e.g. "psi")."""
        return Tiers.of(getattr(self, name))
