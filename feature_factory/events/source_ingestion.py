"""Validated ingestion of any configured source (catalog/sources.yaml) over days [start, end).

The churn example's `events` source keeps its own, tuned path (`staging` + `ingestion`: schema
drift, grouped reads, malformed-record recovery). Every other source goes through this module, all
of it SQL in the warehouse, driven only by the source's spec:

1. Landing folder: each new or changed file (stat key, then content hash) is loaded by the
   backend's reader into a work table, and in one INSERT its rows are read through the column
   mapping (`from`), parsed (numbers, the event time) and given the reason of the first failing rule
   (`rules.row_rules`) into `<source>_landing_rows`. Rows in no day (bad or future time) are
   quarantined then, once per file version. An unreadable file is one file-level quarantine row
   naming it. The file's columns are judged by the source's schema-drift policy (`schema_drift:`,
   the events source's cases and logic, events/schema_drift.py): an extra column is ignored; a
   missing one quarantines the file (the default) or is read as blank, or the run fails; a number
   column or the event time whose values stopped parsing (`changed_type_min_share` of them) is
   read through a lossless cast where there is one (`12.50 USD`, epoch seconds/milliseconds), else
   its rows are quarantined as usual, or the run fails. Every finding is recorded per (source,
   file) in `landing_schema_drift`. A warehouse table source is read in place instead.
2. Over the range's rows, one statement adds the duplicate reasons (row id twice in the batch: the
   first by file, row wins; or stored in another partition), and the range's partitions of the raw
   and quarantine tables are replaced (delete + insert in one transaction).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from feature_factory import settings
from feature_factory.settings import Homes
from feature_factory.catalog.sources import ColumnSpec, SourceSpec
from feature_factory.events import rules, schema_drift, source_drift, work_tables
from feature_factory.events.ingestion import IngestionResult, read_counts
from feature_factory.events.landing import inspect_file, list_landing_files
from feature_factory.events.staging import FileStatus, SyncReport
from feature_factory.warehouse.base import Session, Warehouse, WarehouseError, quote_ident, sql_literal
from feature_factory.warehouse.landing_csv import ROW_ERROR_COLUMN

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceTables:
    """The tables of one source: the two user-facing ones and its two staging tables."""

    raw: str
    quarantine: str
    landing_rows: str
    landing_files: str


def source_tables(spec: SourceSpec) -> SourceTables:
    return SourceTables(spec.raw_table, spec.quarantine_table, f"{spec.name}_landing_rows",
                        f"{spec.name}_landing_files")


def raw_columns(spec: SourceSpec) -> list[tuple[str, str, str]]:
    """(name, SQL type, description) of the raw table: the Dagster column schema and the DDL."""
    return [(c.name, c.sql_type, c.description or f"{c.type} (read from landing column {c.source!r}).")
            for c in spec.columns] + [
        ("event_date", "DATE", f"UTC day of {spec.event_time}: the daily partition."),
        ("source_file", "VARCHAR", "Landing file relative to the landing folder (or the source table)."),
        ("source_row", "BIGINT", "1-based data row in that file (NULL for a table source)."),
        ("ingested_at", "TIMESTAMP", "When the run that wrote the row started (UTC)."),
    ]


def quarantine_columns(spec: SourceSpec) -> list[tuple[str, str, str]]:
    return [
        ("source_file", "VARCHAR", "Landing file (or source table) the row came from."),
        ("source_row", "BIGINT", "1-based data row; NULL for a file-level rejection or a table source."),
        ("file_fingerprint", "VARCHAR", "Content hash of the file version the row came from."),
        *[(c.name, "VARCHAR", "Raw text as landed.") for c in spec.columns],
        ("reason", "VARCHAR", "Quarantine reason code, from the source's rules (docs/sources.md)."),
        ("detail", "VARCHAR", "Human explanation."),
        ("event_date", "DATE", "Partition day; NULL when the row belongs to no day (bad/future time, file error)."),
        ("quarantined_at", "TIMESTAMP", "When the row was quarantined (UTC)."),
    ]


def landing_dir(spec: SourceSpec, homes: Homes | None = None) -> Path:
    """`spec`'s landing folder: its `location.landing_folder`, relative to <home>/landing of `homes`
    (default: the environment's)."""
    folder = Path(spec.landing_folder or spec.name)
    return folder if folder.is_absolute() else (homes or Homes()).landing_root() / folder


def _typed_name(column: str) -> str:
    return f"{column}__value"


def _staged_columns(spec: SourceSpec) -> list[tuple[str, str]]:
    typed = [(_typed_name(c.name), c.sql_type) for c in spec.columns if c.type != "string"]
    return ([("source_file", "VARCHAR"), ("file_fingerprint", "VARCHAR"), ("source_row", "BIGINT")]
            + [(c.name, "VARCHAR") for c in spec.columns] + typed
            + [("event_date", "DATE"), ("row_reason", "VARCHAR"), ("staged_at", "TIMESTAMP")])


_FILES_COLUMNS = [("source_file", "VARCHAR"), ("stat_key", "VARCHAR"), ("file_fingerprint", "VARCHAR"),
                  ("rules_key", "VARCHAR"), ("status", "VARCHAR"), ("detail", "VARCHAR"),
                  ("staged_at", "TIMESTAMP")]


def ensure_tables(warehouse: Warehouse, spec: SourceSpec) -> None:
    t = source_tables(spec)
    ddl = {t.raw: [(c, ty) for c, ty, _ in raw_columns(spec)],
           t.quarantine: [(c, ty) for c, ty, _ in quarantine_columns(spec)],
           t.landing_rows: _staged_columns(spec), t.landing_files: _FILES_COLUMNS}
    with warehouse.session() as s:
        for table, cols in ddl.items():
            s.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} "
                      f"({', '.join(f'{c} {ty}' for c, ty in cols)})")
            have = {c for c, _ in warehouse.session_columns(s, table)}
            for c, ty in cols:  # a column added to the source later
                if c not in have:
                    s.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {c} {ty}")


