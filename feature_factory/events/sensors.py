"""The landing-folder sensor and the ingestion job it launches."""

import datetime as dt

import dagster as dg

from feature_factory import partitions, tables
from feature_factory.partitions import RANGE_END_TAG, RANGE_START_TAG, range_tags
from feature_factory.events import watch
from feature_factory.events.contract import events_landing_dir
from feature_factory.events.landing import list_landing_files
from feature_factory.homes import HomesResource

# Dagster's tags for a run over a partition range (what single-run backfills use).

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.assets(tables.RAW_EVENTS.name, tables.QUARANTINED_EVENTS.name),  # partitioning inferred
    description="Ingest landing files into raw_events and quarantined_events for a day range.",
)


@dg.sensor(job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED)
def landing_files_sensor(context: dg.SensorEvaluationContext, homes: HomesResource) -> dg.SensorResult:
    """New or changed files in the landing folder trigger ingest_job for exactly the days they
    cover (from the `events_YYYY-MM-DD*` file name, else a scan of the file). Run keys come from
    file path + fingerprint, so a restarted daemon never ingests a file twice. On its first tick
    (no cursor) files whose days raw_events already holds are recorded, not ingested again."""
    pdef = partitions.daily_partitions
    last = pdef.get_last_partition_key()
    ingested = set()
    if not context.cursor:  # first switch-on: the days materialized before count as ingested
        ingested = {dt.date.fromisoformat(k) for k in
                    context.instance.get_materialized_partitions(tables.RAW_EVENTS.key)}
    runs, seen = watch.plan(
        list_landing_files(events_landing_dir(homes.homes())),
        watch.load_cursor(context.cursor),
        first_day=dt.date.fromisoformat(pdef.get_first_partition_key()),
        last_day=dt.date.fromisoformat(last) if last else None,
        ingested=ingested,
    )
    requests = []
    for run in runs:
        first, last_day = run.first_day.isoformat(), run.last_day.isoformat()
        tags = {"feature_factory/landing_files": str(len(run.files))}
        if first == last_day:
            requests.append(dg.RunRequest(run_key=run.run_key, partition_key=first, tags=tags))
        else:
            requests.append(dg.RunRequest(
                run_key=run.run_key, tags={**tags, **range_tags(first, last_day)}))
        context.log.info(f"{run.run_key}: {len(run.files)} new/changed file(s) -> {first}..{last_day}")
    return dg.SensorResult(run_requests=requests, cursor=watch.dump_cursor(seen))
