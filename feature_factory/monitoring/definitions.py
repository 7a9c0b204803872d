"""monitoring domain: feature statistics, versioned baseline, typed drift alerts.

The drift sensor (`monitoring.sensors`) requests remediation and retraining, later domains' jobs,
so it is built in `feature_factory.wiring`."""

import dagster as dg

from feature_factory.monitoring import assets, checks, jobs

defs = dg.Definitions(
    assets=[assets.feature_stats, assets.feature_stats_baseline, assets.drift_alerts,
            assets.drift_report],
    asset_checks=[checks.one_current_baseline],
    jobs=[jobs.capture_baseline_job, jobs.daily_refresh_job],
    schedules=[jobs.daily_refresh_schedule],
)
