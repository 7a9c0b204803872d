"""monitoring domain: feature statistics, versioned baseline, typed drift alerts (per entity:
the customer's here, every other entity's from the asset factory `entity_assets`).

The drift sensor (`monitoring.sensors`) requests remediation and retraining, later domains' jobs,
so it is built in `feature_factory.wiring`."""

import dagster as dg

from feature_factory.monitoring import assets, checks, entity_assets, jobs

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[assets.feature_stats, assets.feature_stats_baseline, assets.drift_alerts,
                assets.drift_report],
        asset_checks=[checks.one_current_baseline],
        jobs=[jobs.capture_baseline_job, jobs.daily_refresh_job],
        schedules=[jobs.daily_refresh_schedule],
    ),
    entity_assets.definitions(),  # every other entity's statistics, baseline and drift alerts
)
