"""Embedded DuckDB backend: one file under the project home, the local default."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, PrivateAttr

from feature_factory import settings
from feature_factory.warehouse import landing_csv
from feature_factory.warehouse.base import LandingRead, Warehouse, WarehouseError, quote_ident, sql_literal
from feature_factory.warehouse.dialect import DUCKDB, Dialect
from feature_factory.warehouse.landing_csv import ROW_ERROR_COLUMN

_GLOB_CHARS = frozenset("*?[{")


def literal_path(path: Path | str) -> str:
    """A file path as DuckDB's readers take it literally: they expand `*`, `?`, `[...]` (and `{`)
    as a glob, so each such character is wrapped in a one-character class (`[*]` matches `*`)."""
    return "".join(f"[{ch}]" if ch in _GLOB_CHARS else ch for ch in str(path))


def _parquet_duplicate_column(path: Path) -> str | None:
    """A column name a Parquet file has twice (case-insensitively): DuckDB would silently rename
    the second (amount, amount_1), so such a file is refused instead. None if unreadable here."""
    try:
        names = landing_csv.column_names(pq.read_schema(path).names)
    except Exception:
        return None  # not Parquet: DuckDB's read names the problem
    return next((n for n in names if names.count(n) > 1), None)


def csv_reader_sql(path: Path, columns: list[str], skip_malformed: bool = False) -> str:
    """`read_csv` of one landing file in the contract's dialect (see `landing_csv`): nothing sniffed,
    every column text, strict (a malformed record is an error, never a shifted or padded row).
    `skip_malformed` drops such records instead: only for estimates (the days a file covers)."""
    spec = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in columns)
    return (f"read_csv({sql_literal(literal_path(path))}, delim=',', quote='\"', escape='\"', header=true, "
            f"auto_detect=false, columns={{{spec}}}, strict_mode=true, null_padding=false, "
            f"ignore_errors={'true' if skip_malformed else 'false'}, "
            f"max_line_size={landing_csv.MAX_FIELD_BYTES}, encoding='utf-8', "
            f"compression={'gzip' if landing_csv.is_gzip(path) else 'none'})")


def _mentions(sql: str, name: str) -> bool:
    return re.search(rf"(?<![a-z0-9_]){re.escape(name)}(?![a-z0-9_])", sql, re.IGNORECASE) is not None


def _may_read(s: "DuckDBSession", sql: str, table: str) -> bool:
    """Whether `sql` may read `table`: it names it, or names a view whose text (through other
    views) names it. Conservative: a mention in a string literal counts too."""
    if _mentions(sql, table):
        return True
    views = dict(s.fetch_all("SELECT lower(view_name), sql FROM duckdb_views() WHERE NOT internal"))
    seen: set[str] = set()
    todo = [v for v in views if _mentions(sql, v)]
    while todo:
        view = todo.pop()
        if view in seen:
            continue
        seen.add(view)
        if _mentions(views[view], table):
            return True
        todo += [v for v in views if v not in seen and _mentions(views[view], v)]
    return False


class DuckDBSession:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._in_tx = False

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        try:
            self.con.execute(sql, list(params) if params is not None else None)
        except duckdb.Error as exc:
            raise WarehouseError(f"{exc}\n-- while running:\n{sql}") from exc

    def fetch_all(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        self.execute(sql, params)
        return self.con.fetchall()

    def fetch_one(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        self.execute(sql, params)
        return self.con.fetchone()

    def fetch_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        self.execute(sql, params)
        df = self.con.fetchdf()
        df.columns = [str(c).lower() for c in df.columns]
        return df

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_tx:  # nested: the outer transaction decides
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._in_tx = False


class DuckDBWarehouse(Warehouse):
    """DuckDB file (default `$FEATURE_FACTORY_HOME/warehouse.duckdb`).

    A DuckDB file has one writer process at a time. Connections are short-lived so a lock is held
    only while a step runs; if another process holds it, we wait up to `lock_timeout_s`.
    """

    path: str | None = Field(
        default=None,
        description="DuckDB file; default $FEATURE_FACTORY_HOME/warehouse.duckdb.",
    )
    lock_timeout_s: float = Field(
        default=60.0, description="How long to wait for another process's lock on the file."
    )
    threads: int | None = Field(default=None, description="DuckDB worker threads (default: all cores).")
    memory_limit: str | None = Field(default=None, description="DuckDB memory limit, e.g. '2GB'.")
    # Held while Dagster executes with this resource (a run in process, or one step's process):
    # sessions opened meanwhile share the open database instead of reopening the file (~20-100 ms
    # each, and a checkpoint on every close) and find its buffer cache warm. Outside Dagster nothing
    # is held between sessions.
    _pinned: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        if self._pinned is None:
            self._pinned = self._connect()

    def teardown_after_execution(self, context) -> None:
        pinned, self._pinned = self._pinned, None
        if pinned is not None:
            pinned.close()

    @contextmanager
    def held(self) -> Iterator[None]:
        if self._pinned is not None:  # already held (by the run, or an outer block)
            yield
            return
        self.setup_for_execution(None)
        try:
            yield
        finally:
            self.teardown_after_execution(None)

    @property
    def dialect(self) -> Dialect:
        return DUCKDB

    def resolved_path(self) -> Path:
        return Path(self.path).resolve() if self.path else settings.warehouse_path()

    def describe(self) -> str:
        return f"duckdb:{self.resolved_path()}"

    def _connect(self) -> duckdb.DuckDBPyConnection:
        path = self.resolved_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if self.threads:
            config["threads"] = self.threads
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                con = duckdb.connect(str(path), config=config)
                # Timestamps are UTC everywhere; never the machine's zone.
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open DuckDB file {path}: {exc}") from exc
                time.sleep(0.2)

    @contextmanager
    def session(self) -> Iterator[DuckDBSession]:
        con = self._connect()
        try:
            yield DuckDBSession(con)
        finally:
            con.close()

    def rewrite_file(self) -> str:
        """Copy every table and view into a new file and swap it in (issue 30: erasure). DuckDB
        keeps deleted rows' bytes in the file after DELETE and CHECKPOINT (deletes are marks on
        row groups; freed blocks are not zeroed, and VACUUM or rewriting a table leaves them too):
        only a fresh file holds no byte of them. Needs the file to itself: this process's held
        connection is closed first and reopened after; another process's lock fails the open."""
        path = self.resolved_path()
        fresh = path.with_name(f".{path.name}.rewrite")
        pinned = self._pinned is not None
        self.teardown_after_execution(None)
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)
        before = path.stat().st_size if path.exists() else 0
        try:
            con = self._connect()
            try:
                source = con.execute("SELECT current_database()").fetchone()[0]
                con.execute(f"ATTACH {sql_literal(str(fresh))} AS ff_rewrite")
                con.execute(f"COPY FROM DATABASE {quote_ident(source)} TO ff_rewrite")
                con.execute("CHECKPOINT ff_rewrite")
                con.execute("DETACH ff_rewrite")
            finally:
                con.close()
            os.replace(fresh, path)
            path.with_name(path.name + ".wal").unlink(missing_ok=True)  # a clean close leaves none
        except BaseException:
            fresh.unlink(missing_ok=True)
            raise
        finally:
            if pinned:
                self.setup_for_execution(None)
        return f"{path.name} rewritten into a fresh file ({before:,} -> {path.stat().st_size:,} bytes)"

    def session_columns(self, session: DuckDBSession, table: str) -> list[tuple[str, str]]:
        rows = session.fetch_all(
            "SELECT lower(column_name), data_type FROM information_schema.columns "
            "WHERE lower(table_name) = ? AND table_schema = current_schema() ORDER BY ordinal_position",
            [quote_ident(table)],
        )
        return [(r[0], r[1]) for r in rows]

    def session_replace_where(self, s: DuckDBSession, table: str, where_sql: str, select_sql: str,
                              params: Sequence[Any] | None = None,
                              where_params: Sequence[Any] | None = None) -> int:
        # DuckDB's DDL is transactional, so the new columns, the DELETE and an INSERT straight from
        # the SELECT commit together: each row is written once, not into a staging table and then
        # copied (a 100-day backfill's 10M raw_events rows were written twice). A SELECT that may
        # read the table itself keeps the staging copy: it must see the rows before the DELETE.
        if _may_read(s, select_sql, table):
            return super().session_replace_where(s, table, where_sql, select_sql, params, where_params)
        name = quote_ident(table)
        selected = [(quote_ident(r[0].lower()), r[1]) for r in s.fetch_all(f"DESCRIBE {select_sql}", params)]
        have = {c for c, _ in self.session_columns(s, name)}
        with s.transaction():
            if not have:
                row = s.fetch_one(f"CREATE TABLE {name} AS {select_sql}", params)
            else:
                for col, typ in selected:
                    if col not in have:
                        s.execute(f"ALTER TABLE {name} ADD COLUMN {col} {typ}")
                s.execute(f"DELETE FROM {name} WHERE {where_sql}", where_params)
                cols = ", ".join(c for c, _ in selected)
                row = s.fetch_one(f"INSERT INTO {name} ({cols}) SELECT * FROM ({select_sql}) AS ff_new", params)
        return int(row[0]) if row else 0

    def _write_df(self, table: str, df: pd.DataFrame, mode: str) -> int:
        name = quote_ident(table)
        with self.session() as s:
            s.con.register("_ff_df", df)
            try:
                if mode == "replace" or not self.session_columns(s, name):
                    staging = quote_ident(f"{table}__staging")
                    s.execute(f"CREATE OR REPLACE TABLE {staging} AS SELECT * FROM _ff_df")
                    with s.transaction():
                        s.execute(f"DROP TABLE IF EXISTS {name}")
                        s.execute(f"ALTER TABLE {staging} RENAME TO {name}")
                else:
                    existing = {c for c, _ in self.session_columns(s, name)}
                    missing = [c for c in df.columns if c not in existing]
                    if missing:
                        raise WarehouseError(f"{table} has no column(s) {missing}")
                    cols = ", ".join(quote_ident(str(c)) for c in df.columns)
                    s.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _ff_df")
            finally:
                s.con.unregister("_ff_df")
        return len(df)

    def stage_file(self, path: Path, fmt: str, table: str) -> list[str]:
        name = quote_ident(table)
        if fmt == "csv":
            return self._stage_csv(path, name)
        if fmt != "parquet":
            raise WarehouseError(f"{path}: unsupported landing format {fmt!r} (csv or parquet)")
        dup = _parquet_duplicate_column(path)
        if dup:
            raise WarehouseError(f"cannot read landing file {path}: column {dup!r} appears more than once "
                                 "(names are case-insensitive); rename or drop the duplicate")
        with self.session() as s:
            try:
                s.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT *, "
                          f"CAST(row_number() OVER () AS BIGINT) AS __ff_source_row, "
                          f"CAST(NULL AS VARCHAR) AS {ROW_ERROR_COLUMN} "
                          f"FROM read_parquet({sql_literal(literal_path(path))})")
            except WarehouseError as exc:
                raise WarehouseError(f"cannot read landing file {path}: {str(exc).splitlines()[0]}") from exc
            raw = [r[0] for r in s.fetch_all(f"SELECT column_name FROM (DESCRIBE {name})")]
            names = landing_csv.column_names([c for c in raw if c not in ("__ff_source_row", ROW_ERROR_COLUMN)])
            if len(set(names)) < len(names):
                dup = next(n for n in names if names.count(n) > 1)
                raise WarehouseError(f"cannot read landing file {path}: column {dup!r} appears more than "
                                     "once (names are case-insensitive); rename or drop the duplicate")
            # Rename (metadata only) and retype as text: validation happens in SQL, on the text.
            for original, target in zip([c for c in raw if c not in ("__ff_source_row", ROW_ERROR_COLUMN)], names):
                quoted = '"' + original.replace('"', '""') + '"'
                s.execute(f'ALTER TABLE {name} ALTER COLUMN {quoted} TYPE VARCHAR')
                if original != target:
                    s.execute(f'ALTER TABLE {name} RENAME COLUMN {quoted} TO "{target.replace(chr(34), chr(34) * 2)}"')
            s.execute(f"ALTER TABLE {name} RENAME COLUMN __ff_source_row TO source_row")
        return names

    def _stage_csv(self, path: Path, name: str) -> list[str]:
        """DuckDB's parallel reader in the contract's strict dialect; a file it refuses is read
        record by record (`landing_csv`) so only its malformed records are marked."""
        try:
            columns = landing_csv.read_header(path)
        except (landing_csv.CsvHeaderError, OSError, EOFError) as exc:
            raise WarehouseError(f"cannot read landing file {path}: {exc}") from exc
        except Exception as exc:  # zlib/gzip errors have no common base class
            raise WarehouseError(f"cannot read landing file {path}: {type(exc).__name__}: {exc}") from exc
        cols = ", ".join(f'"{c.replace(chr(34), chr(34) * 2)}"' for c in columns)
        with self.session() as s:
            try:
                s.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {cols}, "
                          f"CAST(row_number() OVER () AS BIGINT) AS source_row, "
                          f"CAST(NULL AS VARCHAR) AS {ROW_ERROR_COLUMN} FROM {csv_reader_sql(path, columns)}")
                return columns
            except WarehouseError:
                pass  # some record is not strict CSV: read it record by record below
            defs = ", ".join(f'"{c.replace(chr(34), chr(34) * 2)}" VARCHAR' for c in columns)
            s.execute(f"CREATE OR REPLACE TABLE {name} ({defs}, source_row BIGINT, {ROW_ERROR_COLUMN} VARCHAR)")
            try:
                for chunk in landing_csv.iter_chunks(path, len(columns), 100_000):
                    data = {c: pa.array([r[1][i] for r in chunk], pa.string()) for i, c in enumerate(columns)}
                    data["source_row"] = pa.array([r[0] for r in chunk], pa.int64())
                    data[ROW_ERROR_COLUMN] = pa.array([r[2] for r in chunk], pa.string())
                    s.con.register("_ff_chunk", pa.table(data))
                    try:
                        s.execute(f"INSERT INTO {name} SELECT * FROM _ff_chunk")
                    finally:
                        s.con.unregister("_ff_chunk")
            except (OSError, EOFError, UnicodeDecodeError) as exc:
                raise WarehouseError(f"cannot read landing file {path}: {exc}") from exc
        return columns

    def read_landing_files(self, files: Sequence[tuple[str, Path]], fmt: str) -> list[LandingRead]:
        # One read_parquet over a group: no per-file table, and the files are scanned in parallel.
        if fmt == "csv":
            return _csv_reads(files)
        if fmt != "parquet":
            return []
        groups: dict[tuple, list[tuple[str, str]]] = {}
        with self.session() as s:  # its own connection: a failed DESCRIBE must not abort the caller's
            for label, path in files:
                src = str(path)
                if _parquet_duplicate_column(path):
                    continue  # stage_file refuses it, naming the column
                try:
                    schema = tuple(s.fetch_all(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(literal_path(path))})"))
                except WarehouseError:
                    continue  # stage_file reports it, naming the file
                names = [r[0] for r in schema]
                lowered = [n.lower() for n in names]
                if (len(set(lowered)) < len(lowered) or any('"' in n for n in names)
                        or {"filename", "file_row_number", "source_file", "source_row"} & set(lowered)):
                    continue
                groups.setdefault(tuple((r[0], r[1]) for r in schema), []).append((label, src))
        reads = []
        for schema, members in groups.items():
            cols = ", ".join(f'CAST(r."{n}" AS VARCHAR) AS "{n.lower()}"' for n, _ in schema)
            paths = ", ".join(sql_literal(literal_path(Path(src))) for _, src in members)
            labels = ", ".join(f"({sql_literal(src)}, {sql_literal(label)})" for label, src in members)
            reads.append(LandingRead(
                labels=tuple(label for label, _ in members), columns=tuple(n.lower() for n, _ in schema),
                sql=f"SELECT m.ff_label AS source_file, CAST(r.file_row_number + 1 AS BIGINT) AS source_row, "
                    f"{cols} FROM read_parquet([{paths}], filename = true, file_row_number = true) r "
                    f"JOIN (VALUES {labels}) m(ff_path, ff_label) ON m.ff_path = r.filename"))
        return reads


