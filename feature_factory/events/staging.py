"""Stage landing files into the warehouse once per file version.

Every landing file is loaded (as text) into `landing_rows`, with its values parsed and row-level
problems classified in the same INSERT. A file is re-read only when its content, or the settings
that change how it is read, change (`landing_files` remembers the file's stat key, content hash
and the staging key; the hash is computed only when the stat key changed), so a daily run does not re-parse 90 unchanged files.

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
from dataclasses import dataclass, field
from pathlib import Path

from feature_factory.events import rules, schema_drift, work_tables
from feature_factory.events.contract import (
    QUARANTINE_COLUMNS, RAW_EVENTS_COLUMNS, IngestionConfig, Reason, events_source, reason_detail_sql,
)
from feature_factory.events.landing import LandingFile, inspect_file, list_landing_files
from feature_factory.tables import LANDING_FILES as FILES_TABLE
from feature_factory.tables import LANDING_ROWS as ROWS_TABLE
from feature_factory.tables import QUARANTINED_EVENTS, RAW_EVENTS
from feature_factory.warehouse.base import (
    LandingRead, Session, Warehouse, WarehouseError, quote_ident, sql_literal,
)
from feature_factory.warehouse.landing_csv import ROW_ERROR_COLUMN

log = logging.getLogger(__name__)

LANDING_ROWS = ROWS_TABLE.name
LANDING_FILES = FILES_TABLE.name
# (name, SQL type) of every table staging creates: landing_* from their contracts (tables.py).
_DDL = {
    RAW_EVENTS.name: [(c, t) for c, t, _ in RAW_EVENTS_COLUMNS],
    QUARANTINED_EVENTS.name: [(c, t) for c, t, _ in QUARANTINE_COLUMNS],
    LANDING_ROWS: ROWS_TABLE.schema,
    LANDING_FILES: FILES_TABLE.schema,
}
_LANDING_FILES_COLS = ", ".join(FILES_TABLE.names)
_RAW = ("event_id", "customer_id", "event_type", "channel", "amount", "event_ts")
_Q_COLS = ", ".join(c for c, _, _ in QUARANTINE_COLUMNS)
# Files read one by one per transaction: fewer commits, and at most this many staging tables at once.
FILES_PER_TRANSACTION = 10


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


def ensure_tables(warehouse: Warehouse, session: Session) -> None:
    for table, cols in _DDL.items():
        body = ", ".join(f"{c} {t}" for c, t in cols)
        session.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} ({body})")
        # Tables made by an earlier version lack the columns added since (appended, so explicit
        # column lists keep working).
        have = {c for c, _ in warehouse.session_columns(session, table)}
        for c, t in cols:
            if c not in have:
                session.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {c} {t}")
    schema_drift.ensure_table(warehouse, session)


def sync_landing(
    warehouse: Warehouse, landing_dir: Path, config: IngestionConfig, start_date: dt.date,
    now: dt.datetime,
) -> SyncReport:
    """Stage every new or changed landing file. Raises `SchemaDriftError` (after staging the
    others and recording the findings) when a file's drift is configured to fail.

    Files the backend can read together (DuckDB: Parquet files with the same columns, CSV files
    with the same header, 25 to a statement) are loaded,
    parsed and counted by one statement per group, each group one transaction; other files are read
    one by one and committed in chunks. A file's rows, findings and registry entry always commit
    together, so a crash leaves each file staged or not (then staged by the next run)."""
    key = config.staging_key(start_date.isoformat())
    statuses: dict[str, FileStatus] = {}
    order: list[str] = []
    # One session for the whole sync: connections are not free (a DuckDB file open costs ~20-80 ms).
    with warehouse.session() as s:
        ensure_tables(warehouse, s)
        work_tables.drop_leftovers(warehouse, s)
        registry = {
            r[0]: r for r in s.fetch_all(
                f"SELECT source_file, stat_key, file_fingerprint, staging_key, status "
                f"FROM {LANDING_FILES}")
        }
        touched: list[LandingFile] = []
        pending: list[_Pending] = []
        for f in list_landing_files(landing_dir):
            order.append(f.rel)
            reg = registry.get(f.rel)
            reusable = reg is not None and reg[3] == key and reg[4] != "schema_failed"
            if reusable and reg[1] == f.stat_key:
                statuses[f.rel] = FileStatus(f.rel, reg[2], "unchanged")
                continue
            fingerprint, problem = inspect_file(f)
            if reusable and reg[2] == fingerprint:  # touched, not changed
                touched.append(f)
                statuses[f.rel] = FileStatus(f.rel, fingerprint, "unchanged")
                continue
            pending.append(_Pending(f, fingerprint, problem, known=reg is not None))
        if touched or pending:
            statuses.update(_Stager(warehouse, s, config, key, start_date, now).run(touched, pending))
    report = SyncReport([statuses[rel] for rel in order])
    failed = report.with_status("schema_failed")
    if failed:
        raise schema_drift.SchemaDriftError("; ".join(f.detail for f in failed))
    return report


@dataclass
class _Pending:
    f: LandingFile
    fingerprint: str
    problem: str | None
    known: bool  # registered before: what it staged then is replaced


@dataclass
class _Source:
    """Where staged rows come from: `from_sql` yields the file columns (as VARCHAR), `label` and
    `fingerprint` are SQL for the row's file, `row` its 1-based source row."""

    from_sql: str
    label: str
    fingerprint: str
    row: str
    error: str = "CAST(NULL AS VARCHAR)"  # why the reader could not parse the record, or NULL


