"""The tables one source's ingestion writes, and their columns, derived from its `SourceSpec`.

Every source gets the same four: its raw and quarantine tables (user-facing, named in the
sources file), the staged rows (`<source>_landing_rows`: every landed row as text, its parsed
values and its row-level reason) and the file registry (`<source>_landing_files`: stat key,
fingerprint, staging key, status, rows and days per file). The churn example's entry declares
the staging names it had before sources existed (`tables: {landing_rows: landing_rows,
landing_files: landing_files}`, contracts in `tables.py`; `staged_value_suffix: _value`): names
are data here, the code that reads and writes them is the same for every source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from feature_factory import tables
from feature_factory.catalog.sources import SourceSpec
from feature_factory.events import schema_drift
from feature_factory.settings import Homes
from feature_factory.warehouse.interface import Session
from feature_factory.warehouse.sql import quote_ident

if TYPE_CHECKING:  # only passed in (the resource class loads Dagster)
    from feature_factory.warehouse.base import Warehouse

Columns = list[tuple[str, str, str]]  # (name, SQL type, description)


@dataclass(frozen=True)
class SourceTables:
    raw: str
    quarantine: str
    landing_rows: str
    landing_files: str
    value_suffix: str  # a typed column's parsed value is staged as <column><suffix>

    def value(self, column: str) -> str:
        return f"{column}{self.value_suffix}"


def source_tables(spec: SourceSpec) -> SourceTables:
    """The four tables, as the source's entry names them (the churn example's staging tables:
    `landing_rows` / `landing_files`, the contracts tables.LANDING_* from before sources)."""
    return SourceTables(spec.raw_table, spec.quarantine_table, spec.landing_rows, spec.landing_files,
                        spec.staged_value_suffix)


def raw_columns(spec: SourceSpec) -> Columns:
    """(name, SQL type, description) of the raw table: the Dagster column schema and the DDL."""
    return [(c.name, c.sql_type, c.description or f"{c.type} (read from landing column {c.source!r}).")
            for c in spec.columns] + [
        ("event_date", "DATE", f"UTC day of {spec.event_time}: the daily partition."),
        ("source_file", "VARCHAR", "Landing file relative to the landing folder (or the source table)."),
        ("source_row", "BIGINT", "1-based data row in that file (NULL for a table source)."),
        ("ingested_at", "TIMESTAMP", "When the run that wrote the row started (UTC)."),
    ]


def quarantine_columns(spec: SourceSpec) -> Columns:
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


def typed_columns(spec: SourceSpec) -> list:
    """The declared columns with a parsed value (numbers, timestamps)."""
    return [c for c in spec.columns if c.type != "string"]


def rows_columns(spec: SourceSpec) -> list[tuple[str, str]]:
    """(name, SQL type) of the staged rows table, in the order staging inserts them."""
    t = source_tables(spec)
    return ([("source_file", "VARCHAR"), ("file_fingerprint", "VARCHAR"), ("source_row", "BIGINT")]
            + [(c.name, "VARCHAR") for c in spec.columns]
            + [(t.value(c.name), c.sql_type) for c in typed_columns(spec)]
            + [("event_date", "DATE"), ("row_reason", "VARCHAR"), ("staged_at", "TIMESTAMP"),
               ("row_detail", "VARCHAR")])


FILES_COLUMNS = tables.LANDING_FILES.schema  # every source's file registry has the contract's columns


def ensure_tables(warehouse: Warehouse, session: Session, spec: SourceSpec) -> None:
    """Create the source's four tables (and landing_schema_drift) if missing; add columns a table
    made by an earlier version lacks (appended, so explicit column lists keep working)."""
    t = source_tables(spec)
    ddl = {t.raw: [(c, ty) for c, ty, _ in raw_columns(spec)],
           t.quarantine: [(c, ty) for c, ty, _ in quarantine_columns(spec)],
           t.landing_rows: rows_columns(spec), t.landing_files: FILES_COLUMNS}
    for table, cols in ddl.items():
        session.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(table)} "
                        f"({', '.join(f'{c} {ty}' for c, ty in cols)})")
        have = {c for c, _ in warehouse.session_columns(session, table)}
        for c, ty in cols:
            if c not in have:
                session.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {c} {ty}")
    schema_drift.ensure_table(warehouse, session)


def landing_dir(spec: SourceSpec, homes: Homes | None = None) -> Path:
    """`spec`'s landing folder: its `location.landing_folder`, relative to <home>/landing of `homes`
    (default: the environment's). The homes' landing override (`FEATURE_FACTORY_LANDING`) names the
    folder of the source that declares `location.landing_override` (the churn example's)."""
    homes = homes or Homes()
    if spec.landing_override and (override := homes.landing_override()):
        return override
    folder = Path(spec.landing_folder or spec.name)
    return folder if folder.is_absolute() else homes.landing_root() / folder
