"""Quality gates on raw_events, evaluated in the ingestion step itself (so they see the run's own
counts and partition range) and declared as check specs of the ingestion multi-asset."""

from __future__ import annotations

import dagster as dg

from feature_factory import tables
from feature_factory.events import quality
from feature_factory.events.contract import IngestionConfig
from feature_factory.events.ingestion import IngestionResult
from feature_factory.events.report import markdown_table
from feature_factory.warehouse.base import Warehouse

QUARANTINE_RATE = "quarantine_rate_under_threshold"
NO_DUPLICATES = "no_duplicate_event_id"
FRESHNESS = "freshness"
FILES_READABLE = "landing_files_readable"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        QUARANTINE_RATE, asset=tables.RAW_EVENTS.name, blocking=True,
        description="Quarantined / read rows of the run stay at or under "
        "`max_quarantine_rate`; above it, downstream assets do not run."),
    dg.AssetCheckSpec(
        NO_DUPLICATES, asset=tables.RAW_EVENTS.name, blocking=True,
        description="No event_id written by the run is stored twice anywhere in raw_events."),
    dg.AssetCheckSpec(
        FRESHNESS, asset=tables.RAW_EVENTS.name,
        description="Each day of the run's range has an event within `freshness_lag_hours` of "
        "the day's end (warning)."),
    dg.AssetCheckSpec(
        FILES_READABLE, asset=tables.RAW_EVENTS.name,
        description="Every file in the landing folder is a readable CSV/Parquet file (warning; "
        "bad files are quarantined at file level and the others are ingested)."),
]


def evaluate(warehouse: Warehouse, result: IngestionResult, config: IngestionConfig) -> list[dg.AssetCheckResult]:
    rate = result.quarantine_rate
    n_dups, sample = quality.duplicate_event_ids(warehouse, result.start, result.end)
    newest = quality.newest_event_by_day(warehouse, result.start, result.end)
    stale = quality.stale_days(newest, result.start, result.end, config.freshness_lag_hours)
    bad_files = result.sync.with_status("quarantined")
    warn = dg.AssetCheckSeverity.WARN
    return [
        dg.AssetCheckResult(
            check_name=QUARANTINE_RATE, asset_key=tables.RAW_EVENTS.name,
            passed=rate <= config.max_quarantine_rate,
            metadata={"quarantine_rate": float(rate), "threshold": config.max_quarantine_rate,
                      "rows_read": result.rows_read, "rows_quarantined": result.rows_quarantined}),
        dg.AssetCheckResult(
            check_name=NO_DUPLICATES, asset_key=tables.RAW_EVENTS.name, passed=n_dups == 0,
            metadata={"duplicate_event_ids": n_dups, "sample": ", ".join(sample)}),
        dg.AssetCheckResult(
            check_name=FRESHNESS, asset_key=tables.RAW_EVENTS.name, passed=not stale, severity=warn,
            metadata={"lag_hours": config.freshness_lag_hours, "stale_days": len(stale),
                      "days": dg.MetadataValue.md(markdown_table(
                          ["day", "newest event"], [(d, ts or "no events") for d, ts in stale]))}),
        dg.AssetCheckResult(
            check_name=FILES_READABLE, asset_key=tables.RAW_EVENTS.name, passed=not bad_files, severity=warn,
            metadata={"unreadable_files": len(bad_files), "files": dg.MetadataValue.md(markdown_table(
                ["source_file", "error"], [(f.source_file, f.detail) for f in bad_files]))}),
    ]
