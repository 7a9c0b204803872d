"""Run configuration of the monitoring assets (editable in the Launchpad). The calculations take
plain values (`drift.Thresholds`), so they stay importable and testable without Dagster."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_factory.monitoring.drift import Thresholds, Tiers
from feature_factory.monitoring.stats import DEFAULT_GRID_SIZE

_D = Thresholds()  # one source of defaults


def _tiers(t: Tiers) -> list[float]:
    return [t.low, t.medium, t.high, t.critical]


_TIERS = "Effect size at which this drift type becomes low, medium, high, critical (4 ascending values)."


class StatsConfig(dg.Config):
    grid_size: int = Field(
        default=DEFAULT_GRID_SIZE,
        description="Quantile grid points per feature and day (m; m + 1 order statistics are stored). "
        "KS from the grid is within 1/m of the exact statistic.",
    )
    sketch_rows: int | None = Field(default=None, description="Set (e.g. 65536) to take the quantile grid, "
                                    "p01..p99 and the distinct count from a reproducible row sample of about this "
                                    "many rows per day (HyperLogLog for distinct) instead of sorting every value: "
                                    "KS and Wasserstein then carry the sample's DKW rank error in ks_error_bound / "
                                    "wasserstein_error_bound (99.9%). Empty: exact.")


class BaselineConfig(dg.Config):
    start_date: str | None = Field(
        default=None, description="First day of the baseline window (YYYY-MM-DD); default: the first "
        "customer_features day.")
    end_date: str | None = Field(
        default=None, description="Last day of the window (YYYY-MM-DD); default: start + first_n_days - 1.")
    first_n_days: int | None = Field(
        default=None, description="Window length when end_date is not given. Default: with no "
        "start_date/end_date either, the current baseline's window (so every feature it monitors "
        "stays monitored); without a baseline, 28 days.")
    grid_size: int = Field(default=DEFAULT_GRID_SIZE, description="Quantile grid points kept per feature.")


class DriftConfig(dg.Config):
    mean_shift_std: list[float] = Field(default=_tiers(_D.mean_shift_std),
                                        description="MEAN_SHIFT: |mean - baseline mean| / baseline std. " + _TIERS)
    std_log_ratio: list[float] = Field(default=_tiers(_D.std_log_ratio),
                                       description="VARIANCE_CHANGE: |ln(std / baseline std)|. " + _TIERS)
    null_rate_delta: list[float] = Field(default=_tiers(_D.null_rate_delta),
                                         description="NULL_SPIKE: null rate increase (0.05 = 5 points). " + _TIERS)
    out_of_range_excess: list[float] = Field(
        default=_tiers(_D.out_of_range_excess),
        description="OUT_OF_RANGE: share below the baseline p01 or above its p99 (worst tail) in "
        "excess of the baseline's own share in that tail. " + _TIERS)
    psi: list[float] = Field(default=_tiers(_D.psi),
                             description="DISTRIBUTION_SHIFT: PSI over the frozen bins. " + _TIERS)
    ks: list[float] = Field(default=_tiers(_D.ks),
                            description="DISTRIBUTION_SHIFT: two-sample KS statistic. " + _TIERS)
    zero_share_delta: list[float] = Field(
        default=_tiers(_D.zero_share_delta),
        description="POPULATION_MIX: change of the share of zero values (for a window count: customers "
        "without such activity in the window), beyond the baseline's own trend (0.05 = 5 points). " + _TIERS)
    alpha: float = Field(default=_D.alpha, description="An effect must also be significant at this level "
                         "(so sampling noise in small partitions never alerts).")
    noise_multiple: float = Field(default=_D.noise_multiple, description="A drift type also needs an "
                                  "effect above this multiple of the largest one any baseline day shows "
                                  "against the pooled baseline.")
    min_values: int = Field(default=_D.min_values, description="Fewer non-null values than this: only nulls, "
                            "staleness and schema are judged.")
    stale_row_share: float = Field(default=_D.stale_row_share, description="STALE when a day has fewer rows than this "
                                   "share of the baseline's rows per day (no rows at all is always STALE).")
    stale_severity: str = Field(default=_D.stale_severity, description="Severity of STALE.")
    schema_severity: str = Field(default=_D.schema_severity, description="Severity of SCHEMA_CHANGE.")
    drifted_at: str = Field(default="medium", description="A feature counts as drifted (share of "
                            "drifted features, plots) at or above this severity.")
    grid_size: int = Field(default=DEFAULT_GRID_SIZE, description="Grid size when statistics must be "
                           "recomputed (feature_stats missing or from an older baseline).")
    max_plots: int = Field(default=8, description="Histogram images for at most this many drifted features.")
    plots_every_day_in_ranges: bool = Field(default=False, description="In a multi-day (backfill) run, also draw "
                                            "the histograms of every drifted day, not only the last (~0.4 s each).")

    def thresholds(self) -> Thresholds:
        return Thresholds(
            mean_shift_std=Tiers.of(self.mean_shift_std), std_log_ratio=Tiers.of(self.std_log_ratio),
            null_rate_delta=Tiers.of(self.null_rate_delta),
            out_of_range_excess=Tiers.of(self.out_of_range_excess), psi=Tiers.of(self.psi),
            ks=Tiers.of(self.ks), zero_share_delta=Tiers.of(self.zero_share_delta), alpha=self.alpha, noise_multiple=self.noise_multiple, min_values=self.min_values,
            stale_row_share=self.stale_row_share, stale_severity=self.stale_severity,
            schema_severity=self.schema_severity,
        )


class DriftReportConfig(dg.Config):
    """drift_report (Evidently's second opinion, downstream of drift_alerts, so alerts never wait for it)."""
    enabled: bool = Field(default=True, description="Run the Evidently DataDriftPreset report (false: the "
                          "partition is materialized with a note and no report).")
    sample_size: int = Field(default=5000, description="Rows sampled (ORDER BY random() LIMIT n) from the "
                             "partition and from the baseline window for Evidently.")
    every_day_in_ranges: bool = Field(
        default=False, description="In a multi-day (backfill) run, also write a report for every day, "
        "not only the last (each report is a few MB of HTML).")
