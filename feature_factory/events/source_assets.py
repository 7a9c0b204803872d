"""Asset factory: each configured source (other than the churn example's `events`) becomes one
ingestion multi-asset writing its raw and quarantine tables, with a job and a landing sensor.

Asset keys are the source's table names (default `raw_<source>`, `<source>_quarantine`); the
descriptions and column schemas shown in the UI come from the source entry. A new entry in the
sources file plus a code-location reload makes them appear; nothing here names a source.
"""


import datetime as dt
from pathlib import Path

import dagster as dg
from pydantic import Field

from feature_factory import partitions
from feature_factory.catalog.sources import DEFAULT_SOURCE, SourceCatalog, SourceSpec
from feature_factory.events import report, rules
from feature_factory.events.ingestion import IngestionResult
from feature_factory.events.schema_drift import SchemaDriftError
from feature_factory.events.landing import list_landing_files, scan_dates
from feature_factory.events.source_ingestion import (
    ingest_source_range, landing_dir, quarantine_columns, raw_columns,
)
from feature_factory.events.watch import dump_cursor, load_cursor, plan
from feature_factory.partitions import range_tags
from feature_factory.homes import HomesResource
from feature_factory.warehouse.base import Warehouse, quote_ident, sql_literal

QUARANTINE_RATE = "quarantine_rate_under_threshold"
NO_DUPLICATES = "no_duplicate_row_id"
FILES_READABLE = "landing_files_readable"


class SourceIngestionConfig(dg.Config):
    """Settings for ingesting one configured source."""

    landing_dir: str | None = Field(
        default=None, description="Landing folder; default the source's location.landing_folder under "
        "$FEATURE_FACTORY_HOME/landing (ignored for a table source).")
    max_quarantine_rate: float = Field(
        default=0.05, ge=0.0, le=1.0,
        description="The quarantine-rate check fails (and blocks downstream) above this share of rows read.")
    future_tolerance_minutes: float = Field(
        default=5.0, ge=0.0,
        description="Clock skew allowed before an event time counts as in the future.")


def _describe(spec: SourceSpec) -> tuple[str, str]:
    where = (f"the landing folder `{spec.landing_folder}` (CSV/Parquet)" if spec.table is None
             else f"the warehouse table `{spec.table}` (read in place)")
    rule_list = "; ".join(f"`{reason}`: {text}" for reason, text in rules.texts(spec).items())
    raw = (f"{spec.description or 'Source ' + spec.name + '.'}\n\nValidated rows of source `{spec.name}` "
           f"from {where}, one per accepted row, partitioned by the UTC day of `{spec.event_time}`. Row id "
           f"`{spec.row_id}`; entity keys {', '.join(f'{e}: `{c}`' for e, c in spec.entity_keys)}. Declared "
           "in the sources file (docs/sources.md); rejected rows go to "
           f"`{spec.quarantine_table}`.")
    quarantine = (f"Every rejected row of source `{spec.name}` with its reason, raw values and source "
                  f"file/row, so nothing is silently lost. Reasons: {rule_list}.")
    return raw, quarantine


def source_assets(spec: SourceSpec) -> dg.AssetsDefinition:
    raw_doc, q_doc = _describe(spec)
    raw_key, q_key = dg.AssetKey(spec.raw_table), dg.AssetKey(spec.quarantine_table)
    tags = {"feature_factory/source": spec.name, "feature_factory/entity": spec.entity}

    def asset_spec(name: str, doc: str, columns) -> dg.AssetSpec:
        return dg.AssetSpec(name, group_name="sources", kinds={"sql", "warehouse"}, description=doc,
                            owners=[f"team:{spec.owner}"] if spec.owner else None, tags=tags,
                            metadata={"dagster/column_schema": report.column_schema(columns),
                                      "dagster/table_name": name})

    @dg.multi_asset(
        name=f"ingest_{spec.name}",
        specs=[asset_spec(spec.raw_table, raw_doc, raw_columns(spec)),
               asset_spec(spec.quarantine_table, q_doc, quarantine_columns(spec))],
        check_specs=[
            dg.AssetCheckSpec(
                QUARANTINE_RATE, asset=raw_key, blocking=True,
                description="Quarantined / read rows of the run stay at or under `max_quarantine_rate`."),
            dg.AssetCheckSpec(
                NO_DUPLICATES, asset=raw_key, blocking=True,
                description=f"No {spec.row_id} written by the run is stored twice anywhere in {spec.raw_table}."),
            dg.AssetCheckSpec(
                FILES_READABLE, asset=raw_key,
                description="Every file in the landing folder is a readable CSV/Parquet file with the columns "
                "the source reads (warning; bad files are quarantined whole, the others ingested)."),
        ],
        partitions_def=partitions.daily_partitions,
        backfill_policy=partitions.single_run_backfill,
        can_subset=True,
    )
    def _ingest(context: dg.AssetExecutionContext, config: SourceIngestionConfig, warehouse: Warehouse,
                homes: HomesResource):
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        folder = Path(config.landing_dir) if config.landing_dir else landing_dir(spec, homes.homes())
        try:
            result = ingest_source_range(warehouse, spec, start, end, folder=folder, now=now,
                                         future_tolerance_minutes=config.future_tolerance_minutes)
        except SchemaDriftError as exc:
            raise dg.Failure(description=f"schema drift configured to fail (source {spec.name}): {exc}") from exc
        context.log.info(f"{spec.name} [{start}, {end}): read {result.rows_read}, accepted "
                         f"{result.rows_accepted}, quarantined {result.rows_quarantined} {result.by_reason()}")
        for f in result.sync.with_status("quarantined"):
            context.log.error(f.detail)
        if raw_key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=raw_key, metadata=_raw_metadata(warehouse, spec, result))
        if q_key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=q_key, metadata={
                "rows_quarantined": result.rows_quarantined,
                "by_reason": dg.MetadataValue.md(report.markdown_table(
                    ["reason", "rows"], list(result.by_reason().items()) or [("(none)", 0)])),
                "dagster/row_count": report._count(warehouse, quote_ident(spec.quarantine_table)),
            })
        wanted = {k.name for k in context.selected_asset_check_keys}
        yield from (c for c in _checks(warehouse, spec, result, config) if c.check_name in wanted)

    _ingest.__doc__ = f"Validate source {spec.name}'s rows for the partition range and write both tables."
    return _ingest