# CSV files read by one statement (one transaction): bounds the rows a group holds in flight and
# what a group that fails (one bad record) has to redo file by file.
CSV_FILES_PER_READ = 25
_CSV_SKIP_NAMES = frozenset({"source_file"})  # the group's own label column


def _csv_reads(files: Sequence[tuple[str, Path]]) -> list[LandingRead]:
    """Landing CSVs with the same header, read by one statement: a UNION ALL of each file's strict
    reader (`csv_reader_sql`) numbering its own rows, so the rows go straight from the files into
    `landing_rows` without a text copy per file. A file whose header cannot be read here, or whose
    strict read fails (the whole group is then rolled back), is staged alone by `stage_file`, which
    reads it record by record: the quarantine reasons are those of the file-by-file path."""
    groups: dict[tuple[str, ...], list[tuple[str, Path]]] = {}
    for label, path in files:
        try:
            columns = tuple(landing_csv.read_header(path))
        except Exception:  # stage_file names the problem
            continue
        if any('"' in c for c in columns) or _CSV_SKIP_NAMES & set(columns):
            continue
        groups.setdefault(columns, []).append((label, path))
    reads = []
    for columns, members in groups.items():
        cols = ", ".join(f'"{c}"' for c in columns)
        for i in range(0, len(members), CSV_FILES_PER_READ):
            chunk = members[i:i + CSV_FILES_PER_READ]
            # row_number() OVER () numbers a file's records in file order (insertion order is kept).
            parts = [f"SELECT {sql_literal(label)} AS source_file, CAST(row_number() OVER () AS BIGINT) "
                     f"AS source_row, {cols} FROM {csv_reader_sql(path, list(columns))}" for label, path in chunk]
            reads.append(LandingRead(labels=tuple(label for label, _ in chunk), columns=columns,
                                     sql=" UNION ALL ".join(parts)))
    return reads
