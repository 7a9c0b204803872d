"""The health thresholds, one pydantic model (no Dagster): `assets.HealthConfig` inherits it, so
the Launchpad shows these fields flat and the rules take the config as it is."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HealthSettings(BaseModel):
    lookback_days: int = Field(default=60, ge=1, description="Days of run and event history read.")
    max_runs: int = Field(default=500, ge=10, description="At most this many recent runs are read.")
    baseline_runs: int = Field(default=20, ge=3, description="Points before an episode that a series' normal "
                               "(median and MAD) is learned from.")
    min_baseline: int = Field(default=5, ge=3, description="A series with fewer points before an episode is "
                              "not judged.")
    slowdown_ratio: float = Field(default=1.5, gt=1, description="A step run is slow above this multiple of "
                                  "its baseline median...")
    slowdown_z: float = Field(default=3.0, gt=0, description="...and above median + slowdown_z robust standard "
                              "deviations (1.4826 x MAD), so a noisy step needs a larger change.")
    sustain_runs: int = Field(default=2, ge=1, description="Slow runs in a row before a slowdown is a finding "
                              "(one slow run never is).")
    failure_streak: int = Field(default=2, ge=1, description="Failed runs of a job in a row that make a finding.")
    failure_window: int = Field(default=20, ge=2, description="Recent runs of a job its failure and retry rates use.")
    failure_rate: float = Field(default=0.25, gt=0, le=1, description="A failure rate over failure_window at "
                                "or above this is a finding.")
    volume_baseline: int = Field(default=14, ge=3, description="Partitions before the judged one that a "
                                 "source's normal volume is learned from (as Elementary: 14 days).")
    volume_change: float = Field(default=0.3, gt=0, lt=1, description="A partition's rows below (1 - x) or "
                                 "above (1 + x) times the baseline median...")
    volume_z: float = Field(default=3.0, gt=0, description="...and beyond volume_z robust standard deviations "
                            "is a volume_drop / volume_spike (3: Elementary's default sensitivity).")
    late_margin_hours: float = Field(default=2.0, ge=0, description="Landing files are late when a day's "
                                     "lateness exceeds its baseline median by this many hours (and by late_z).")
    late_z: float = Field(default=4.0, gt=0, description="Robust standard deviations above the median lateness.")
    expected_interval_hours: float = Field(default=24.0, gt=0, description="Cadence of an asset with too few "
                                           "materializations to learn its own (daily assets: 24).")
    stale_factor: float = Field(default=1.5, gt=1, description="Stale when the last materialization is older "
                                "than this multiple of the asset's cadence...")
    stale_grace_hours: float = Field(default=1.0, ge=0, description="...plus this grace.")
    runtime_budget_s: float = Field(default=600.0, gt=0, description="A job's runtime budget (seconds) its "
                                    "trend is projected to (the issue's 10 minutes).")
    runtime_budgets: dict[str, float] = Field(default_factory=dict, description="Per-job budgets (seconds), "
                                              "overriding runtime_budget_s.")
    forecast_runs: int = Field(default=30, ge=5, description="Recent successful runs a runtime trend is fitted on.")
    forecast_min_points: int = Field(default=8, ge=4, description="Fewer points: no forecast.")
    forecast_min_days: float = Field(default=3.0, gt=0, description="Points spanning fewer days: no forecast (a "
                                     "slope per day is not extrapolated from minutes of runs).")
    forecast_horizon_days: float = Field(default=30.0, gt=0, description="A budget or storage threshold "
                                         "projected to be reached within this many days is a finding.")
    forecast_confidence: float = Field(default=0.9, gt=0.5, lt=1, description="Confidence of the trend's "
                                       "slope interval (Theil-Sen), which bounds the time to the threshold.")
    disk_fraction: float = Field(default=0.8, gt=0, le=1, description="Storage threshold: this share of the "
                                 "space the warehouse may use (free disk + its own size, or storage_budget_bytes).")
    storage_budget_bytes: float | None = Field(default=None, description="Storage budget (e.g. Snowflake); "
                                               "empty: the disk the DuckDB file lives on.")

    def budget(self, job: str) -> float:
        return float(self.runtime_budgets.get(job, self.runtime_budget_s))
