"""Subject access: every row that holds an entity's ids, table by table, with a manifest (issue 30).

The tables are the erasure's (`targets.plan`), so what `export` shows is exactly what `erase`
would remove. Each table with rows becomes one file (`<table>.parquet`, or `.csv`); the online
store's current entries go to `online_store.json`; `manifest.json` lists every table searched
with its row count, file and SHA-256, and is written last, so a folder with a manifest is
complete. Only one subject's rows are read (a filter on the key), never a whole table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from feature_factory.catalog.sources import SourceCatalog
from feature_factory.catalog.training_sets import TrainingSetSpec
from feature_factory.features.entities import entity_tables
from feature_factory.governance.targets import Target, chunks, plan
from feature_factory.serving.store import OnlineStore
from feature_factory.warehouse.base import Warehouse, quote_ident

FORMATS = ("parquet", "csv")
MANIFEST = "manifest.json"


class ExportError(ValueError):
    """The export cannot be written; the message says why and what to do."""


@dataclass(frozen=True)
class ExportedTable:
    table: str
    column: str
    rows: int
    file: str | None  # None: no rows
    sha256: str | None
    why: str


@dataclass
class ExportManifest:
    entity: str
    subjects: int
    exported_at: str
    format: str
    tables: list[ExportedTable] = field(default_factory=list)
    online_store: dict | None = None

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_entity(warehouse: Warehouse, entity: str, ids: Sequence[str], out: Path, *, sources: SourceCatalog,
                  training_sets: Sequence[TrainingSetSpec] = (), store: OnlineStore | None = None,
                  fmt: str = "parquet", now: dt.datetime | None = None) -> ExportManifest:
    """Write every row holding `ids` of `entity` under `out` (a new or empty folder)."""
    if fmt not in FORMATS:
        raise ExportError(f"export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    ids = list(dict.fromkeys(str(i).strip() for i in ids))
    if not ids or not all(ids):
        raise ExportError(f"export {entity}: give one or more non-blank ids")
    try:
        entity_tables(entity, sources)
    except KeyError as exc:
        raise ExportError(f"export: {exc.args[0]}") from None
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"export folder {out} is not empty: give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    manifest = ExportManifest(entity, len(ids), now.isoformat(), fmt)
    with warehouse.held():  # one open database for the many small reads
        for t in plan(warehouse, entity, sources, training_sets)[0]:
            manifest.tables.append(_write_table(warehouse, t, ids, out, fmt))
    if store is not None:
        found = store.lookup(ids)
        entries = {i: {"snapshot_date": r[1], "age_days": r[2], "features": json.loads(r[3])}
                   for i, r in found.rows.items()}
        path = out / "online_store.json"
        path.write_text(json.dumps({"store": store.describe(), "version": found.meta.version if found.meta else None,
                                    "entries": entries}, indent=2, default=str))
        manifest.online_store = {"file": path.name, "entries": len(entries), "sha256": _sha256(path)}
    (out / MANIFEST).write_text(manifest.to_json())  # last: a folder with a manifest is complete
    return manifest


def _write_table(warehouse: Warehouse, t: Target, ids: list[str], out: Path, fmt: str) -> ExportedTable:
    """One table's rows of the ids as `<table>.<fmt>` (no file when it has none)."""
    frames = [warehouse.fetch_df(f"SELECT * FROM {quote_ident(t.table)} WHERE {t.where(len(part))}", list(part))
              for part in chunks(ids)]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if df.empty:
        return ExportedTable(t.table, t.column, 0, None, None, t.why)
    path = out / f"{t.table}.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return ExportedTable(t.table, t.column, len(df), path.name, _sha256(path), t.why)
