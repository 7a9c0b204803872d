"""Stage landing files into the warehouse once per file version.

Every landing file is loaded (as text) into `landing_rows`, with its values parsed and row-level
problems classified in the same INSERT. A file is re-read only when its content, or the settings
that change how it is read, change (`landing_files` remembers size, mtime, content hash and the
staging key), so a daily run does not re-parse 90 unchanged files.

Rows whose time puts them in no partition (unparseable, in the future, before the first
partition) and whole-file rejections are quarantined here, exactly once per file version: no
partition run owns them, so none could replace them.

Staged rows are durable: a file that later leaves the landing folder (archived) keeps its rows,
so re-materializing a partition does not lose data; a file rewritten under the same name replaces
its rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from feature_factory.events import schema_drift
from feature_factory.events.contract import (
    CHANNELS, EVENT_TYPES, QUARANTINE_COLUMNS, RAW_EVENTS_COLUMNS, IngestionConfig, Reason, reason_detail_sql,
)
from feature_factory.events.landing import LandingFile, inspect_file, list_landing_files
from feature_factory.warehouse.base import Session, Warehouse, WarehouseError, quote_ident, sql_literal

log = logging.getLogger(__name__)

LANDING_ROWS = "landing_rows"
LANDING_FILES = "landing_files"
_DDL = {
    "raw_events": RAW_EVENTS_COLUMNS,
    "quarantined_events": QUARANTINE_COLUMNS,
    LANDING_ROWS: [(c, t, "") for c, t in [
        ("source_file", "VARCHAR"), ("file_fingerprint", "VARCHAR"), ("source_row", "BIGINT"),
        ("event_id", "VARCHAR"), ("customer_id", "VARCHAR"), ("event_type", "VARCHAR"),
        ("channel", "VARCHAR"), ("amount", "VARCHAR"), ("event_ts", "VARCHAR"),
        ("amount_value", "DOUBLE"), ("event_ts_value", "TIMESTAMP"), ("event_date", "DATE"),
        ("row_reason", "VARCHAR"), ("staged_at", "TIMESTAMP")]],
    LANDING_FILES: [(c, t, "") for c, t in [
        ("source_file", "VARCHAR"), ("format", "VARCHAR"), ("size_bytes", "BIGINT"),
        ("mtime_ns", "BIGINT"), ("file_fingerprint", "VARCHAR"), ("staging_key", "VARCHAR"),
        ("status", "VARCHAR"), ("detail", "VARCHAR"), ("file_columns", "VARCHAR"),
        ("rows_staged", "BIGINT"), ("min_event_date", "DATE"), ("max_event_date", "DATE"),
        ("staged_at", "TIMESTAMP")]],
}
_RAW = ("event_id", "customer_id", "event_type", "channel", "amount", "event_ts")
_Q_COLS = ", ".join(c for c, _, _ in QUARANTINE_COLUMNS)


@dataclass
class FileStatus:
    source_file: str
    fingerprint: str | None
    status: str  # staged | unchanged | quarantined | schema_failed
    detail: str = ""
    findings: list[schema_drift.Finding] = field(default_factory=list)
    undated: dict[str, int] = field(default_factory=dict)  # reason -> rows quarantined now


@dataclass
class SyncReport:
    files: list[FileStatus] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[FileStatus]:
        return [f for f in self.files if f.status in statuses]


def ensure_tables(session: Session) -> None:
    for table, cols in _DDL.items():
        body = ", ".join(f"{c} {t}" for c, t, _ in cols)
        session.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} ({body})")
    session.execute(schema_drift.SCHEMA_DRIFT_DDL)


def sync_landing(
    warehouse: Warehouse, landing_dir: Path, config: IngestionConfig, start_date: dt.date,
    now: dt.datetime,
) -> SyncReport:
    """Stage every new or changed landing file. Raises `SchemaDriftError` (after staging the
    others and recording the findings) when a file's drift is configured to fail."""
    key = config.staging_key(start_date.isoformat())
    report = SyncReport()
    # One session for the whole sync: connections are not free (a DuckDB file open costs ~20-80 ms).
    with warehouse.session() as s:
        ensure_tables(s)
        registry = {
            r[0]: r for r in s.fetch_all(
                f"SELECT source_file, size_bytes, mtime_ns, file_fingerprint, staging_key, status "
                f"FROM {LANDING_FILES}")
        }
        for f in list_landing_files(landing_dir):
            reg = registry.get(f.rel)
            reusable = reg is not None and reg[4] == key and reg[5] != "schema_failed"
            if reusable and f"{reg[1]}:{reg[2]}" == f.stat_key:
                report.files.append(FileStatus(f.rel, reg[3], "unchanged"))
                continue
            fingerprint, problem = inspect_file(f)
            if reusable and reg[3] == fingerprint:  # touched, not changed
                s.execute(f"UPDATE {LANDING_FILES} SET size_bytes = ?, mtime_ns = ? WHERE source_file = ?",
                          [f.size, f.mtime_ns, f.rel])
                report.files.append(FileStatus(f.rel, fingerprint, "unchanged"))
                continue
            report.files.append(_stage(warehouse, s, f, fingerprint, problem, config, key, start_date, now,
                                       known=reg is not None))
    failed = report.with_status("schema_failed")
    if failed:
        raise schema_drift.SchemaDriftError("; ".join(f.detail for f in failed))
    return report