class _Stager:
    """Stages the pending files of one sync: a group read together, or a chunk of files read one by
    one, commits as one transaction (so a 100-file backfill commits a few times, not 100)."""

    def __init__(self, warehouse: Warehouse, s: Session, config: IngestionConfig, key: str,
                 start_date: dt.date, now: dt.datetime):
        self.warehouse, self.s, self.config, self.key = warehouse, s, config, key
        self.start_date, self.now = start_date, now

    def run(self, touched: list[LandingFile], pending: list[_Pending]) -> dict[str, FileStatus]:
        out: dict[str, FileStatus] = {}
        s = self.s
        readable: dict[str, _Pending] = {}
        with s.transaction():
            for f in touched:
                s.execute(f"UPDATE {LANDING_FILES} SET size_bytes = ?, mtime_ns = ?, stat_key = ? "
                          "WHERE source_file = ?", [f.size, f.mtime_ns, f.stat_key, f.rel])
            for p in pending:
                if p.f.fmt is None:
                    out[p.f.rel] = self._reject(p, Reason.UNSUPPORTED_FILE_TYPE,
                                                f"landing file {p.f.path}: unsupported file type "
                                                f"{p.f.path.suffix or '(none)'!r}; expected .csv, .csv.gz or .parquet")
                elif p.problem:
                    out[p.f.rel] = self._reject(p, Reason.UNREADABLE_FILE, f"landing file {p.f.path}: {p.problem}")
                else:
                    readable[p.f.rel] = p
        # Files the backend reads together: one transaction per group, reading inside it.
        for fmt in sorted({p.f.fmt for p in readable.values()}):
            for read in self.warehouse.read_landing_files(
                    [(p.f.rel, p.f.path) for p in readable.values() if p.f.fmt == fmt], fmt):
                members = [readable[label] for label in read.labels]
                try:
                    with s.transaction():
                        staged = self._stage(members, list(read.columns), self._group_source(read, members))
                except WarehouseError as exc:
                    # A file can pass the schema read and still fail mid-read (a corrupt page): the
                    # group is rolled back and staged file by file, which names and quarantines it.
                    log.warning("staging %d landing files together failed (%s); staging them one by one",
                                len(members), str(exc).splitlines()[0])
                    continue
                out.update(staged)
                for label in read.labels:
                    del readable[label]
        # The rest file by file: each loaded into its own table before the transaction that stages
        # a chunk of them (a transaction does not see tables created after it began).
        singles = list(readable.values())
        for i in range(0, len(singles), FILES_PER_TRANSACTION):
            tables: list[str] = []
            try:
                loaded: list[tuple[_Pending, list[str] | str, str]] = []
                for p in singles[i:i + FILES_PER_TRANSACTION]:
                    tmp = work_tables.new_name("landing_stage")
                    tables.append(tmp)
                    try:
                        loaded.append((p, self.warehouse.stage_file(p.f.path, p.f.fmt, tmp), tmp))
                    except WarehouseError as exc:
                        loaded.append((p, str(exc).splitlines()[0], tmp))
                with s.transaction():
                    for p, columns, tmp in loaded:
                        if isinstance(columns, str):
                            out[p.f.rel] = self._reject(p, Reason.UNREADABLE_FILE, columns)
                        else:
                            out.update(self._stage([p], columns, _Source(
                                quote_ident(tmp), sql_literal(p.f.rel), sql_literal(p.fingerprint), "source_row",
                                ROW_ERROR_COLUMN)))
            finally:
                for tmp in tables:
                    s.execute(f"DROP TABLE IF EXISTS {tmp}")
        return out

    def _group_source(self, read: LandingRead, members: list[_Pending]) -> _Source:
        prints = ", ".join(f"({sql_literal(p.f.rel)}, {sql_literal(p.fingerprint)})" for p in members)
        return _Source(f"({read.sql}) ff_src JOIN (VALUES {prints}) ff_fp(ff_label, ff_fingerprint) "
                       "ON ff_fp.ff_label = ff_src.source_file",
                       "ff_src.source_file", "ff_fp.ff_fingerprint", "ff_src.source_row")

    def _reject(self, p: _Pending, reason: Reason, detail: str) -> FileStatus:
        return _quarantine_file(self.s, p.f, p.fingerprint, self.key, self.now, reason, detail)

    def _stage(self, members: list[_Pending], columns: list[str], source: _Source) -> dict[str, FileStatus]:
        """Stage files with the same columns from `source`, in the caller's transaction."""
        s, policy, now_sql = self.s, self.config.schema_drift, sql_literal(self.now)
        mapped, _ = schema_drift.map_columns(columns, policy)
        if not any(mapped.values()):
            hint = next((f"; the delimiter must be ',' (this header looks {name}-separated)"
                         for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"))
                         if len(columns) == 1 and sep in columns[0]), "")
            return {p.f.rel: self._reject(p, Reason.UNREADABLE_FILE,
                                          f"landing file {p.f.path}: no contract column in its header "
                                          f"(found {', '.join(columns) or 'none'}){hint}") for p in members}
        outcome = schema_drift.assess_columns(self.warehouse, columns, policy)
        known = [p.f.rel for p in members if p.known]
        if known:  # a first-seen file has nothing to replace
            _forget(s, known)
        status = {p.f.rel: FileStatus(p.f.rel, p.fingerprint, "staged", findings=list(outcome.findings))
                  for p in members}
        counts: dict[str, dict] = {}
        if outcome.failures:
            for p in members:
                _fail(status[p.f.rel], p, outcome.failures)
        else:
            s.execute(_insert_rows_sql(source, outcome, self.config, self.start_date, self.now))
            counts = _counts(s, list(status))
            redone = False
            for p in members:
                c = counts.get(p.f.rel)
                if c is None or not schema_drift.needs_probe(c, policy):
                    continue
                # Enough values failed to parse to call it a changed type: probe the staged text.
                checked = schema_drift.assess_values(
                    self.warehouse, s, outcome, policy,
                    f"(SELECT amount, event_ts FROM {LANDING_ROWS} WHERE source_file = ?) ff_rows", [p.f.rel])
                status[p.f.rel].findings = checked.findings
                if checked.failures:
                    _fail(status[p.f.rel], p, checked.failures)
                    _forget(s, [p.f.rel])
                    redone = True
                elif (checked.amount_expr, checked.ts_expr) != (outcome.amount_expr, outcome.ts_expr):
                    _forget(s, [p.f.rel])  # re-read the file with the lossless cast
                    s.execute(_insert_rows_sql(self._single(p, source), checked, self.config, self.start_date,
                                               self.now))
                    redone = True
            if redone:
                counts = _counts(s, list(status))
        staged = [rel for rel, st in status.items() if st.status == "staged"]
        if staged:
            s.execute(f"INSERT INTO quarantined_events ({_Q_COLS}) SELECT source_file, source_row, "
                      f"file_fingerprint, {', '.join(_RAW)}, row_reason, COALESCE(row_detail, {reason_detail_sql()}), "
                      f"CAST(NULL AS DATE), {now_sql} FROM {LANDING_ROWS} "
                      f"WHERE source_file IN ({_in(staged)}) AND event_date IS NULL")
            for rel, reason, n in s.fetch_all(
                    f"SELECT source_file, row_reason, COUNT(*) FROM {LANDING_ROWS} "
                    f"WHERE source_file IN ({_in(staged)}) AND event_date IS NULL GROUP BY source_file, row_reason"):
                status[rel].undated[reason] = int(n)
        schema_drift.record_many(s, [(st.source_file, st.fingerprint, st.findings) for st in status.values()],
                                 now_sql)
        s.execute(f"DELETE FROM {LANDING_FILES} WHERE source_file IN ({_in(list(status))})")
        cols = ",".join(columns)
        rows = []
        for p in members:
            st, c = status[p.f.rel], counts.get(p.f.rel)
            rows.append((p.f.rel, p.f.fmt or "", p.f.size, p.f.mtime_ns, p.fingerprint, self.key, st.status,
                         st.detail, cols, int(c["n"]) if c else 0, c["min_day"] if c else None,
                         c["max_day"] if c else None, p.f.stat_key))
        for chunk in _chunks(rows, 200):
            s.execute(f"INSERT INTO {LANDING_FILES} ({_LANDING_FILES_COLS}) VALUES "
                      + ", ".join(f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS DATE), CAST(? AS DATE), {now_sql}, ?)"
                                  for _ in chunk), [v for row in chunk for v in row])
        for st in status.values():
            if st.status == "schema_failed":
                log.error(st.detail)
        return status

    def _single(self, p: _Pending, source: _Source) -> _Source:
        """The source of one file of a group (to read it again with other casts)."""
        if source.label != "ff_src.source_file":
            return source  # already this file alone
        reads = self.warehouse.read_landing_files([(p.f.rel, p.f.path)], p.f.fmt or "")
        if len(reads) != 1:
            raise WarehouseError(f"cannot read landing file {p.f.path} again")
        return self._group_source(reads[0], [p])


