"""Snowflake backend, built on `dagster-snowflake`'s `SnowflakeResource`.

Tested offline with `fakesnow`, which runs Snowflake SQL on DuckDB. Where fakesnow and Snowflake
disagree we pick SQL both accept; fragments fakesnow cannot run are noted where they are built.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from dagster_snowflake import SnowflakeResource
from pydantic import Field

from feature_factory.warehouse import landing_csv
from feature_factory.warehouse.base import Warehouse, WarehouseError, quote_ident, sql_literal
from feature_factory.warehouse.dialect import SNOWFLAKE, Dialect
from feature_factory.warehouse.landing_csv import ROW_ERROR_COLUMN

_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")


class SnowflakeSession:
    def __init__(self, conn: Any):
        self.conn = conn
        self.cur = conn.cursor()
        self._in_tx = False

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        try:
            self.cur.execute(sql, list(params) if params is not None else None)
        except Exception as exc:  # the connector raises its own hierarchy
            raise WarehouseError(f"{exc}\n-- while running:\n{sql}") from exc

    def fetch_all(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        self.execute(sql, params)
        return [tuple(r) for r in self.cur.fetchall()]

    def fetch_one(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        self.execute(sql, params)
        row = self.cur.fetchone()
        return tuple(row) if row is not None else None

    def fetch_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        self.execute(sql, params)
        names = [d[0].lower() for d in self.cur.description]
        df = pd.DataFrame.from_records(self.cur.fetchall(), columns=names)
        return df

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_tx:
            yield
            return
        self.execute("BEGIN")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        else:
            self.execute("COMMIT")
        finally:
            self._in_tx = False


class SnowflakeWarehouse(Warehouse):
    """Production backend. Credentials come from `snowflake` (a `SnowflakeResource` configured with
    `dg.EnvVar`s by `deployment.py`); nothing secret is stored or logged here."""

    snowflake: SnowflakeResource = Field(description="Connection settings (dagster-snowflake).")
    load_chunk_rows: int = Field(
        default=200_000, description="Rows per chunk when loading a landing file."
    )

    @property
    def dialect(self) -> Dialect:
        return SNOWFLAKE  # its DDL commits on its own (Dialect.transactional_ddl is False)

    def describe(self) -> str:
        return f"snowflake:{self.snowflake.database}.{self.snowflake.schema_}"

    @contextmanager
    def session(self) -> Iterator[SnowflakeSession]:
        with self.snowflake.get_connection() as conn:
            session = SnowflakeSession(conn)
            tag = query_tag()
            if tag:  # cost per asset and run: docs/pipeline-health.md turns the tags into credits
                try:
                    session.execute(f"ALTER SESSION SET QUERY_TAG = {sql_literal(tag)}")
                except WarehouseError:  # attribution only (fakesnow cannot set it): never stops a step
                    pass
            yield session

    def session_columns(self, session: SnowflakeSession, table: str) -> list[tuple[str, str]]:
        rows = session.fetch_all(
            "SELECT lower(column_name), data_type, numeric_scale FROM information_schema.columns "
            "WHERE lower(table_name) = ? AND table_schema = current_schema() ORDER BY ordinal_position",
            [quote_ident(table)],
        )
        return [(r[0], _portable_type(r[1], r[2])) for r in rows]

    def _write_df(self, table: str, df: pd.DataFrame, mode: str) -> int:
        from snowflake.connector.pandas_tools import write_pandas

        name = quote_ident(table)
        upper = df.rename(columns={c: str(c).upper() for c in df.columns})
        with self.session() as s:
            if mode == "replace" or not self.session_columns(s, name):
                staging = f"{name}__staging"
                s.execute(f"DROP TABLE IF EXISTS {staging}")
                write_pandas(s.conn, upper, staging.upper(), auto_create_table=True)
                with s.transaction():
                    s.execute(f"DROP TABLE IF EXISTS {name}")
                    s.execute(f"ALTER TABLE {staging} RENAME TO {name}")
            else:
                write_pandas(s.conn, upper, name.upper())
        return len(df)

    def stage_file(self, path: Path, fmt: str, table: str) -> list[str]:
        """Streams the file in chunks through `write_pandas` (which PUTs and COPYs on Snowflake);
        memory is bounded by `load_chunk_rows`, not by the file size. CSV is parsed here in the
        contract's dialect (`landing_csv`), so a malformed record is marked, never the file lost."""
        from snowflake.connector.pandas_tools import write_pandas

        name = quote_ident(table)
        try:
            frames, lowered = _read_frames(path, fmt, self.load_chunk_rows)
        except Exception as exc:
            raise WarehouseError(f"cannot read landing file {path}: {exc}") from exc
        with self.session() as s:
            col_defs = ", ".join(f'"{c.upper()}" VARCHAR' for c in _staged_names(lowered))
            s.execute(f"CREATE OR REPLACE TABLE {name} ({col_defs}, SOURCE_ROW BIGINT, "
                      f"{ROW_ERROR_COLUMN.upper()} VARCHAR)")
            try:
                for frame in frames:
                    write_pandas(s.conn, frame, name.upper())
            except Exception as exc:
                raise WarehouseError(f"cannot read landing file {path}: {exc}") from exc
        return lowered