def _parsers(warehouse: Warehouse, column: ColumnSpec, text: str) -> str:
    """SQL parsing a typed column's text (numbers; ISO-8601 times, never numeric text)."""
    if column.type == "number":
        return warehouse.try_double(f"TRIM({text})")
    numeric = warehouse.try_double(f"TRIM({text})")
    return f"CASE WHEN {numeric} IS NULL THEN {warehouse.try_timestamp(f'TRIM({text})')} END"


def _row_rules(spec: SourceSpec, future: str, start: str, row_error: str | None, reference: str) -> list[rules.Rule]:
    return rules.row_rules(spec, lambda c: c, lambda c: _typed_name(c), future=future, start=start,
                           row_error=row_error, time_reference=reference)


def _rows_select(warehouse: Warehouse, spec: SourceSpec, relation: str, source_file: str, fingerprint: str,
                 source_row: str, row_error: str | None, future: str, start: str, now: str,
                 text_of=lambda c: c.source, casts: dict[str, str] | None = None) -> str:
    """SELECT of staged rows (columns of `_staged_columns`) over `relation`; `casts` replaces a typed
    column's parser (a lossless cast the schema-drift policy chose, over the column's text)."""
    casts = casts or {}
    ts = _typed_name(spec.event_time)
    dated = f"{ts} IS NOT NULL AND {ts} <= {future} AND {ts} >= {start}"
    if row_error:
        dated = f"{row_error} IS NULL AND {dated}"
    reference = "when the file was staged" if spec.table is None else "when the run started"
    case = rules.reason_case(_row_rules(spec, future, start, row_error, reference))
    texts = ", ".join(f"CAST({text_of(c)} AS VARCHAR) AS {c.name}" for c in spec.columns)
    typed = [c for c in spec.columns if c.type != "string"]
    parsed = ", ".join(f"{casts.get(c.name) or _parsers(warehouse, c, c.name)} AS {_typed_name(c.name)}"
                       for c in typed)
    err = f", {row_error}" if row_error else ""
    return f"""SELECT {source_file} AS source_file, {fingerprint} AS file_fingerprint,
            ff_source_row AS source_row, {', '.join(c.name for c in spec.columns)},
            {', '.join(_typed_name(c.name) for c in typed)},
            CASE WHEN {dated} THEN CAST({ts} AS DATE) END AS event_date, {case} AS row_reason,
            {now} AS staged_at
        FROM (SELECT *, {parsed} FROM (SELECT {texts}{err}, CAST({source_row} AS BIGINT) AS ff_source_row
              FROM {relation}) ff_text) ff_parsed"""


