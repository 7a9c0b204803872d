"""Events: the landing-file contract, validated ingestion, and one ingestion per configured source."""

import dagster as dg

from feature_factory.catalog.sources import load_sources
from feature_factory.events import source_assets
from feature_factory.events.assets import ingest_events
from feature_factory.events.contract import events_source
from feature_factory.events.sensors import ingest_job, landing_files_sensor

events_source()  # a bad sources file stops the code location here, naming file, source and field
defs = dg.Definitions.merge(
    dg.Definitions(assets=[ingest_events], jobs=[ingest_job], sensors=[landing_files_sensor]),
    source_assets.definitions(load_sources()),
)
