"""Dagster metadata for an ingestion run: counts, Markdown tables, previews, column schemas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from feature_factory import markdown as md
from feature_factory import tables
from feature_factory.events.contract import QUARANTINE_COLUMNS, RAW_EVENTS_COLUMNS
from feature_factory.events.ingestion import IngestionResult
from feature_factory.warehouse.base import Warehouse, sql_literal

MAX_TABLE_ROWS = 50


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return md.table(headers, rows, max_rows=MAX_TABLE_ROWS)


def column_schema(columns) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, t, d in columns])


def _count(warehouse: Warehouse, table: str) -> int:
    return int(warehouse.fetch_one(f"SELECT COUNT(*) FROM {table}")[0])


def _preview(warehouse: Warehouse, sql: str) -> dg.MetadataValue:
    df = warehouse.fetch_df(sql)
    return dg.MetadataValue.md(markdown_table(list(df.columns), list(df.itertuples(index=False, name=None))))


def findings_metadata(findings: list[dict]) -> dict:
    """The schema-drift findings of a run's files (rows of landing_schema_drift) as asset metadata."""
    return {
        "schema_drift_findings_count": len(findings),
        "schema_drift_findings": dg.MetadataValue.md(markdown_table(
            ["source_file", "kind", "column", "action", "severity", "detail"],
            [(f["source_file"], f["kind"], f["column_name"], f["action"], f["severity"], f["detail"])
             for f in findings])),
    }


def raw_events_metadata(warehouse: Warehouse, result: IngestionResult) -> dict:
    lo, hi = sql_literal(result.start), sql_literal(result.end)
    findings = result.findings
    files = result.sync
    return {
        "partition_range": f"{result.start} .. {result.end - dt.timedelta(days=1)}",
        "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted,
        "rows_quarantined": result.rows_quarantined,
        "quarantine_rate": float(round(result.quarantine_rate, 6)),
        "dagster/row_count": _count(warehouse, tables.RAW_EVENTS.name),
        # Per-partition count only when the run is one partition (a range run reports its total).
        **({"dagster/partition_row_count": result.rows_accepted}
           if result.end - result.start == dt.timedelta(days=1) else {}),
        "quarantine_by_reason": dg.MetadataValue.md(
            markdown_table(["reason", "rows"], list(result.by_reason().items()))),
        "rows_by_file": dg.MetadataValue.md(markdown_table(
            ["source_file", "read", "accepted", "quarantined"],
            [(f, c["read"], c["accepted"], c["quarantined"]) for f, c in result.by_file().items()])),
        "landing_files": dg.MetadataValue.md(markdown_table(
            ["status", "files"],
            [(s, len(files.with_status(s))) for s in ("staged", "unchanged", "quarantined")
             if files.with_status(s)])),
        "file_errors": dg.MetadataValue.md(markdown_table(
            ["source_file", "error"], [(f.source_file, f.detail) for f in files.with_status("quarantined")])),
        **findings_metadata(findings),
        "preview": _preview(warehouse, "SELECT event_id, customer_id, event_type, channel, amount, event_ts, "
                                       "CAST(event_date AS VARCHAR) AS event_date, source_file, source_row "
                                       f"FROM raw_events WHERE event_date >= {lo} AND event_date < {hi} "
                                       "ORDER BY event_ts, event_id LIMIT 10"),
        "dagster/column_schema": column_schema(RAW_EVENTS_COLUMNS),
    }


def quarantine_metadata(warehouse: Warehouse, result: IngestionResult, now: dt.datetime) -> dict:
    lo, hi = sql_literal(result.start), sql_literal(result.end)
    this_run = (f"(event_date >= {lo} AND event_date < {hi}) OR "
                f"(event_date IS NULL AND quarantined_at = {sql_literal(now)})")
    return {
        "rows_quarantined": result.rows_quarantined,
        "quarantine_by_reason": dg.MetadataValue.md(
            markdown_table(["reason", "rows"], list(result.by_reason().items()))),
        "dagster/row_count": _count(warehouse, "quarantined_events"),
        "preview": _preview(warehouse, "SELECT source_file, source_row, reason, event_id, amount, event_ts, "
                                       f"CAST(event_date AS VARCHAR) AS event_date, detail FROM quarantined_events WHERE {this_run} "
                                       "ORDER BY source_file, source_row LIMIT 10"),
        "dagster/column_schema": column_schema(QUARANTINE_COLUMNS),
    }
