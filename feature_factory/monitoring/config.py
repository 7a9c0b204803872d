"""Run configuration of the monitoring assets (editable in the Launchpad).

The drift thresholds are one pydantic model, `drift.Thresholds` (importable and testable without
Dagster); `DriftConfig` inherits its fields, so the Launchpad's run config keeps the same flat
shape (`{"psi": [...], "alpha": ...}`) and a `DriftConfig` *is* a `Thresholds`: the calculations
take it as it is, with no converter and no second copy of the defaults."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_factory.monitoring.detection.drift import Thresholds
from feature_factory.monitoring.statistics.feature_stats import DEFAULT_GRID_SIZE


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
    range_sketch_rows: int | None = Field(
        default=None, description="In a multi-day (backfill) run, every day before the run's last takes the "
        "sketch with this many rows (e.g. 65536; ~3x less CPU at 100k rows a day), the last day keeps "
        "sketch_rows. Empty: every day as sketch_rows. Error bounds: docs/drift-sketch.md.")


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
    sketch_rows: int | None = Field(default=None, description="Set (e.g. 65536) to take the baseline's quantile "
                                    "grid, p01..p99 (and so its bin edges) from a reproducible row sample of about "
                                    "this many rows of the window, as feature_stats' sketch_rows; moments, counts, "
                                    "histograms and tails stay exact. Empty: exact.")
    features: list[str] | None = Field(
        default=None, description="Recapture only these features (a refresh_baseline approved for them); every "
        "other feature keeps its current baseline row, carried into the new version unchanged. Empty: every "
        "feature.")
    exclude_contaminated: bool = Field(
        default=True, description="Leave out of the window the days with open contamination findings in "
        "drift_alerts (tail_contamination, single_source, missing_data, type_or_schema at medium or above) or "
        "values changed by an applied clip, so the baseline never makes contamination normal. The days left "
        "out are named in the run's log and metadata.")


class DriftConfig(dg.Config, Thresholds):
    # The thresholds' fields (tiers per drift type, alpha, noise_multiple, ...): drift.Thresholds.
    drifted_at: str = Field(default="medium", description="A feature counts as drifted (share of "
                            "drifted features, plots) at or above this severity.")
    grid_size: int = Field(default=DEFAULT_GRID_SIZE, description="Grid size when statistics must be "
                           "recomputed (feature_stats missing or from an older baseline).")
    max_plots: int = Field(default=8, description="Histogram images for at most this many drifted features.")
    plots_every_day_in_ranges: bool = Field(default=False, description="In a multi-day (backfill) run, also draw "
                                            "the histograms of every drifted day, not only the last (~0.4 s each).")

    def thresholds(self) -> Thresholds:
        """The thresholds alone (this config without its Dagster-only fields)."""
        return Thresholds(**{name: getattr(self, name) for name in Thresholds.model_fields})


class DriftReportConfig(dg.Config):
    """drift_report (Evidently's second opinion, downstream of drift_alerts, so alerts never wait for it)."""
    enabled: bool = Field(default=True, description="Run the Evidently DataDriftPreset report (false: the "
                          "partition is materialized with a note and no report).")
    sample_size: int = Field(default=5000, description="Rows sampled (ORDER BY random() LIMIT n) from the "
                             "partition and from the baseline window for Evidently.")
    every_day_in_ranges: bool = Field(
        default=False, description="In a multi-day (backfill) run, also write a report for every day, "
        "not only the last (each report is a few MB of HTML).")