def _stage(warehouse, s: Session, f: LandingFile, fingerprint, problem, config, key, start_date, now,
           known: bool) -> FileStatus:
    if f.fmt is None:
        return _quarantine_file(s, f, fingerprint, key, now, Reason.UNSUPPORTED_FILE_TYPE,
                                f"landing file {f.path}: unsupported file type "
                                f"{f.path.suffix or '(none)'!r}; expected .csv or .parquet")
    if problem:
        return _quarantine_file(s, f, fingerprint, key, now, Reason.UNREADABLE_FILE,
                                f"landing file {f.path}: {problem}")
    tmp = f"landing_stage_{uuid.uuid4().hex[:12]}"
    try:
        try:
            columns = warehouse.stage_file(f.path, f.fmt, tmp)
        except WarehouseError as exc:
            return _quarantine_file(s, f, fingerprint, key, now, Reason.UNREADABLE_FILE,
                                    str(exc).splitlines()[0])
        source, _ = schema_drift.map_columns(columns, config.schema_drift)
        if not any(source.values()):
            return _quarantine_file(s, f, fingerprint, key, now, Reason.UNREADABLE_FILE,
                                    f"landing file {f.path}: no contract column in its header "
                                    f"(found {', '.join(columns) or 'none'})")
        outcome = schema_drift.assess(warehouse, s, tmp, columns, config.schema_drift)
        status = FileStatus(f.rel, fingerprint, "staged", findings=outcome.findings)
        now_sql = sql_literal(now)
        with s.transaction():
            if known:  # a first-seen file has nothing to replace
                _forget(s, f.rel)
            if outcome.failures:
                status.status = "schema_failed"
                status.detail = schema_drift.failure_message(str(f.path), outcome.failures)
            else:
                s.execute(_insert_rows_sql(warehouse, tmp, outcome, config, start_date, now),
                          [f.rel, fingerprint])
                s.execute(f"INSERT INTO quarantined_events ({_Q_COLS}) SELECT source_file, source_row, "
                          f"file_fingerprint, {', '.join(_RAW)}, row_reason, {reason_detail_sql()}, "
                          f"CAST(NULL AS DATE), {now_sql} FROM {LANDING_ROWS} "
                          "WHERE source_file = ? AND event_date IS NULL", [f.rel])
            schema_drift.record(s, f.rel, fingerprint, outcome.findings, now_sql)
            _register(s, f, fingerprint, key, status.status, status.detail, ",".join(columns), now)
        status.undated = {
            r[0]: int(r[1]) for r in s.fetch_all(
                f"SELECT row_reason, COUNT(*) FROM {LANDING_ROWS} WHERE source_file = ? "
                "AND event_date IS NULL GROUP BY row_reason", [f.rel])
        }
    finally:
        s.execute(f"DROP TABLE IF EXISTS {tmp}")
    if status.status == "schema_failed":
        log.error(status.detail)
    return status


