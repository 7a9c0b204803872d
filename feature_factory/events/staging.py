"""Stage a source's landing files into the warehouse once per file version (any source).

Every landing file is loaded (as text) into the source's staged rows (`layout.source_tables`:
`landing_rows` for the churn example, `<source>_landing_rows` for the others), with its values
parsed and row-level problems classified by the source's rules (`rules.row_rules`) in the same
INSERT. A file is re-read only when its content, or what changes how it is read (the source's
rules, mapping and schema-drift policy, the first partition, the future tolerance) changes: the
file registry (`landing_files` / `<source>_landing_files`) remembers the file's stat key, content
hash and that staging key; the hash is computed only when the stat key changed, so a daily run does
not re-parse 90 unchanged files.

Files the backend can read together (DuckDB: Parquet files with the same columns, CSV files with
the same header) are loaded, parsed and counted by one statement per group, each group one
transaction; the others are read one by one and committed in chunks. A file whose columns differ
from the source's is judged by its schema-drift policy (`schema_drift.judge_columns`,
`judge_types`): extra columns ignored, missing ones read as blank, quarantined whole or failing the
run, retyped numbers or times read through a lossless cast.

Rows whose time puts them in no partition (unparseable, in the future, before the first
partition) and whole-file rejections are quarantined here, exactly once per file version: no
partition run owns them, so none could replace them. Staged rows are durable: a file that later
leaves the landing folder (archived) keeps its rows; a file rewritten under the same name replaces
them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import layout, schema_drift, work_tables
from feature_factory.events import validation as rules
from feature_factory.events.contract import events_source
from feature_factory.events.landing import LandingFile, inspect_file, list_landing_files
from feature_factory.tables import LANDING_FILES as FILES_TABLE
from feature_factory.warehouse.interface import LandingRead, Session, WarehouseError
from feature_factory.warehouse.landing_csv import ROW_ERROR_COLUMN
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # only passed in (the resource class loads Dagster)
    from feature_factory.warehouse.base import Warehouse

log = logging.getLogger(__name__)

_FILES_COLS = ", ".join(FILES_TABLE.names)
# Files read one by one per transaction: fewer commits, and at most this many staging tables at once.
FILES_PER_TRANSACTION = 10
# Bump when staging logic changes meaning, so existing staged files are re-read.
# 2: CSV read in the one strict dialect; 3: rules from sources.yaml; 4: one staging for every source.
STAGING_VERSION = 4


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


@dataclass(frozen=True)
class Run:
    """What a staging (or a table source's read) judges rows against besides the source."""

    spec: SourceSpec
    start_date: dt.date
    now: dt.datetime  # naive UTC: staged_at, and the reference for "in the future"
    future_tolerance_minutes: float = 5.0

    @property
    def future(self) -> str:
        return sql_literal(self.now + dt.timedelta(minutes=self.future_tolerance_minutes))

    @property
    def start(self) -> str:
        return sql_literal(dt.datetime.combine(self.start_date, dt.time()))

    @property
    def now_sql(self) -> str:
        return sql_literal(self.now)

    @property
    def key(self) -> str:
        """Everything that changes how a file is staged: a file is re-staged when this changes."""
        payload = {"v": STAGING_VERSION, "source": repr(self.spec), "start_date": self.start_date.isoformat(),
                   "future_tolerance_minutes": self.future_tolerance_minutes}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Source:
    """Where staged rows come from: `from_sql` yields the file (or table) columns, `label` and
    `fingerprint` are SQL for the row's file, `row` its 1-based source row, `error` why the reader
    could not parse the record (None: the reader never reports one, e.g. a table)."""

    from_sql: str
    label: str
    fingerprint: str
    row: str
    error: str | None = "CAST(NULL AS VARCHAR)"


def ensure_tables(warehouse: Warehouse, session: Session, spec: SourceSpec | None = None) -> None:
    """The source's tables (default: the churn example's) as their contracts say."""
    layout.ensure_tables(warehouse, session, spec or events_source())


def rows_select(warehouse: Warehouse, run: Run, source: Source, mapping: dict[str, str | None] | None,
                casts: dict[str, str] | None = None) -> str:
    """SELECT of staged rows (`layout.rows_columns`) over `source`: each declared column's text
    read from the file column `mapping` names (None: a column of the declared name; a column
    mapped to None is blank), typed columns parsed (`casts` replaces a parser with the lossless
    cast the schema-drift policy chose), the event day, and the first failing rule's reason."""
    spec, t = run.spec, layout.source_tables(run.spec)
    casts = casts or {}
    typed = layout.typed_columns(spec)

    def text(c) -> str:
        if c.name == spec.row_id and spec.row_id_hash:
            return derived_row_id(spec, text, source)
        col = c.source if mapping is None else mapping[c.name]
        read = f"CAST({col} AS VARCHAR)" if col else "CAST(NULL AS VARCHAR)"
        if c.default is None:
            return read
        return f"COALESCE(NULLIF(TRIM({read}), ''), {sql_literal(c.default)})" if col else sql_literal(c.default)

    def parse(c) -> str:
        if c.name in casts:
            return casts[c.name]
        if c.format:  # a declared format (`%Y%m%d`): numeric-looking text is exactly what it parses
            return warehouse.try_strptime(f"TRIM({c.name})", c.format)
        number = warehouse.try_double(f"TRIM({c.name})")
        if c.type == "number":
            return number
        # Numeric text is never read as ISO-8601 (Snowflake would silently take it as epoch).
        return f"CASE WHEN {number} IS NULL THEN {warehouse.try_timestamp(f'TRIM({c.name})')} END"

    row_error = "row_error" if source.error is not None else None
    reference = "when the file was staged" if spec.table is None else "when the run started"
    case = rules.reason_case(rules.row_rules(spec, lambda c: c, t.value, future=run.future, start=run.start,
                                             row_error=row_error, time_reference=reference))
    ts = t.value(spec.event_time)
    dated = f"{ts} IS NOT NULL AND {ts} <= {run.future} AND {ts} >= {run.start}"
    if row_error:
        dated = f"row_error IS NULL AND {dated}"
    names = [c.name for c in spec.columns]
    values = [t.value(c.name) for c in typed]
    return f"""SELECT source_file, file_fingerprint, source_row, {', '.join(names + values)},
            CASE WHEN {dated} THEN CAST({ts} AS DATE) END AS event_date, {case} AS row_reason,
            {run.now_sql} AS staged_at, row_error AS row_detail
        FROM (SELECT *, {', '.join(f'{parse(c)} AS {t.value(c.name)}' for c in typed)}
              FROM (SELECT {source.label} AS source_file, {source.fingerprint} AS file_fingerprint,
                           CAST({source.row} AS BIGINT) AS source_row,
                           {', '.join(f'{text(c)} AS {c.name}' for c in spec.columns)},
                           CAST({source.error or 'NULL'} AS VARCHAR) AS row_error
                    FROM {source.from_sql}) ff_text) ff_parsed"""


def derived_row_id(spec: SourceSpec, text, source: Source) -> str:
    """The row id of a source that derives it (`row_id: {column, hash}`): MD5 of the hashed parts'
    landed text joined by a separator (a blank part hashes as ''). With `source_row` (the file's
    line) two same-day purchases of one customer get two ids; a natural key alone would make the
    second a duplicate (docs/sources.md)."""
    lineage = {"source_file": f"CAST({source.label} AS VARCHAR)", "source_row": f"CAST({source.row} AS VARCHAR)"}
    parts = [lineage[p] if p in lineage else text(spec.column(p)) for p in spec.row_id_hash]
    return "MD5(" + " || '|' || ".join(f"COALESCE({p}, '')" for p in parts) + ")"


def quarantine_undated(s: Session, spec: SourceSpec, rows: str, source_files: list[str],
                       now_sql: str) -> dict[str, dict[str, int]]:
    """Quarantine the staged rows of `source_files` that belong to no day (once per file version:
    no partition run owns them); returns source_file -> reason -> rows."""
    q_cols = [c for c, _, _ in layout.quarantine_columns(spec)]
    exprs = {"reason": "row_reason", "detail": f"COALESCE(row_detail, {rules.detail_sql(rules.texts(spec))})",
             "event_date": "CAST(NULL AS DATE)", "quarantined_at": now_sql}
    where = f"source_file IN ({_in(source_files)}) AND event_date IS NULL"
    s.execute(f"INSERT INTO {layout.source_tables(spec).quarantine} ({', '.join(q_cols)}) SELECT "
              f"{', '.join(exprs.get(c, c) for c in q_cols)} FROM {rows} WHERE {where}")
    out: dict[str, dict[str, int]] = {}
    for rel, reason, n in s.fetch_all(f"SELECT source_file, row_reason, COUNT(*) FROM {rows} WHERE {where} "
                                      "GROUP BY source_file, row_reason"):
        out.setdefault(rel, {})[reason] = int(n)
    return out


def sync_landing(warehouse: Warehouse, run: Run, landing_dir: Path) -> SyncReport:
    """Stage every new or changed landing file of `run.spec`. Raises `SchemaDriftError` (after
    staging the others and recording the findings) when a file's drift is configured to fail.

    A file's rows, findings and registry entry always commit together, so a crash leaves each file
    staged or not (then staged by the next run)."""
    t = layout.source_tables(run.spec)
    key = run.key
    statuses: dict[str, FileStatus] = {}
    order: list[str] = []
    # One session for the whole sync: connections are not free (a DuckDB file open costs ~20-80 ms).
    with warehouse.session() as s:
        layout.ensure_tables(warehouse, s, run.spec)
        work_tables.drop_leftovers(warehouse, s)
        registry = {r[0]: r for r in s.fetch_all(
            f"SELECT source_file, stat_key, file_fingerprint, staging_key, status FROM {t.landing_files}")}
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
            statuses.update(_Stager(warehouse, s, run).run(touched, pending))
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


class _Stager:
    """Stages the pending files of one sync: a group read together, or a chunk of files read one by
    one, commits as one transaction (so a 100-file backfill commits a few times, not 100)."""

    def __init__(self, warehouse: Warehouse, s: Session, run: Run):
        self.warehouse, self.s, self.run_ = warehouse, s, run
        self.spec, self.t = run.spec, layout.source_tables(run.spec)
        self.q_cols = [c for c, _, _ in layout.quarantine_columns(run.spec)]

    def run(self, touched: list[LandingFile], pending: list[_Pending]) -> dict[str, FileStatus]:
        out: dict[str, FileStatus] = {}
        s = self.s
        readable: dict[str, _Pending] = {}
        with s.transaction():
            for f in touched:
                s.execute(f"UPDATE {self.t.landing_files} SET size_bytes = ?, mtime_ns = ?, stat_key = ? "
                          "WHERE source_file = ?", [f.size, f.mtime_ns, f.stat_key, f.rel])
            for p in pending:
                if p.f.fmt is None:
                    out[p.f.rel] = self._reject(p, rules.UNSUPPORTED_FILE_TYPE,
                                                f"landing file {p.f.path}: unsupported file type "
                                                f"{p.f.path.suffix or '(none)'!r}; expected .csv, .csv.gz or .parquet")
                elif p.problem:
                    out[p.f.rel] = self._reject(p, rules.UNREADABLE_FILE, f"landing file {p.f.path}: {p.problem}")
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
                            out[p.f.rel] = self._reject(p, rules.UNREADABLE_FILE, columns)
                        else:
                            out.update(self._stage([p], columns, Source(
                                tmp, sql_literal(p.f.rel), sql_literal(p.fingerprint), "source_row",
                                ROW_ERROR_COLUMN)))
            finally:
                for tmp in tables:
                    s.execute(f"DROP TABLE IF EXISTS {tmp}")
        return out

    def _group_source(self, read: LandingRead, members: list[_Pending]) -> Source:
        prints = ", ".join(f"({sql_literal(p.f.rel)}, {sql_literal(p.fingerprint)})" for p in members)
        return Source(f"({read.sql}) ff_src JOIN (VALUES {prints}) ff_fp(ff_label, ff_fingerprint) "
                      "ON ff_fp.ff_label = ff_src.source_file",
                      "ff_src.source_file", "ff_fp.ff_fingerprint", "ff_src.source_row")

    def _reject(self, p: _Pending, reason: str, detail: str,
                findings: list[schema_drift.Finding] | None = None) -> FileStatus:
        """The whole file as one quarantine row (source_row NULL) naming the problem."""
        s, t, now_sql = self.s, self.t, self.run_.now_sql
        log.error(detail)
        with s.transaction():
            _forget(s, t, [p.f.rel])
            values = {"source_file": "?", "file_fingerprint": "?", "reason": "?", "detail": "?",
                      "quarantined_at": now_sql}
            s.execute(f"INSERT INTO {t.quarantine} ({', '.join(self.q_cols)}) VALUES "
                      f"({', '.join(values.get(c, 'NULL') for c in self.q_cols)})",
                      [p.f.rel, p.fingerprint, reason, detail])
            schema_drift.record(s, p.f.rel, p.fingerprint, findings or [], now_sql, source=self.spec.name)
            _register(s, t, p.f, p.fingerprint, self.run_.key, "quarantined", detail, "", now_sql)
        return FileStatus(p.f.rel, p.fingerprint, "quarantined", detail, findings=list(findings or []),
                          undated={reason: 1})

    def _insert(self, source: Source, mapping, casts=None) -> None:
        cols = ", ".join(c for c, _ in layout.rows_columns(self.spec))
        self.s.execute(f"INSERT INTO {self.t.landing_rows} ({cols}) "
                       + rows_select(self.warehouse, self.run_, source, mapping, casts))

    def _stage(self, members: list[_Pending], columns: list[str], source: Source) -> dict[str, FileStatus]:
        """Stage files with the same columns from `source`, in the caller's transaction."""
        s, spec, t, now_sql = self.s, self.spec, self.t, self.run_.now_sql
        mapping, findings, problem = schema_drift.judge_columns(spec, "landing file", columns)
        if problem:  # judged again per file, for a detail naming it
            return {p.f.rel: self._reject(p, *schema_drift.judge_columns(spec, f"landing file {p.f.path}", columns)[2],
                                          findings) for p in members}
        known = [p.f.rel for p in members if p.known]
        if known:  # a first-seen file has nothing to replace
            _forget(s, t, known)
        status = {p.f.rel: FileStatus(p.f.rel, p.fingerprint, "staged", findings=list(findings)) for p in members}
        counts: dict[str, dict] = {}
        if schema_drift.failures(findings):
            for p in members:
                _fail(status[p.f.rel], p, schema_drift.failures(findings))
        else:
            self._insert(source, mapping)
            counts = self._counts(list(status))
            typed = [c for c in layout.typed_columns(spec) if mapping[c.name]]
            redone = False
            for p in members:
                c = counts.get(p.f.rel)
                suspects = [col for col in typed if c and schema_drift.counts_drifted(
                    c[f"{col.name}__n"], c[f"{col.name}__ok"], spec.schema_drift)]
                if not suspects:
                    continue
                # Enough values failed to parse to call it a changed type: probe the staged text.
                found, casts = schema_drift.judge_types(self.warehouse, s, spec, t.landing_rows, p.f.rel, suspects)
                status[p.f.rel].findings = [*findings, *found]
                if schema_drift.failures(found):
                    _fail(status[p.f.rel], p, schema_drift.failures(found))
                    _forget(s, t, [p.f.rel])
                    redone = True
                elif casts:
                    _forget(s, t, [p.f.rel])  # re-read the file with the lossless cast
                    self._insert(self._single(p, source), mapping, casts)
                    redone = True
            if redone:
                counts = self._counts(list(status))
        staged = [rel for rel, st in status.items() if st.status == "staged"]
        if staged:
            for rel, undated in quarantine_undated(s, spec, t.landing_rows, staged, now_sql).items():
                status[rel].undated = undated
        schema_drift.record_many(s, [(st.source_file, st.fingerprint, st.findings) for st in status.values()],
                                 now_sql, source=spec.name)
        s.execute(f"DELETE FROM {t.landing_files} WHERE source_file IN ({_in(list(status))})")
        cols = ",".join(columns)
        rows = []
        for p in members:
            st, c = status[p.f.rel], counts.get(p.f.rel)
            rows.append((p.f.rel, p.f.fmt or "", p.f.size, p.f.mtime_ns, p.fingerprint, self.run_.key, st.status,
                         st.detail, cols, int(c["n"]) if c else 0, c["min_day"] if c else None,
                         c["max_day"] if c else None, p.f.stat_key))
        for chunk in _chunks(rows, 200):
            s.execute(f"INSERT INTO {t.landing_files} ({_FILES_COLS}) VALUES "
                      + ", ".join(f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS DATE), CAST(? AS DATE), {now_sql}, ?)"
                                  for _ in chunk), [v for row in chunk for v in row])
        for st in status.values():
            if st.status == "schema_failed":
                log.error(st.detail)
        return status

    def _counts(self, labels: list[str]) -> dict[str, dict]:
        """Per staged file: rows, first and last day, and for each typed column its non-blank values
        and those that parsed (what `schema_drift.counts_drifted` looks at)."""
        exprs = {"n": "COUNT(*)", "min_day": "MIN(event_date)", "max_day": "MAX(event_date)"}
        for c in layout.typed_columns(self.spec):
            exprs.update({f"{c.name}__{k}": e for k, e in schema_drift.value_counts(c.name, self.t.value(c.name)).items()})
        rows = self.s.fetch_all(f"SELECT source_file, {', '.join(exprs.values())} FROM {self.t.landing_rows} "
                                f"WHERE source_file IN ({_in(labels)}) GROUP BY source_file")
        return {r[0]: dict(zip(exprs, r[1:])) for r in rows}

    def _single(self, p: _Pending, source: Source) -> Source:
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


def _in(values: list[str]) -> str:
    return ", ".join(sql_literal(v) for v in values)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _forget(s: Session, t: layout.SourceTables, source_files: list[str]) -> None:
    """Drop what earlier versions of the files staged (their partition rows are replaced when
    those partitions are re-materialized)."""
    s.execute(f"DELETE FROM {t.landing_rows} WHERE source_file IN ({_in(source_files)})")
    s.execute(f"DELETE FROM {t.quarantine} WHERE source_file IN ({_in(source_files)}) AND event_date IS NULL")


def _register(s: Session, t: layout.SourceTables, f: LandingFile, fingerprint, key, status, detail, columns,
              now_sql: str) -> None:
    s.execute(f"DELETE FROM {t.landing_files} WHERE source_file = ?", [f.rel])
    s.execute(
        f"INSERT INTO {t.landing_files} ({_FILES_COLS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, COUNT(*), "
        f"MIN(event_date), MAX(event_date), {now_sql}, ? FROM {t.landing_rows} WHERE source_file = ?",
        [f.rel, f.fmt or "", f.size, f.mtime_ns, fingerprint, key, status, detail, columns, f.stat_key, f.rel],
    )
