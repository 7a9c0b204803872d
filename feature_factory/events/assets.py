"""One asset factory for every source: one ingestion multi-asset writing the source's raw and
quarantine tables (and, in `sensors.py`, its job and landing sensor).

Asset keys are the source's table names; descriptions and column schemas come from the source's
entry in the sources file, and so do the names of its group, job, sensor and duplicates check
(`ingestion:`; derived when not declared: group `sources`, `ingest_<source>_job`, ...). The churn
example's `events` entry declares the names users know (`ingest_events` writing `raw_events` /
`quarantined_events` in group `events`, check `no_duplicate_event_id`) and the landing contract in
code it is validated against (`contract: events`: its texts, columns and run config with the
schema-drift policy); `CHURN_EXAMPLE` is what `names_of` reads from that entry.
"""

# No `from __future__ import annotations`: Dagster reads the step function's config annotation,
# which is the source's config class (`names.config`), at definition time.
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from feature_factory import partitions
from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import checks, layout, report
from feature_factory.events import validation as rules
from feature_factory.events.config import IngestionConfig, SourceIngestionConfig
from feature_factory.events.contract import QUARANTINE_COLUMNS, RAW_EVENTS_COLUMNS, events_source
from feature_factory.events.ingestion import ingest
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


@dataclass(frozen=True)
class AssetNames:
    """What a source's ingestion is called and shows in the UI (None: derived from the spec)."""

    group: str = "sources"
    duplicates_check: str = checks.NO_DUPLICATE_ROWS
    raw_doc: str | None = None
    quarantine_doc: str | None = None
    raw_columns: layout.Columns | None = None
    quarantine_columns: layout.Columns | None = None
    config: type[SourceIngestionConfig] = SourceIngestionConfig
    job: str | None = None  # default ingest_<source>_job
    sensor: str | None = None  # default <source>_landing_sensor


# The landing contracts written in code a source may declare (`ingestion: {contract: events}`):
# descriptions and columns of its two tables, and its run config (which carries the schema-drift policy).
CONTRACTS = {"events": dict(raw_doc=RAW_EVENTS_DOC, quarantine_doc=QUARANTINE_DOC, raw_columns=RAW_EVENTS_COLUMNS,
                            quarantine_columns=QUARANTINE_COLUMNS, config=IngestionConfig)}


def names_of(spec: SourceSpec) -> AssetNames:
    """The names of `spec`'s ingestion, as its entry declares them (`ingestion:`; the churn example's
    are the contract names users know), and its contract's texts and columns when it declares one."""
    declared = spec.ingestion
    return AssetNames(group=declared.group, duplicates_check=declared.duplicates_check or checks.NO_DUPLICATE_ROWS,
                      job=declared.job, sensor=declared.sensor, **CONTRACTS.get(declared.contract, {}))


CHURN_EXAMPLE = names_of(events_source())  # the shipped churn example's names, as declared


def describe(spec: SourceSpec) -> tuple[str, str]:
    """(raw table description, quarantine table description) from the source's entry."""
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


def source_assets(spec: SourceSpec | Callable[[], SourceSpec], names: AssetNames = AssetNames()) -> dg.AssetsDefinition:
    """The ingestion multi-asset of a source. `spec` may be a function returning it, read when a
    run starts (the churn example's: its rules follow the sources file in force then)."""
    current = spec if callable(spec) else (lambda: spec)
    spec = current()
    raw_doc, q_doc = describe(spec)
    raw_cols = names.raw_columns or layout.raw_columns(spec)
    q_cols = names.quarantine_columns or layout.quarantine_columns(spec)
    raw_key, q_key = dg.AssetKey(spec.raw_table), dg.AssetKey(spec.quarantine_table)
    tags = {"feature_factory/source": spec.name, "feature_factory/entity": spec.entity}

    def asset_spec(name: str, doc: str, columns) -> dg.AssetSpec:
        return dg.AssetSpec(name, group_name=names.group, kinds={"sql", "warehouse"}, description=doc,
                            owners=[f"team:{spec.owner}"] if spec.owner else None, tags=tags,
                            metadata={"dagster/column_schema": report.column_schema(columns),
                                      "dagster/table_name": name})

    @dg.multi_asset(
        name=f"ingest_{spec.name}",
        specs=[asset_spec(spec.raw_table, names.raw_doc or raw_doc, raw_cols),
               asset_spec(spec.quarantine_table, names.quarantine_doc or q_doc, q_cols)],
        check_specs=checks.check_specs(spec, names.duplicates_check),
        partitions_def=partitions.daily_partitions,
        backfill_policy=partitions.single_run_backfill,
        # Selecting either table (e.g. `--select raw_events`) runs the one ingestion, which always
        # writes both: accepted and rejected rows of a partition are one unit.
        can_subset=True,
    )
    def _ingest(context: dg.AssetExecutionContext, config: names.config, warehouse: Warehouse,  # type: ignore[valid-type]
                homes: HomesResource):
        source = current()
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        try:
            result = ingest(warehouse, source, start, end, config, now=now, homes=homes.homes())
        except SchemaDriftError as exc:
            raise dg.Failure(description=f"schema drift configured to fail (source {source.name}): {exc}") from exc
        context.log.info(f"{source.name} [{start}, {end}): read {result.rows_read}, accepted "
                         f"{result.rows_accepted}, quarantined {result.rows_quarantined} {result.by_reason()}")
        for f in result.sync.with_status("quarantined"):
            context.log.error(f.detail)
        if raw_key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=raw_key,
                                       metadata=report.raw_metadata(warehouse, source, result, now, raw_cols))
        if q_key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=q_key,
                                       metadata=report.quarantine_metadata(warehouse, source, result, now, q_cols))
        wanted = {k.name for k in context.selected_asset_check_keys}
        yield from (c for c in checks.evaluate(warehouse, source, result, config, names.duplicates_check)
                    if c.check_name in wanted)

    _ingest.__doc__ = f"Validate source {spec.name}'s rows for the partition range and write both tables."
    return _ingest


ingest_events = source_assets(events_source, CHURN_EXAMPLE)