def sync_landing(warehouse: Warehouse, spec: SourceSpec, folder: Path, start_date: dt.date, now: dt.datetime,
                 future_tolerance_minutes: float) -> SyncReport:
    """Stage every new or changed landing file of `spec` (once per file version and rules). Raises
    `SchemaDriftError` naming the files, after staging the others, when the policy says `fail`."""
    t = source_tables(spec)
    future = sql_literal(now + dt.timedelta(minutes=future_tolerance_minutes))
    start, now_sql = sql_literal(dt.datetime.combine(start_date, dt.time())), sql_literal(now)
    # A changed rule, mapping, policy or start day re-judges every file.
    rules_key = hashlib.sha256(repr((spec, start_date.isoformat(), future_tolerance_minutes)).encode()).hexdigest()[:16]
    report = SyncReport()
    failed: list[str] = []
    with warehouse.session() as s:
        work_tables.drop_leftovers(warehouse, s)  # of a killed run
        schema_drift.ensure_table(warehouse, s)
        registry = {r[0]: r[1:] for r in s.fetch_all(
            f"SELECT source_file, stat_key, file_fingerprint, rules_key FROM {t.landing_files}")}
        for f in list_landing_files(folder):
            old = registry.get(f.rel)
            if old and old[0] == f.stat_key and old[2] == rules_key:
                report.files.append(FileStatus(f.rel, old[1], "unchanged"))
                continue
            fingerprint, problem = inspect_file(f)
            if old and old[1] == fingerprint and old[2] == rules_key:
                s.execute(f"UPDATE {t.landing_files} SET stat_key = ? WHERE source_file = ?", [f.stat_key, f.rel])
                report.files.append(FileStatus(f.rel, fingerprint, "unchanged"))
                continue
            if f.fmt is None:
                problem = (rules.UNSUPPORTED_FILE_TYPE, f"landing file {f.path}: unsupported file type "
                           f"{f.path.suffix or '(none)'!r}; expected .csv, .csv.gz or .parquet")
            elif problem:
                problem = (rules.UNREADABLE_FILE, f"landing file {f.path}: {problem}")
            tmp = work_tables.new_name("landing_stage")
            findings: list[schema_drift.Finding] = []
            try:
                if problem is None:
                    try:
                        columns = warehouse.stage_file(f.path, f.fmt, tmp)
                    except WarehouseError as exc:
                        problem = (rules.UNREADABLE_FILE, str(exc).splitlines()[0])
                    else:
                        mapping, findings, problem = source_drift.judge_columns(spec, f.path, columns)
                with s.transaction():
                    _forget(s, t, f.rel)
                    if problem is None and not schema_drift.failures(findings):
                        findings = _stage_rows(warehouse, s, spec, tmp, f.rel, fingerprint, mapping, findings,
                                               future, start, now_sql)
                    if problem is None and schema_drift.failures(findings):
                        s.execute(f"DELETE FROM {t.landing_rows} WHERE source_file = ?", [f.rel])
                        detail = schema_drift.failure_message(str(f.path), schema_drift.failures(findings))
                        log.error(detail)
                        failed.append(detail)
                        status = FileStatus(f.rel, fingerprint, "schema_failed", detail, findings=findings)
                    elif problem is None:
                        undated = _quarantine_undated(s, spec, f.rel, now_sql)
                        status = FileStatus(f.rel, fingerprint, "staged", findings=findings, undated=undated)
                    else:
                        reason, detail = problem
                        log.error(detail)
                        cols = [c for c, _, _ in quarantine_columns(spec)]
                        values = {"source_file": "?", "file_fingerprint": "?", "reason": "?", "detail": "?",
                                  "quarantined_at": now_sql}
                        s.execute(f"INSERT INTO {t.quarantine} ({', '.join(cols)}) VALUES "
                                  f"({', '.join(values.get(c, 'NULL') for c in cols)})",
                                  [f.rel, fingerprint, reason, detail])
                        status = FileStatus(f.rel, fingerprint, "quarantined", detail, findings=findings,
                                            undated={reason: 1})
                    schema_drift.record(s, f.rel, fingerprint, findings, now_sql, source=spec.name)
                    # A failed file keeps no rules key: the next run reads it again.
                    key = "" if status.status == "schema_failed" else rules_key
                    s.execute(f"INSERT INTO {t.landing_files} ({', '.join(c for c, _ in _FILES_COLUMNS)}) "
                              f"VALUES (?, ?, ?, ?, ?, ?, {now_sql})",
                              [f.rel, f.stat_key, fingerprint, key, status.status, status.detail])
            finally:
                s.execute(f"DROP TABLE IF EXISTS {tmp}")
            report.files.append(status)
    if failed:
        raise schema_drift.SchemaDriftError("; ".join(failed))
    return report


