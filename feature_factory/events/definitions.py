"""Events: every configured source's ingestion (the churn example's `events` first), one factory."""

import dagster as dg

from feature_factory.catalog.sources import DEFAULT_SOURCE, SourceCatalog, load_sources
from feature_factory.events.assets import ingest_events, names_of, source_assets
from feature_factory.events.sensors import ingest_job, landing_files_sensor, source_job_and_sensor


def definitions(catalog: SourceCatalog) -> dg.Definitions:
    """Assets, jobs and sensors of every configured source except the churn example's, whose
    `ingest_events`, `ingest_job` and `landing_files_sensor` are module attributes (built by the
    same factories) that jobs and tests import by name."""
    assets, jobs, sensors = [], [], []
    for spec in catalog.sources:
        if spec.name == DEFAULT_SOURCE:
            continue
        assets.append(source_assets(spec, names_of(spec)))
        job, sensor = source_job_and_sensor(spec)
        jobs.append(job)
        if sensor is not None:
            sensors.append(sensor)
    return dg.Definitions(assets=assets, jobs=jobs, sensors=sensors)


# A bad sources file stops the code location here (importing the churn example's assets reads
# it), naming file, source and field.
defs = dg.Definitions.merge(
    # (no sensor when the churn example's events are a warehouse table: no files to watch)
    dg.Definitions(assets=[ingest_events], jobs=[ingest_job], sensors=[s for s in [landing_files_sensor] if s]),
    definitions(load_sources()),
)
