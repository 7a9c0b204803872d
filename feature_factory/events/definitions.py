"""Events: the landing-file contract, the synthetic generator, validated ingestion."""

import dagster as dg

from feature_factory.events.assets import ingest_events
from feature_factory.events.sensors import ingest_job, landing_files_sensor

defs = dg.Definitions(assets=[ingest_events], jobs=[ingest_job], sensors=[landing_files_sensor])