def query_tag() -> str | None:
    """The QUERY_TAG of the Dagster step running now: compact JSON with the job, run, step and the
    assets it materializes (Snowflake keeps at most 2,000 characters); None outside a step."""
    import dagster as dg

    try:
        ctx = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None
    assets = sorted(k.to_user_string() for k in ctx.selected_asset_keys) if ctx.has_assets_def else []
    tag = {"app": "feature_factory", "job": ctx.job_name, "run_id": ctx.run_id, "step": ctx.op.name, "assets": assets}
    text = json.dumps(tag, separators=(",", ":"))
    while len(text) > 2000 and tag["assets"]:
        tag["assets"] = tag["assets"][:-1]
        text = json.dumps(tag, separators=(",", ":"))
    return text


def _portable_type(snowflake_type: str, scale: int | None = None) -> str:
    t = snowflake_type.upper()
    if t in ("NUMBER", "FIXED", "DECIMAL") and scale:
        return "DOUBLE"
    if t in ("TEXT", "VARCHAR", "STRING"):
        return "VARCHAR"
    if t in ("NUMBER", "FIXED", "INTEGER", "BIGINT"):
        return "BIGINT"
    if t in ("FLOAT", "DOUBLE", "REAL"):
        return "DOUBLE"
    if t.startswith("TIMESTAMP"):
        return "TIMESTAMP"
    return t


def _staged_names(names: list[str]) -> list[str]:
    """Column names for the staging table: a file's name as is when it is a plain identifier, else
    `ff_col_<position>` (`write_pandas` does not escape quotes in names; such a column is never read
    by name, only the contract's columns and configured aliases are, and those are identifiers)."""
    return [n if _PLAIN.match(n) else f"ff_col_{i}" for i, n in enumerate(names, start=1)]


def _read_frames(path: Path, fmt: str, chunk_rows: int):
    """(lazy chunks as DataFrames of text, lower-cased column names). Raises for an unreadable file."""
    if fmt == "csv":
        names = landing_csv.read_header(path)
        upper = [c.upper() for c in _staged_names(names)] + ["SOURCE_ROW", ROW_ERROR_COLUMN.upper()]

        def csv_frames():
            for chunk in landing_csv.iter_chunks(path, len(names), chunk_rows):
                yield pd.DataFrame([[*values, n, error] for n, values, error in chunk], columns=upper)

        return csv_frames(), names
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        names = landing_csv.column_names(pf.schema_arrow.names)
        if len(set(names)) < len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"column {dup!r} appears more than once (names are case-insensitive); "
                             "rename or drop the duplicate")
        upper = [c.upper() for c in _staged_names(names)]

        def parquet_frames():
            offset = 0
            for batch in pf.iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas().astype(object)
                frame = frame.where(frame.notna(), None).map(lambda v: None if v is None else str(v))
                frame.columns = upper
                frame["SOURCE_ROW"] = range(offset + 1, offset + len(frame) + 1)
                frame[ROW_ERROR_COLUMN.upper()] = None
                offset += len(frame)
                yield frame

        return parquet_frames(), names
    raise ValueError(f"unsupported landing format {fmt!r} (csv or parquet)")