def _stage_rows(warehouse: Warehouse, s: Session, spec: SourceSpec, relation: str, rel: str, fingerprint: str,
                mapping: dict[str, str | None], findings: list, future: str, start: str, now_sql: str) -> list:
    """Insert the file's rows into its landing rows; judge a changed type of its number columns and
    event time from the staged values, re-reading the file through a lossless cast when the policy
    allows one. Returns the findings, with the changed types added (a `fail` one leaves the rows
    for the caller to drop)."""
    t = source_tables(spec)
    text_of = lambda c: mapping[c.name] or "CAST(NULL AS VARCHAR)"  # noqa: E731

    def insert(casts: dict[str, str] | None = None) -> None:
        s.execute(f"INSERT INTO {t.landing_rows} ({', '.join(c for c, _ in _staged_columns(spec))}) "
                  + _rows_select(warehouse, spec, relation, sql_literal(rel), sql_literal(fingerprint), "source_row",
                                 ROW_ERROR_COLUMN, future, start, now_sql, text_of=text_of, casts=casts))

    insert()
    found, casts = source_drift.judge_types(warehouse, s, spec, t.landing_rows, rel, mapping, _typed_name)
    findings = [*findings, *found]
    if casts and not schema_drift.failures(findings):
        s.execute(f"DELETE FROM {t.landing_rows} WHERE source_file = ?", [rel])
        insert(casts)
    return findings


def _forget(s: Session, t: SourceTables, rel: str) -> None:
    s.execute(f"DELETE FROM {t.landing_rows} WHERE source_file = ?", [rel])
    s.execute(f"DELETE FROM {t.quarantine} WHERE source_file = ? AND event_date IS NULL", [rel])
    s.execute(f"DELETE FROM {t.landing_files} WHERE source_file = ?", [rel])


def _quarantine_undated(s: Session, spec: SourceSpec, rel: str | None, now_sql: str,
                        relation: str | None = None) -> dict[str, int]:
    """Quarantine the rows of no day (once per file version); returns reason -> rows."""
    t = source_tables(spec)
    relation = relation or t.landing_rows
    where = "event_date IS NULL" + (f" AND source_file = {sql_literal(rel)}" if rel else "")
    cols = [c for c, _, _ in quarantine_columns(spec)]
    exprs = {"reason": "row_reason", "detail": rules.detail_sql(rules.texts(spec)),
             "event_date": "CAST(NULL AS DATE)", "quarantined_at": now_sql}
    s.execute(f"INSERT INTO {t.quarantine} ({', '.join(cols)}) SELECT "
              f"{', '.join(exprs.get(c, c) for c in cols)} FROM {relation} WHERE {where}")
    return {r: int(n) for r, n in s.fetch_all(
        f"SELECT row_reason, COUNT(*) FROM {relation} WHERE {where} GROUP BY row_reason")}


