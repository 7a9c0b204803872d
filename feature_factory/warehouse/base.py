"""The `Warehouse` contract every asset is typed against.

Assets speak portable SQL (lower-case unquoted identifiers; types VARCHAR, DOUBLE, BIGINT, DATE,
TIMESTAMP, BOOLEAN; `?` placeholders) through this interface. A `Warehouse` keeps connections,
catalog lookups (`table_exists`, `columns`), atomic writes and landing-file loading, implemented
side by side in `duckdb.py` and `snowflake.py`. The SQL text that differs between engines (parsing
untrusted text, quantiles, date arithmetic) is its `dialect`, a connection-free object
(`dialect.py`); the fragment methods here delegate to it.

Results are returned with lower-case column names on every backend (Snowflake upper-cases unquoted
identifiers), so callers never see the difference.

Only bounded results may be fetched into Python (statistics, alerts, one row per label): the
methods that fetch say so, and no asset should call them on an events or features table without a
GROUP BY or LIMIT.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from feature_factory.warehouse.dialect import Dialect
# The Dagster-free parts of the contract live in interface.py (modules that only take a warehouse
# or catch its errors import them from there without loading Dagster); importable from here too.
from feature_factory.warehouse.interface import LandingRead, Session, WarehouseError, clean_row  # noqa: F401
from feature_factory.warehouse.sql import quote_ident, sql_literal  # noqa: F401 (callers import them from here)


class Warehouse(dg.ConfigurableResource, ABC):
    """Where features are computed. Implementations: `DuckDBWarehouse`, `SnowflakeWarehouse`."""

    # -- connection -------------------------------------------------------------------------------
    @property
    @abstractmethod
    def dialect(self) -> Dialect:
        """The engine's SQL fragments (`dialect.DUCKDB` or `dialect.SNOWFLAKE`); `str()` is its name."""

    @property
    def transactional_ddl(self) -> bool:
        """Whether CREATE/ALTER TABLE take part in a transaction (see `Dialect.transactional_ddl`)."""
        return self.dialect.transactional_ddl

    @abstractmethod
    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a connection for a group of statements; closed on exit."""

    def describe(self) -> str:
        """A human description for metadata and logs (never includes secrets)."""
        return self.dialect.name

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep what sessions share open for a block of several sessions (DuckDB: the database
        file, so each session does not reopen it); a no-op where sessions share nothing."""
        yield

    # -- convenience (one statement, one short-lived connection) ----------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self.session() as s:
            s.execute(sql, params)

    def fetch_all(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.session() as s:
            return s.fetch_all(sql, params)

    def fetch_one(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        with self.session() as s:
            return s.fetch_one(sql, params)

    def fetch_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Fetch a bounded result as a DataFrame with lower-case column names."""
        with self.session() as s:
            return s.fetch_df(sql, params)

    # -- catalog ------------------------------------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        return bool(self.columns(table))

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) pairs, lower-case names, in table order; [] if the table does not exist."""
        with self.session() as s:
            return self.session_columns(s, table)

    @abstractmethod
    def session_columns(self, session: Session, table: str) -> list[tuple[str, str]]:
        """`columns` read inside an open session (so it sees that session's uncommitted DDL)."""

    def row_count(self, table: str, where: str = "", params: Sequence[Any] | None = None) -> int:
        if not self.table_exists(table):
            return 0
        clause = f" WHERE {where}" if where else ""
        row = self.fetch_one(f"SELECT COUNT(*) FROM {quote_ident(table)}{clause}", params)
        return int(row[0]) if row else 0

    # -- atomic, idempotent writes -------------------------------------------------------------------
    def replace_table(self, table: str, select_sql: str, params: Sequence[Any] | None = None) -> int:
        """Atomically replace `table` with the result of `select_sql`; returns its row count.

        Built under a staging name first, then swapped in one transaction, so a failure leaves the
        previous version readable.
        """
        name = quote_ident(table)
        staging = quote_ident(f"{table}__staging")
        with self.session() as s:
            s.execute(f"DROP TABLE IF EXISTS {staging}")
            s.execute(f"CREATE TABLE {staging} AS {select_sql}", params)
            with s.transaction():
                s.execute(f"DROP TABLE IF EXISTS {name}")
                s.execute(f"ALTER TABLE {staging} RENAME TO {name}")
            row = s.fetch_one(f"SELECT COUNT(*) FROM {name}")
        return int(row[0]) if row else 0

    def replace_where(
        self,
        table: str,
        where_sql: str,
        select_sql: str,
        params: Sequence[Any] | None = None,
        where_params: Sequence[Any] | None = None,
    ) -> int:
        """Replace the rows of `table` matching `where_sql` with the rows of `select_sql`.

        The partition-write primitive: delete + insert in one transaction (so a partition is
        replaced, never appended twice, and readers see the old or the new rows, never neither).
        Creates the table on first use; adds columns the SELECT has and the table lacks (columns
        may grow). Returns the number of rows inserted.
        """
        with self.session() as s:
            return self.session_replace_where(s, table, where_sql, select_sql, params, where_params)

    def session_replace_where(
        self,
        s: Session,
        table: str,
        where_sql: str,
        select_sql: str,
        params: Sequence[Any] | None = None,
        where_params: Sequence[Any] | None = None,
    ) -> int:
        """`replace_where` in an open session, so the SELECT may read that session's temporary
        tables. This default builds the rows under a staging name first (the SELECT is evaluated
        before the old rows go, even when it reads `table`), then deletes and inserts."""
        name = quote_ident(table)
        staging = quote_ident(f"{table}__staging")
        s.execute(f"DROP TABLE IF EXISTS {staging}")
        s.execute(f"CREATE TABLE {staging} AS {select_sql}", params)
        staged_cols = self.session_columns(s, staging)
        try:
            if not self.session_columns(s, name):
                with s.transaction():
                    s.execute(f"CREATE TABLE {name} AS SELECT * FROM {staging}")
            else:
                existing = {c for c, _ in self.session_columns(s, name)}
                ddl = [f"ALTER TABLE {name} ADD COLUMN {quote_ident(col)} {typ}"
                       for col, typ in staged_cols if col not in existing]
                if not self.transactional_ddl:
                    for statement in ddl:
                        s.execute(statement)
                cols = ", ".join(quote_ident(c) for c, _ in staged_cols)
                with s.transaction():  # new columns and the rows swap together where DDL allows
                    if self.transactional_ddl:
                        for statement in ddl:
                            s.execute(statement)
                    s.execute(f"DELETE FROM {name} WHERE {where_sql}", where_params)
                    s.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {staging}")
            row = s.fetch_one(f"SELECT COUNT(*) FROM {staging}")
        finally:
            s.execute(f"DROP TABLE IF EXISTS {staging}")
        return int(row[0]) if row else 0

    def write_df(self, table: str, df: pd.DataFrame, mode: str = "append") -> int:
        """Write a small DataFrame (statistics, alerts, patches, labels; never events).

        `mode="append"` inserts (creating the table if needed); `mode="replace"` swaps the table
        atomically.
        """
        if mode not in ("append", "replace"):
            raise ValueError(f"write_df mode must be 'append' or 'replace', got {mode!r}")
        quote_ident(table)
        for col in df.columns:
            quote_ident(str(col))
        return self._write_df(table, df, mode)

    @abstractmethod
    def _write_df(self, table: str, df: pd.DataFrame, mode: str) -> int: ...

    # -- landing files -------------------------------------------------------------------------------
    @abstractmethod
    def stage_file(self, path: Path, fmt: str, table: str) -> list[str]:
        """Load one landing file (`fmt` = `csv` or `parquet`) into `table` (replaced), every column
        as VARCHAR plus `source_row BIGINT` (1-based row number in the file). Returns the file's
        column names, lower-cased, in file order. Raises `WarehouseError` naming the file when it
        cannot be read."""

    def read_landing_files(self, files: Sequence[tuple[str, Path]], fmt: str) -> list[LandingRead]:
        """Plan reading many landing files (`(label, path)` pairs, format `fmt`) in few statements:
        one `LandingRead` per group of files with the same columns. Nothing is loaded yet; a file
        left out of every group (unreadable, or not readable together here) is staged alone with
        `stage_file`, which names it in its error. The default reads every file alone."""
        return []

    # -- dialect fragments: the engine's `dialect` builds them (see dialect.Dialect for each) -------
    def try_double(self, expr: str) -> str:
        return self.dialect.try_double(expr)

    def try_timestamp(self, expr: str) -> str:
        return self.dialect.try_timestamp(expr)

    def try_strptime(self, expr: str, fmt: str) -> str:
        return self.dialect.try_strptime(expr, fmt)

    def quantiles(self, expr: str, qs: Sequence[float]) -> list[str]:
        return self.dialect.quantiles(expr, qs)

    def approx_count_distinct(self, expr: str) -> str:
        return self.dialect.approx_count_distinct(expr)

    def unit_hash(self, exprs: Sequence[str], mod: int) -> str:
        return self.dialect.unit_hash(exprs, mod)

    def quantile_grid(self, expr: str, m: int) -> str | None:
        return self.dialect.quantile_grid(expr, m)

    def asof_left_join(self, left: str, right: str, on: str, left_time: str, right_time: str) -> str | None:
        return self.dialect.asof_left_join(left, right, on, left_time, right_time)

    def date_add_days(self, date_expr: str, days: str | int) -> str:
        return self.dialect.date_add_days(date_expr, days)

    def date_diff_days(self, start_expr: str, end_expr: str) -> str:
        return self.dialect.date_diff_days(start_expr, end_expr)

    def epoch_ms_to_timestamp(self, ms_expr: str) -> str:
        return self.dialect.epoch_ms_to_timestamp(ms_expr)
