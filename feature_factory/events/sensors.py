"""One job and landing sensor per file source (the churn example's `ingest_job` and
`landing_files_sensor` among them): new or changed files trigger the source's ingestion for exactly
the days they cover."""

import datetime as dt

import dagster as dg

from feature_factory import partitions
from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import layout, watch
from feature_factory.events.assets import names_of
from feature_factory.events.contract import events_source
from feature_factory.events.landing import LandingFile, filename_date, list_landing_files, scan_dates
from feature_factory.homes import HomesResource
from feature_factory.partitions import RANGE_END_TAG, RANGE_START_TAG, range_tags

__all__ = ["RANGE_END_TAG", "RANGE_START_TAG", "ingest_job", "landing_files_sensor", "source_job_and_sensor"]


def source_job_and_sensor(spec: SourceSpec):
    """(the ingestion job of `spec`, its landing sensor or None for a table source)."""
    names = names_of(spec)
    job = dg.define_asset_job(
        names.job or f"ingest_{spec.name}_job",
        selection=dg.AssetSelection.assets(spec.raw_table, spec.quarantine_table),  # partitioning inferred
        description=f"Ingest the rows of source `{spec.name}` into {spec.raw_table} and "
        f"{spec.quarantine_table} for a day range.")
    if spec.table is not None:
        return job, None  # a table has no files to watch: schedule or materialize it
    time_column = spec.column(spec.event_time).source
    raw_key = dg.AssetKey(spec.raw_table)

    def dates_of(f: LandingFile) -> tuple[dt.date, dt.date] | None:
        """The days a file covers: its name when it follows `events_YYYY-MM-DD*`, else a scan of
        its own event times."""
        day = filename_date(f.rel)
        return (day, day) if day else scan_dates(f, time_column)

    @dg.sensor(name=names.sensor or f"{spec.name}_landing_sensor", job=job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED)
    def _sensor(context: dg.SensorEvaluationContext, homes: HomesResource) -> dg.SensorResult:
        pdef = partitions.daily_partitions
        last = pdef.get_last_partition_key()
        ingested = set()
        if not context.cursor:  # first switch-on: the days materialized before count as ingested
            ingested = {dt.date.fromisoformat(k) for k in context.instance.get_materialized_partitions(raw_key)}
        runs, seen = watch.plan(
            list_landing_files(layout.landing_dir(spec, homes.homes())), watch.load_cursor(context.cursor),
            first_day=dt.date.fromisoformat(pdef.get_first_partition_key()),
            last_day=dt.date.fromisoformat(last) if last else None, dates_of=dates_of, ingested=ingested)
        requests = []
        for run in runs:
            first, last_day = run.first_day.isoformat(), run.last_day.isoformat()
            tags = {"feature_factory/landing_files": str(len(run.files))}
            if first == last_day:
                requests.append(dg.RunRequest(run_key=run.run_key, partition_key=first, tags=tags))
            else:
                requests.append(dg.RunRequest(run_key=run.run_key, tags={**tags, **range_tags(first, last_day)}))
            context.log.info(f"{run.run_key}: {len(run.files)} new/changed file(s) -> {first}..{last_day}")
        return dg.SensorResult(run_requests=requests, cursor=watch.dump_cursor(seen))

    _sensor.__doc__ = (f"New or changed files in the landing folder of source `{spec.name}` trigger {job.name} for exactly "
                       "the days they cover (from the `events_YYYY-MM-DD*` file name, else a scan of the file). "
                       "Run keys come from file path + fingerprint, so a restarted daemon never ingests a file "
                       f"twice. On its first tick (no cursor) files whose days {spec.raw_table} already holds are "
                       "recorded, not ingested again.")
    return job, _sensor


ingest_job, landing_files_sensor = source_job_and_sensor(events_source())