def ingest_source_range(
    warehouse: Warehouse, spec: SourceSpec, start: dt.date, end: dt.date, *, folder: Path | None = None,
    now: dt.datetime | None = None, start_date: dt.date | None = None, future_tolerance_minutes: float = 5.0,
) -> IngestionResult:
    """Ingest `spec`'s rows whose UTC event day is in [start, end) into its raw and quarantine tables."""
    if end <= start:
        raise ValueError(f"empty partition range [{start}, {end})")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    start_date = start_date or dt.date.fromisoformat(settings.start_date())
    t = source_tables(spec)
    ensure_tables(warehouse, spec)
    now_sql = sql_literal(now)
    lo, hi = sql_literal(start), sql_literal(end)
    rows = t.landing_rows
    work: list[str] = []
    try:
        if spec.table is None:
            sync = sync_landing(warehouse, spec, folder or landing_dir(spec), start_date, now,
                                future_tolerance_minutes)
        else:
            # A warehouse table is read in place; its rows of no day are quarantined again each run.
            rows = work_tables.new_name("landing_stage")
            work.append(rows)
            future = sql_literal(now + dt.timedelta(minutes=future_tolerance_minutes))
            start_sql = sql_literal(dt.datetime.combine(start_date, dt.time()))
            text_of, findings = source_drift.judge_table(warehouse, spec)
            select = _rows_select(warehouse, spec, spec.table, sql_literal(spec.table), "CAST(NULL AS VARCHAR)",
                                  "NULL", None, future, start_sql, now_sql, text_of=text_of)
            with warehouse.session() as s:
                s.execute(f"CREATE TABLE {rows} AS {select}")
                with s.transaction():
                    schema_drift.record(s, spec.table, "", findings, now_sql, source=spec.name)
                    s.execute(f"DELETE FROM {t.quarantine} WHERE source_file = ? AND event_date IS NULL", [spec.table])
                    undated = _quarantine_undated(s, spec, None, now_sql, rows)
            sync = SyncReport([FileStatus(spec.table, None, "staged", undated=undated)])
        batch = work_tables.new_name("ingest_batch")
        work.append(batch)
        warehouse.execute(f"CREATE TABLE {batch} AS {_batch_sql(spec, rows, lo, hi)}")
        in_range = f"event_date >= {lo} AND event_date < {hi}"
        values = ", ".join(_typed_name(c.name) + f" AS {c.name}" if c.type != "string"
                           else f"CAST({rules.value_sql(c, c.name)} AS VARCHAR) AS {c.name}" for c in spec.columns)
        warehouse.replace_where(t.raw, in_range, f"""SELECT {values}, event_date, source_file, source_row,
            {now_sql} AS ingested_at FROM {batch} WHERE reason IS NULL""")
        q_exprs = {"reason": "reason", "detail": f"{rules.detail_sql(rules.texts(spec), 'reason')} AS detail",
                   "quarantined_at": f"{now_sql} AS quarantined_at"}
        warehouse.replace_where(t.quarantine, in_range, f"""SELECT
            {', '.join(q_exprs.get(c, c) for c, _, _ in quarantine_columns(spec))} FROM {batch}
            WHERE reason IS NOT NULL""")
        # A table source has no staged rows (it is read in place).
        counts = read_counts(warehouse, batch, sync, rows if spec.table is None else None)
        findings = source_findings(warehouse, spec, batch, sync)
    finally:
        for table in work:
            warehouse.execute(f"DROP TABLE IF EXISTS {table}")
    for f in sync.files:
        for reason, n in f.undated.items():
            counts[(f.source_file, reason)] += n
    return IngestionResult(start, end, counts, sync, findings)


def source_findings(warehouse: Warehouse, spec: SourceSpec, batch: str, sync: SyncReport) -> list[dict]:
    """Recorded schema-drift findings of `spec`'s files that fed this range or were read by this run."""
    read = [f.source_file for f in sync.files if f.status != "unchanged"]
    also = f" OR source_file IN ({', '.join(sql_literal(r) for r in read)})" if read else ""
    df = warehouse.fetch_df(
        "SELECT source_file, kind, column_name, action, severity, detail FROM landing_schema_drift "
        f"WHERE {schema_drift.of_source(spec.name)} AND (source_file IN (SELECT DISTINCT source_file FROM {batch})"
        f"{also}) ORDER BY source_file, kind, column_name")
    return df.to_dict("records")


def _batch_sql(spec: SourceSpec, rows: str, lo: str, hi: str) -> str:
    """The range's staged rows with the batch-level reasons (duplicates)."""
    in_batch, stored = (r.reason for r in rules.duplicate_reasons(spec))
    rid = spec.row_id
    return f"""
        SELECT l.*, CASE
            WHEN l.row_reason IS NOT NULL THEN l.row_reason
            WHEN l.dup_rank > 1 THEN {sql_literal(in_batch)}
            WHEN s.stored_id IS NOT NULL THEN {sql_literal(stored)}
        END AS reason
        FROM (SELECT r.*, ROW_NUMBER() OVER (
                  PARTITION BY TRIM(r.{rid}), CASE WHEN r.row_reason IS NULL THEN 0 ELSE 1 END
                  ORDER BY r.source_file, r.source_row) AS dup_rank
              FROM {rows} r WHERE r.event_date >= {lo} AND r.event_date < {hi}) l
        LEFT JOIN (
            SELECT DISTINCT {rid} AS stored_id FROM {quote_ident(spec.raw_table)}
            WHERE (event_date < {lo} OR event_date >= {hi})
              AND {rid} IN (SELECT TRIM({rid}) FROM {rows} WHERE event_date >= {lo} AND event_date < {hi})
        ) s ON s.stored_id = TRIM(l.{rid})"""
