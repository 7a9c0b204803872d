"""monitoring domain: feature statistics, versioned baseline, typed drift alerts, drift sensor."""

import importlib

import dagster as dg

from feature_factory.monitoring import assets, checks, jobs
from feature_factory.monitoring.sensors import build_drift_sensor


def _job(module: str, name: str):
    """Another domain's job, or None while that domain is not built (the sensor then only alerts)."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError):
        return None


drift_sensor = build_drift_sensor(
    [j for j in (_job("feature_factory.remediation.jobs", "remediation_job"),
                 _job("feature_factory.ml.jobs", "retrain_job")) if j is not None]
)

defs = dg.Definitions(
    assets=[assets.feature_stats, assets.feature_stats_baseline, assets.drift_alerts],
    asset_checks=[checks.one_current_baseline],
    jobs=[jobs.capture_baseline_job, jobs.daily_refresh_job],
    schedules=[jobs.daily_refresh_schedule],
    sensors=[drift_sensor],
)