def _fail(status: FileStatus, p: _Pending, failures: list[schema_drift.Finding]) -> None:
    status.status = "schema_failed"
    status.detail = schema_drift.failure_message(str(p.f.path), failures)


def _counts(s: Session, labels: list[str]) -> dict[str, dict]:
    """Per staged file: rows, first and last day, and the value counts schema drift looks at."""
    exprs = {"n": "COUNT(*)", "min_day": "MIN(event_date)", "max_day": "MAX(event_date)",
             **schema_drift.VALUE_COUNTS}
    rows = s.fetch_all(f"SELECT source_file, {', '.join(exprs.values())} FROM {LANDING_ROWS} "
                       f"WHERE source_file IN ({_in(labels)}) GROUP BY source_file")
    return {r[0]: dict(zip(exprs, r[1:])) for r in rows}


def _in(values: list[str]) -> str:
    return ", ".join(sql_literal(v) for v in values)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _forget(s: Session, source_files: list[str]) -> None:
    """Drop what earlier versions of the files staged (their partition rows are replaced when
    those partitions are re-materialized)."""
    s.execute(f"DELETE FROM {LANDING_ROWS} WHERE source_file IN ({_in(source_files)})")
    s.execute(f"DELETE FROM quarantined_events WHERE source_file IN ({_in(source_files)}) AND event_date IS NULL")


