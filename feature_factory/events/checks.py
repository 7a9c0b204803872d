"""Quality gates on a source's raw table, evaluated in the ingestion step itself (so they see the
run's own counts and partition range) and declared as check specs of the ingestion multi-asset."""

from __future__ import annotations

import dagster as dg

from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import quality
from feature_factory.events.config import SourceIngestionConfig
from feature_factory.events.ingestion import IngestionResult
from feature_factory.events.report import markdown_table
from feature_factory.warehouse.base import Warehouse

QUARANTINE_RATE = "quarantine_rate_under_threshold"
NO_DUPLICATES = "no_duplicate_event_id"  # the churn example's name for its duplicates check
NO_DUPLICATE_ROWS = "no_duplicate_row_id"  # every other source's
FRESHNESS = "freshness"
FILES_READABLE = "landing_files_readable"


def check_specs(spec: SourceSpec, duplicates: str) -> list[dg.AssetCheckSpec]:
    raw = spec.raw_table
    return [
        dg.AssetCheckSpec(
            QUARANTINE_RATE, asset=raw, blocking=True,
            description="Quarantined / read rows of the run stay at or under "
            "`max_quarantine_rate`; above it, downstream assets do not run."),
        dg.AssetCheckSpec(
            duplicates, asset=raw, blocking=True,
            description=f"No {spec.row_id} written by the run is stored twice anywhere in {raw}."),
        dg.AssetCheckSpec(
            FRESHNESS, asset=raw,
            description="Each day of the run's range has an event within `freshness_lag_hours` of "
            "the day's end (warning)."),
        dg.AssetCheckSpec(
            FILES_READABLE, asset=raw,
            description="Every file in the landing folder is a readable CSV/Parquet file with the columns "
            "the source reads (warning; bad files are quarantined at file level and the others are ingested)."),
    ]


def evaluate(warehouse: Warehouse, spec: SourceSpec, result: IngestionResult, config: SourceIngestionConfig,
             duplicates: str) -> list[dg.AssetCheckResult]:
    raw = spec.raw_table
    rate = result.quarantine_rate
    n_dups, sample = quality.duplicate_ids(warehouse, raw, spec.row_id, result.start, result.end)
    newest = quality.newest_event_by_day(warehouse, result.start, result.end, raw, spec.event_time)
    dated = quality.date_only(newest, spec.column(spec.event_time).format)
    fresh_on = spec.check_enabled("freshness")  # a source's `checks: {freshness: false}`
    stale = quality.stale_days(newest, result.start, result.end, config.freshness_lag_hours, dated) if fresh_on else []
    bad_files = result.sync.with_status("quarantined")
    warn = dg.AssetCheckSeverity.WARN
    return [
        dg.AssetCheckResult(
            check_name=QUARANTINE_RATE, asset_key=raw, passed=rate <= config.max_quarantine_rate,
            metadata={"quarantine_rate": float(rate), "threshold": config.max_quarantine_rate,
                      "rows_read": result.rows_read, "rows_quarantined": result.rows_quarantined}),
        dg.AssetCheckResult(
            check_name=duplicates, asset_key=raw, passed=n_dups == 0,
            metadata={f"duplicate_{spec.row_id}s": n_dups, "sample": ", ".join(sample)}),
        dg.AssetCheckResult(
            check_name=FRESHNESS, asset_key=raw, passed=not stale, severity=warn,
            description=None if fresh_on else f"turned off by source {spec.name!r} (checks.freshness: false)",
            metadata={"lag_hours": config.freshness_lag_hours, "stale_days": len(stale), "date_only": dated,
                      "days": dg.MetadataValue.md(markdown_table(
                          ["day", "newest event"], [(d, ts or "no events") for d, ts in stale]))}),
        dg.AssetCheckResult(
            check_name=FILES_READABLE, asset_key=raw, passed=not bad_files, severity=warn,
            metadata={"unreadable_files": len(bad_files), "files": dg.MetadataValue.md(markdown_table(
                ["source_file", "error"], [(f.source_file, f.detail) for f in bad_files]))}),
    ]
