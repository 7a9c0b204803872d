"""Landing files that hold an entity's ids: found, reported, and rewritten without them on request.

The warehouse knows which staged file each landed row came from (`<source>_landing_rows`), so the
files are found with one query per source, before the staged rows are erased. A file not staged
yet cannot be named this way; it is counted, and its rows of an erased id go to quarantine as
`erased_entity` when it is ingested (events/tombstones.py), so it cannot bring the id back.

Rewriting (`rewrite=True`) keeps every other row as it was: CSV rows are copied field by field
(`csv` module, no re-typing), Parquet through pyarrow with the same schema; the new file replaces
the old one atomically. The next ingestion sees a changed file and stages it again.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from feature_factory.catalog.sources import ColumnSpec, SourceCatalog, SourceSpec
from feature_factory.events import layout
from feature_factory.events import validation as rules
from feature_factory.governance.targets import chunks
from feature_factory.settings import Homes
from feature_factory.warehouse.base import Session, Warehouse, quote_ident


@dataclass(frozen=True)
class LandingFile:
    source: str
    path: Path
    rel: str  # as the file registry names it (relative to the landing folder)
    rows: int  # staged rows of the ids in it
    rewritten: bool = False
    rows_removed: int = 0
    note: str = ""


def normalized(column: ColumnSpec, value: str | None) -> str | None:
    """The value ingestion stores for landed text `value` (Python twin of `rules.value_sql`)."""
    if value is None:
        return None
    text = {"none": value, "trim": value.strip(), "lower": value.strip().lower(),
            "upper": value.strip().upper()}[column.normalize]
    return dict(column.value_map).get(text, text)


def keyed_sources(entity: str, sources: SourceCatalog) -> list[SourceSpec]:
    """Sources with landing files whose rows carry `entity`'s key."""
    return [s for s in sources.sources if entity in dict(s.entity_keys) and s.table is None]


def find(warehouse: Warehouse, entity: str, ids: Sequence[str], sources: SourceCatalog,
         homes: Homes | None = None) -> tuple[list[LandingFile], int]:
    """(the staged landing files holding the ids, how many files in those folders are not staged)."""
    found: list[LandingFile] = []
    unstaged = 0
    for spec in keyed_sources(entity, sources):
        t = layout.source_tables(spec)
        col = dict(spec.entity_keys)[entity]
        folder = layout.landing_dir(spec, homes)
        staged: set[str] = set()
        if warehouse.table_exists(t.landing_rows):
            expr = rules.value_sql(spec.column(col), quote_ident(col))
            counts: dict[str, int] = {}
            for part in chunks(list(ids)):
                for file, n in warehouse.fetch_all(
                        f"SELECT source_file, COUNT(*) FROM {quote_ident(t.landing_rows)} WHERE {expr} IN "
                        f"({', '.join('?' for _ in part)}) GROUP BY source_file", list(part)):
                    counts[file] = counts.get(file, 0) + int(n)
            found += [LandingFile(spec.name, folder / f, f, n) for f, n in sorted(counts.items())]
        if warehouse.table_exists(t.landing_files):
            staged = {r[0] for r in warehouse.fetch_all(f"SELECT source_file FROM {quote_ident(t.landing_files)}")}
        if folder.is_dir():
            unstaged += sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                            and p.relative_to(folder).as_posix() not in staged)
    return found, unstaged


def rewrite(file: LandingFile, entity: str, ids: Sequence[str], sources: SourceCatalog) -> LandingFile:
    """`file` rewritten without the rows whose key is one of `ids` (atomic replace)."""
    spec = sources.get(file.source)
    column = spec.column(dict(spec.entity_keys)[entity])
    wanted = set(ids)
    path = file.path
    if not path.exists():
        return LandingFile(file.source, path, file.rel, file.rows, note="the file is gone from the landing folder")
    name = path.name.lower()
    tmp = path.with_name(f".{path.name}.erase-tmp")
    try:
        if name.endswith(".parquet"):
            removed = _rewrite_parquet(path, tmp, column, wanted)
        elif name.endswith((".csv", ".csv.gz")):
            removed = _rewrite_csv(path, tmp, column, wanted, gz=name.endswith(".gz"))
        else:
            return LandingFile(file.source, path, file.rel, file.rows,
                               note=f"cannot rewrite a {path.suffix} file: remove it by hand")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return LandingFile(file.source, path, file.rel, file.rows, rewritten=True, rows_removed=removed)


def forget_content(session: Session, files: Sequence[LandingFile], sources: SourceCatalog, marker: str) -> None:
    """Make staging read these files again when they are landed again: their registry keeps its
    stat key (an untouched file stays quiet, its erased rows gone) but loses its content hash, so
    a file copied in again (new stat) no longer matches and is staged, and its rows of an erased
    id go to quarantine as erased_entity instead of silently staying away."""
    for spec in {f.source for f in files}:
        registry = layout.source_tables(sources.get(spec)).landing_files
        rels = [f.rel for f in files if f.source == spec]
        for part in chunks(rels):
            session.execute(f"UPDATE {quote_ident(registry)} SET file_fingerprint = ? WHERE source_file IN "
                            f"({', '.join('?' for _ in part)})", [marker, *part])


def _rewrite_csv(path: Path, tmp: Path, column: ColumnSpec, wanted: set[str], gz: bool) -> int:
    opener = gzip.open if gz else open
    with opener(path, "rt", newline="") as src:
        text = src.read()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or column.source not in header:
        raise ValueError(f"landing file {path}: no column {column.source!r} in its header")
    at = header.index(column.source)
    removed = 0
    with opener(tmp, "wt", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in reader:
            if len(row) > at and normalized(column, row[at]) in wanted:
                removed += 1
                continue
            writer.writerow(row)
    return removed


def _rewrite_parquet(path: Path, tmp: Path, column: ColumnSpec, wanted: set[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if column.source not in table.column_names:
        raise ValueError(f"landing file {path}: no column {column.source!r}")
    values = table.column(column.source).to_pylist()
    keep = [normalized(column, None if v is None else str(v)) not in wanted for v in values]
    pq.write_table(table.filter(pa.array(keep)), tmp)
    return keep.count(False)
