"""Dagster metadata for an ingestion run of any source: counts, Markdown tables, previews, a sample
of the quarantined rows per reason, column schemas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from feature_factory import markdown as md
from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import layout
from feature_factory.events.ingestion import IngestionResult
from feature_factory.warehouse.base import Warehouse, quote_ident, sql_literal

MAX_TABLE_ROWS = 50
SAMPLES_PER_REASON = 3


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return md.table(headers, rows, max_rows=MAX_TABLE_ROWS)


def column_schema(columns) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, t, d in columns])


def _count(warehouse: Warehouse, table: str) -> int:
    return int(warehouse.fetch_one(f"SELECT COUNT(*) FROM {table}")[0])


def _preview(warehouse: Warehouse, sql: str) -> dg.MetadataValue:
    df = warehouse.fetch_df(sql)
    return dg.MetadataValue.md(markdown_table(list(df.columns), list(df.itertuples(index=False, name=None))))


def _this_run(result: IngestionResult, now: dt.datetime) -> str:
    """SQL: the quarantine rows of the run's days, and the undated ones it quarantined."""
    lo, hi = sql_literal(result.start), sql_literal(result.end)
    return (f"(event_date >= {lo} AND event_date < {hi}) OR "
            f"(event_date IS NULL AND quarantined_at = {sql_literal(now)})")


def findings_metadata(findings: list[dict]) -> dict:
    """The schema-drift findings of a run's files (rows of landing_schema_drift) as asset metadata."""
    return {
        "schema_drift_findings_count": len(findings),
        "schema_drift_findings": dg.MetadataValue.md(markdown_table(
            ["source_file", "kind", "column", "action", "severity", "detail"],
            [(f["source_file"], f["kind"], f["column_name"], f["action"], f["severity"], f["detail"])
             for f in findings])),
    }


def quarantine_samples(warehouse: Warehouse, spec: SourceSpec, result: IngestionResult, now: dt.datetime,
                       per_reason: int = SAMPLES_PER_REASON) -> list[tuple]:
    """Up to `per_reason` quarantined rows of the run per reason, first by file and row:
    (reason, detail, raw values as `column=text; ...` of the non-blank ones, source_file,
    source_row). What a user reads in the UI instead of querying the quarantine table."""
    cols = [c.name for c in spec.columns]
    table = quote_ident(spec.quarantine_table)
    rows = warehouse.fetch_all(
        f"SELECT reason, detail, {', '.join(cols)}, source_file, source_row FROM (SELECT *, ROW_NUMBER() OVER "
        f"(PARTITION BY reason ORDER BY source_file, source_row) AS ff_n FROM {table} "
        f"WHERE {_this_run(result, now)}) q WHERE ff_n <= {int(per_reason)} ORDER BY reason, source_file, source_row")
    out = []
    for reason, detail, *values in rows:
        raw, (source_file, source_row) = values[:len(cols)], values[len(cols):]
        text = "; ".join(f"{c}={v}" for c, v in zip(cols, raw) if v is not None and str(v).strip() != "")
        out.append((reason, detail, text, source_file, source_row))
    return out


def samples_metadata(warehouse: Warehouse, spec: SourceSpec, result: IngestionResult, now: dt.datetime) -> dict:
    return {"quarantine_samples": dg.MetadataValue.md(markdown_table(
        ["reason", "detail", "raw values", "source_file", "source_row"],
        quarantine_samples(warehouse, spec, result, now)))}


def raw_metadata(warehouse: Warehouse, spec: SourceSpec, result: IngestionResult, now: dt.datetime,
                 columns: layout.Columns) -> dict:
    lo, hi = sql_literal(result.start), sql_literal(result.end)
    files = result.sync
    table = quote_ident(spec.raw_table)
    declared = ", ".join(c.name for c in spec.columns)
    return {
        "partition_range": f"{result.start} .. {result.end - dt.timedelta(days=1)}",
        "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted,
        "rows_quarantined": result.rows_quarantined,
        "quarantine_rate": float(round(result.quarantine_rate, 6)),
        "dagster/row_count": _count(warehouse, table),
        # Per-partition count only when the run is one partition (a range run reports its total).
        **({"dagster/partition_row_count": result.rows_accepted}
           if result.end - result.start == dt.timedelta(days=1) else {}),
        "quarantine_by_reason": dg.MetadataValue.md(
            markdown_table(["reason", "rows"], list(result.by_reason().items()))),
        **samples_metadata(warehouse, spec, result, now),
        "rows_by_file": dg.MetadataValue.md(markdown_table(
            ["source_file", "read", "accepted", "quarantined"],
            [(f, c["read"], c["accepted"], c["quarantined"]) for f, c in result.by_file().items()])),
        "landing_files": dg.MetadataValue.md(markdown_table(
            ["status", "files"],
            [(s, len(files.with_status(s))) for s in ("staged", "unchanged", "quarantined")
             if files.with_status(s)])),
        "file_errors": dg.MetadataValue.md(markdown_table(
            ["source_file", "error"], [(f.source_file, f.detail) for f in files.with_status("quarantined")])),
        **findings_metadata(result.findings),
        "preview": _preview(warehouse, f"SELECT {declared}, CAST(event_date AS VARCHAR) AS event_date, source_file, "
                                       f"source_row FROM {table} WHERE event_date >= {lo} AND event_date < {hi} "
                                       f"ORDER BY {spec.event_time}, {spec.row_id} LIMIT 10"),
        "dagster/column_schema": column_schema(columns),
    }


def quarantine_metadata(warehouse: Warehouse, spec: SourceSpec, result: IngestionResult, now: dt.datetime,
                        columns: layout.Columns) -> dict:
    table = quote_ident(spec.quarantine_table)
    shown = ", ".join([spec.row_id, *(c.name for c in layout.typed_columns(spec))])
    return {
        "rows_quarantined": result.rows_quarantined,
        "quarantine_by_reason": dg.MetadataValue.md(
            markdown_table(["reason", "rows"], list(result.by_reason().items()))),
        "dagster/row_count": _count(warehouse, table),
        "preview": _preview(warehouse, f"SELECT source_file, source_row, reason, {shown}, "
                                       f"CAST(event_date AS VARCHAR) AS event_date, detail FROM {table} "
                                       f"WHERE {_this_run(result, now)} ORDER BY source_file, source_row LIMIT 10"),
        "dagster/column_schema": column_schema(columns),
    }
