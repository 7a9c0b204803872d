"""Dagster wiring for validated ingestion: one step writes raw_events and quarantined_events."""

import datetime as dt

import dagster as dg

from feature_factory import partitions, tables
from feature_factory.events import checks, report
from feature_factory.events.contract import QUARANTINE_COLUMNS, RAW_EVENTS_COLUMNS, IngestionConfig
from feature_factory.events.ingestion import ingest_range
from feature_factory.events.schema_drift import SchemaDriftError
from feature_factory.homes import HomesResource
from feature_factory.warehouse.base import Warehouse

RAW_EVENTS_DOC = """Validated events, one row per accepted landing row, partitioned by UTC event day.

Read from the landing folder's CSV and Parquet files (staged once per file version), checked in
the warehouse against the contract (keys present, known event_type and channel, amount a
non-negative number or blank, ISO-8601 event_ts not in the future, event_id unique within the batch
and against other partitions). Re-materializing a partition replaces it. Rejected rows go to
`quarantined_events`; schema drift is handled per the configured policy."""

QUARANTINE_DOC = """Every rejected landing row with its reason, raw values and source file/row, so
nothing is silently lost. Rows of a day are replaced with that day's partition; rows that belong to
no day (unparseable or future timestamps, unreadable files) are kept once per file version."""


def _spec(name: str, doc: str, columns) -> dg.AssetSpec:
    return dg.AssetSpec(
        name, group_name="events", kinds={"sql", "warehouse"}, description=doc,
        metadata={"dagster/column_schema": report.column_schema(columns), "dagster/table_name": name},
    )


@dg.multi_asset(
    name="ingest_events",
    specs=[_spec(tables.RAW_EVENTS.name, RAW_EVENTS_DOC, RAW_EVENTS_COLUMNS),
           _spec(tables.QUARANTINED_EVENTS.name, QUARANTINE_DOC, QUARANTINE_COLUMNS)],
    check_specs=checks.CHECK_SPECS,
    partitions_def=partitions.daily_partitions,
    backfill_policy=partitions.single_run_backfill,
    # Selecting either table (e.g. `--select raw_events`) runs the one ingestion, which always
    # writes both: accepted and rejected rows of a partition are one unit.
    can_subset=True,
)
def ingest_events(context: dg.AssetExecutionContext, config: IngestionConfig, warehouse: Warehouse,
                  homes: HomesResource):
    """Validate the landing files' rows for the partition range and write both tables."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    try:
        result = ingest_range(warehouse, start, end, config, now=now, homes=homes.homes())
    except SchemaDriftError as exc:
        raise dg.Failure(description=f"schema drift configured to fail: {exc}") from exc
    context.log.info(
        f"[{start}, {end}): read {result.rows_read}, accepted {result.rows_accepted}, "
        f"quarantined {result.rows_quarantined} {result.by_reason()}")
    for f in result.sync.with_status("quarantined"):
        context.log.error(f.detail)
    selected = context.selected_asset_keys
    if tables.RAW_EVENTS.key in selected:
        yield dg.MaterializeResult(asset_key=tables.RAW_EVENTS.name, metadata=report.raw_events_metadata(warehouse, result))
    if tables.QUARANTINED_EVENTS.key in selected:
        yield dg.MaterializeResult(asset_key=tables.QUARANTINED_EVENTS.name,
                                   metadata=report.quarantine_metadata(warehouse, result, now))
    wanted = {k.name for k in context.selected_asset_check_keys}
    yield from (c for c in checks.evaluate(warehouse, result, config) if c.check_name in wanted)