def _quarantine_file(s: Session, f: LandingFile, fingerprint, key, now, reason: Reason, detail) -> FileStatus:
    log.error(detail)
    with s.transaction():
        _forget(s, [f.rel])
        s.execute(f"INSERT INTO quarantined_events ({_Q_COLS}) VALUES (?, NULL, ?, NULL, NULL, NULL, NULL, "
                  f"NULL, NULL, ?, ?, NULL, {sql_literal(now)})", [f.rel, fingerprint, reason.value, detail])
        schema_drift.record(s, f.rel, fingerprint, [], sql_literal(now))
        _register(s, f, fingerprint, key, "quarantined", detail, "", now)
    return FileStatus(f.rel, fingerprint, "quarantined", detail, undated={reason.value: 1})


def _register(s: Session, f: LandingFile, fingerprint, key, status, detail, columns, now) -> None:
    s.execute(f"DELETE FROM {LANDING_FILES} WHERE source_file = ?", [f.rel])
    s.execute(
        f"INSERT INTO {LANDING_FILES} ({_LANDING_FILES_COLS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, COUNT(*), "
        f"MIN(event_date), MAX(event_date), {sql_literal(now)}, ? FROM {LANDING_ROWS} WHERE source_file = ?",
        [f.rel, f.fmt or "", f.size, f.mtime_ns, fingerprint, key, status, detail, columns, f.stat_key, f.rel],
    )


def _insert_rows_sql(source: _Source, outcome, config: IngestionConfig, start_date, now) -> str:
    future = sql_literal(now + dt.timedelta(minutes=config.future_tolerance_minutes))
    start = sql_literal(dt.datetime.combine(start_date, dt.time()))
    typed = {"amount": "amount_value", "event_ts": "event_ts_value"}
    # The row reasons, generated from the events source's rules (events/rules.py).
    row_rules = rules.row_rules(events_source(), lambda c: c, typed.__getitem__, future=future, start=start,
                                row_error="row_error")
    dated = (f"row_error IS NULL AND event_ts_value IS NOT NULL AND event_ts_value <= {future} "
             f"AND event_ts_value >= {start}")
    raw = ", ".join(f"{outcome.raw(c)} AS {c}" for c in _RAW)
    cols = ", ".join(ROWS_TABLE.names)
    return f"""INSERT INTO {LANDING_ROWS} ({cols}) SELECT source_file, file_fingerprint, source_row,
        {', '.join(_RAW)}, amount_value, event_ts_value, CASE WHEN {dated} THEN CAST(event_ts_value AS DATE) END,
        {rules.reason_case(row_rules)}, {sql_literal(now)}, row_error
        FROM (SELECT {source.label} AS source_file, {source.fingerprint} AS file_fingerprint,
              CAST({source.row} AS BIGINT) AS source_row, {raw}, CAST({source.error} AS VARCHAR) AS row_error,
              {outcome.amount_expr} AS amount_value, {outcome.ts_expr} AS event_ts_value
              FROM {source.from_sql}) p"""