def _checks(warehouse: Warehouse, spec: SourceSpec, result: IngestionResult,
            config: SourceIngestionConfig) -> list[dg.AssetCheckResult]:
    raw_key = dg.AssetKey(spec.raw_table)
    table, rid = quote_ident(spec.raw_table), quote_ident(spec.row_id)
    lo, hi = sql_literal(result.start), sql_literal(result.end)
    dups = warehouse.fetch_all(
        f"SELECT {rid} FROM {table} WHERE {rid} IN (SELECT {rid} FROM {table} WHERE event_date >= {lo} "
        f"AND event_date < {hi}) GROUP BY {rid} HAVING COUNT(*) > 1 ORDER BY {rid} LIMIT 11")
    bad_files = result.sync.with_status("quarantined")
    return [
        dg.AssetCheckResult(
            check_name=QUARANTINE_RATE, asset_key=raw_key,
            passed=result.quarantine_rate <= config.max_quarantine_rate,
            metadata={"quarantine_rate": float(result.quarantine_rate),
                      "threshold": config.max_quarantine_rate, "rows_read": result.rows_read,
                      "rows_quarantined": result.rows_quarantined}),
        dg.AssetCheckResult(
            check_name=NO_DUPLICATES, asset_key=raw_key, passed=not dups,
            metadata={"duplicate_ids": len(dups) if len(dups) <= 10 else "more than 10",
                      "sample": ", ".join(str(r[0]) for r in dups[:10])}),
        dg.AssetCheckResult(
            check_name=FILES_READABLE, asset_key=raw_key, passed=not bad_files,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"unreadable_files": len(bad_files), "files": dg.MetadataValue.md(report.markdown_table(
                ["source_file", "error"], [(f.source_file, f.detail) for f in bad_files]))}),
    ]


def _raw_metadata(warehouse: Warehouse, spec: SourceSpec, result: IngestionResult) -> dict:
    lo, hi = sql_literal(result.start), sql_literal(result.end)
    table = quote_ident(spec.raw_table)
    preview = warehouse.fetch_df(f"SELECT * FROM {table} WHERE event_date >= {lo} AND event_date < {hi} "
                                 f"ORDER BY {spec.event_time}, {spec.row_id} LIMIT 5")
    return {
        "rows_read": result.rows_read, "rows_accepted": result.rows_accepted,
        "rows_quarantined": result.rows_quarantined, "quarantine_rate": float(result.quarantine_rate),
        "dagster/row_count": report._count(warehouse, table),
        **report.findings_metadata(result.findings),
        "preview": dg.MetadataValue.md(report.markdown_table(
            list(preview.columns), list(preview.itertuples(index=False, name=None)))),
        "dagster/column_schema": report.column_schema(raw_columns(spec)),
    }


def source_job_and_sensor(spec: SourceSpec):
    """(the ingestion job of `spec`, its landing sensor or None for a table source)."""
    job = dg.define_asset_job(
        f"ingest_{spec.name}_job", selection=dg.AssetSelection.assets(spec.raw_table, spec.quarantine_table),
        description=f"Ingest source {spec.name} into {spec.raw_table} and {spec.quarantine_table} for a day range.")
    if spec.table is not None:
        return job, None  # a table has no files to watch: schedule or materialize it

    time_column = spec.column(spec.event_time).source  # the days a file covers, from its own times

    @dg.sensor(name=f"{spec.name}_landing_sensor", job=job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.STOPPED)
    def _sensor(context: dg.SensorEvaluationContext, homes: HomesResource) -> dg.SensorResult:
        pdef = partitions.daily_partitions
        last = pdef.get_last_partition_key()
        runs, seen = plan(list_landing_files(landing_dir(spec, homes.homes())), load_cursor(context.cursor),
                          first_day=dt.date.fromisoformat(pdef.get_first_partition_key()),
                          last_day=dt.date.fromisoformat(last) if last else None,
                          dates_of=lambda f: scan_dates(f, time_column), ingested=set())
        requests = []
        for run in runs:
            first, last_day = run.first_day.isoformat(), run.last_day.isoformat()
            if first == last_day:
                requests.append(dg.RunRequest(run_key=run.run_key, partition_key=first))
            else:
                requests.append(dg.RunRequest(run_key=run.run_key, tags=range_tags(first, last_day)))
        return dg.SensorResult(run_requests=requests, cursor=dump_cursor(seen))

    _sensor.__doc__ = f"New or changed files in source {spec.name}'s landing folder trigger its ingestion."
    return job, _sensor


def definitions(catalog: SourceCatalog) -> dg.Definitions:
    """Assets, jobs and sensors of every configured source except the churn example's."""
    assets, jobs, sensors = [], [], []
    for spec in catalog.sources:
        if spec.name == DEFAULT_SOURCE:
            continue
        assets.append(source_assets(spec))
        job, sensor = source_job_and_sensor(spec)
        jobs.append(job)
        if sensor is not None:
            sensors.append(sensor)
    return dg.Definitions(assets=assets, jobs=jobs, sensors=sensors)
