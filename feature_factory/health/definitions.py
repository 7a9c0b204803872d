"""health domain: the pipeline_health asset, its job and daily schedule, and the sensor that
notifies each finding once (freshness policies: `health.freshness`, applied by the code location)."""

import dagster as dg

from feature_factory.health import assets, sensors

defs = dg.Definitions(
    assets=[assets.pipeline_health],
    jobs=[assets.pipeline_health_job],
    schedules=[assets.pipeline_health_schedule],
    sensors=[sensors.build_health_sensor()],
)