def _forget(s: Session, source_file: str) -> None:
    """Drop what an earlier version of the file staged (its partition rows are replaced when
    those partitions are re-materialized)."""
    s.execute(f"DELETE FROM {LANDING_ROWS} WHERE source_file = ?", [source_file])
    s.execute("DELETE FROM quarantined_events WHERE source_file = ? AND event_date IS NULL", [source_file])


def _quarantine_file(s: Session, f: LandingFile, fingerprint, key, now, reason: Reason, detail) -> FileStatus:
    log.error(detail)
    with s.transaction():
        _forget(s, f.rel)
        s.execute(f"INSERT INTO quarantined_events ({_Q_COLS}) VALUES (?, NULL, ?, NULL, NULL, NULL, NULL, "
                  f"NULL, NULL, ?, ?, NULL, {sql_literal(now)})", [f.rel, fingerprint, reason.value, detail])
        schema_drift.record(s, f.rel, fingerprint, [], sql_literal(now))
        _register(s, f, fingerprint, key, "quarantined", detail, "", now)
    return FileStatus(f.rel, fingerprint, "quarantined", detail, undated={reason.value: 1})


def _register(s: Session, f: LandingFile, fingerprint, key, status, detail, columns, now) -> None:
    s.execute(f"DELETE FROM {LANDING_FILES} WHERE source_file = ?", [f.rel])
    s.execute(
        f"INSERT INTO {LANDING_FILES} SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, COUNT(*), MIN(event_date), "
        f"MAX(event_date), {sql_literal(now)} FROM {LANDING_ROWS} WHERE source_file = ?",
        [f.rel, f.fmt or "", f.size, f.mtime_ns, fingerprint, key, status, detail, columns, f.rel],
    )


def _insert_rows_sql(warehouse, tmp, outcome, config: IngestionConfig, start_date, now) -> str:
    future = sql_literal(now + dt.timedelta(minutes=config.future_tolerance_minutes))
    start = sql_literal(dt.datetime.combine(start_date, dt.time()))
    types = ", ".join(sql_literal(v) for v in EVENT_TYPES)
    channels = ", ".join(sql_literal(v) for v in CHANNELS)
    blank = "({0} IS NULL OR TRIM({0}) = '')"
    dated = f"event_ts_value IS NOT NULL AND event_ts_value <= {future} AND event_ts_value >= {start}"
    reason = f"""CASE
        WHEN {blank.format('event_id')} OR {blank.format('customer_id')} THEN '{Reason.NULL_OR_EMPTY_KEY.value}'
        WHEN event_ts_value IS NULL THEN '{Reason.UNPARSEABLE_TIMESTAMP.value}'
        WHEN event_ts_value > {future} THEN '{Reason.TIMESTAMP_IN_FUTURE.value}'
        WHEN event_ts_value < {start} THEN '{Reason.TIMESTAMP_BEFORE_START.value}'
        WHEN event_type IS NULL OR LOWER(TRIM(event_type)) NOT IN ({types}) THEN '{Reason.UNKNOWN_EVENT_TYPE.value}'
        WHEN channel IS NULL OR LOWER(TRIM(channel)) NOT IN ({channels}) THEN '{Reason.UNKNOWN_CHANNEL.value}'
        WHEN NOT {blank.format('amount')} AND (amount_value IS NULL
             OR NOT (amount_value > -1e308 AND amount_value < 1e308)) THEN '{Reason.NON_NUMERIC_AMOUNT.value}'
        WHEN amount_value < 0 THEN '{Reason.NEGATIVE_AMOUNT.value}'
    END"""
    raw = ", ".join(f"{outcome.raw(c)} AS {c}" for c in _RAW)
    cols = ", ".join(c for c, _, _ in _DDL[LANDING_ROWS])
    return f"""INSERT INTO {LANDING_ROWS} ({cols}) SELECT ?, ?, source_row, {', '.join(_RAW)}, amount_value,
        event_ts_value, CASE WHEN {dated} THEN CAST(event_ts_value AS DATE) END, {reason}, {sql_literal(now)}
        FROM (SELECT CAST(source_row AS BIGINT) AS source_row, {raw},
              {outcome.amount_expr} AS amount_value, {outcome.ts_expr} AS event_ts_value
              FROM {quote_ident(tmp)}) p"""
