"""Reproducible training sets (issue 30): fingerprints, and named snapshots that can be listed,
exported (Parquet + manifest) and restored; no Dagster here.

- `row_fingerprint`: SHA-256 of a training set's rows, sorted first, so the same rows in any order
  give the same fingerprint and one changed value gives another.
- `definitions_fingerprint`: SHA-256 of the catalog definitions of its features (aggregate, window,
  filter, value, source, dtype), so "same rows, other definitions" is told apart.
- A snapshot is a frozen copy in the warehouse (`training_set_snapshot__<name>`, CREATE TABLE AS,
  no rows through Python) plus one row of `training_set_snapshots`. `restore` rebuilds the
  training set from it and checks the rebuilt rows' fingerprint against the recorded one. A model
  version names its snapshot (`ModelVersion.training_snapshot`): churn_model takes one per round,
  named after the rows' fingerprint, so retraining on the same rows reuses it.

A training set is one row per label (bounded by labels, not events), so reading it to fingerprint
it is within the project's rule; the copy itself stays in the warehouse. An erasure deletes an
erased id's rows from snapshots too (they are found as tables with the key column); a snapshot
changed that way no longer matches its fingerprint, and `restore` says so rather than pretending.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from feature_factory import tables
from feature_factory.catalog.spec import FeatureSpec
from feature_factory.warehouse.base import Warehouse, quote_ident

REGISTRY = tables.TRAINING_SET_SNAPSHOTS.name
PREFIX = "training_set_snapshot__"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
KEYS = ("customer_id", "label_date", "churned", "feature_snapshot_date", "feature_age_days")


class SnapshotError(ValueError):
    """A snapshot cannot be taken, found or restored; the message says which and why."""


@dataclass(frozen=True)
class Snapshot:
    name: str
    source_table: str
    snapshot_table: str
    rows: int
    row_fingerprint: str
    definitions_fingerprint: str
    features: tuple[str, ...]
    label_window: str
    created_at: str
    created_by: str


def read_rows(warehouse: Warehouse, table: str) -> pd.DataFrame:
    """Every row of `table`, columns in table order, rows sorted by every column."""
    df = warehouse.fetch_df(f"SELECT * FROM {quote_ident(table)}")
    return df.sort_values(list(df.columns), na_position="last", kind="mergesort").reset_index(drop=True)


def row_fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 of the rows (sorted first) with their column names and values as text."""
    rows = df.sort_values(list(df.columns), na_position="last", kind="mergesort")
    h = hashlib.sha256(json.dumps(list(rows.columns)).encode())
    for chunk in range(0, len(rows), 50_000):
        h.update(rows.iloc[chunk:chunk + 50_000].to_csv(index=False, header=False, na_rep="\\N").encode())
    return h.hexdigest()


def definitions_fingerprint(features: Sequence[FeatureSpec]) -> str:
    """SHA-256 of what computes each feature (not its description or owner)."""
    keep = ("name", "dtype", "aggregate", "window_days", "empty_value", "entity", "agg", "value_sql",
            "filter_sql", "source", "source_table", "source_key")
    body = [{k: str(getattr(f, k, None)) for k in keep} for f in sorted(features, key=lambda f: f.name)]
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _ensure_registry(warehouse: Warehouse) -> None:
    warehouse.execute(f"CREATE TABLE IF NOT EXISTS {REGISTRY} ({tables.TRAINING_SET_SNAPSHOTS.ddl()})")


def list_snapshots(warehouse: Warehouse) -> list[Snapshot]:
    if not warehouse.table_exists(REGISTRY):
        return []
    cols = tables.TRAINING_SET_SNAPSHOTS.names
    out = []
    for row in warehouse.fetch_all(f"SELECT {', '.join(cols)} FROM {REGISTRY} ORDER BY created_at, name"):
        rec = dict(zip(cols, row))
        rec["features"] = tuple(json.loads(rec["features"] or "[]"))
        rec["created_at"] = str(rec["created_at"])
        rec["rows"] = int(rec["rows"])
        out.append(Snapshot(**rec))
    return out


def get(warehouse: Warehouse, name: str) -> Snapshot:
    for s in list_snapshots(warehouse):
        if s.name == name:
            return s
    known = ", ".join(s.name for s in list_snapshots(warehouse)) or "none"
    raise SnapshotError(f"training set snapshot {name!r} does not exist (snapshots: {known})")


def auto_name(fingerprint: str) -> str:
    """The name a training round gives the snapshot of its rows: the same rows, the same name."""
    return f"rows_{fingerprint[:16]}"


def create(warehouse: Warehouse, name: str | None = None, *, source: str = tables.TRAINING_SET.name,
           features: Sequence[FeatureSpec] = (), created_by: str = "", now: dt.datetime | None = None) -> Snapshot:
    """Snapshot `source` as `name` (default: named after its rows' fingerprint). Taking the same
    rows again under the same name returns the existing snapshot; other rows under a taken name
    are refused."""
    if not warehouse.table_exists(source):
        raise SnapshotError(f"table {source} does not exist: materialize it before taking a snapshot")
    df = read_rows(warehouse, source)
    fp = row_fingerprint(df)
    name = name or auto_name(fp)
    if not _NAME.match(name):
        raise SnapshotError(f"snapshot name {name!r}: use lower-case letters, digits and _ (at most 41, a letter first)")
    existing = {s.name: s for s in list_snapshots(warehouse)}
    if name in existing:
        if existing[name].row_fingerprint == fp:
            return existing[name]
        raise SnapshotError(f"snapshot {name!r} already exists with other rows ({existing[name].rows} rows, "
                            f"fingerprint {existing[name].row_fingerprint[:12]}); choose another name")
    table = PREFIX + name
    warehouse.replace_table(table, f"SELECT * FROM {quote_ident(source)}")
    present = set(df.columns)
    feature_cols = [c for c in df.columns if c not in KEYS]
    window = ""
    if "label_date" in present and len(df):
        days = pd.to_datetime(df["label_date"])
        window = f"{days.min().date()}..{days.max().date()}"
    snap = Snapshot(name, source, table, len(df), fp,
                    definitions_fingerprint([f for f in features if f.name in present]), tuple(feature_cols),
                    window, str(now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)),
                    created_by)
    _ensure_registry(warehouse)
    rec = asdict(snap)
    rec["features"] = json.dumps(list(snap.features))
    cols = tables.TRAINING_SET_SNAPSHOTS.names
    warehouse.execute(f"INSERT INTO {REGISTRY} ({', '.join(cols)}) VALUES ("
                      + ", ".join("CAST(? AS TIMESTAMP)" if c == "created_at" else "?" for c in cols) + ")",
                      [rec[c] for c in cols])
    return snap


def verify(warehouse: Warehouse, snap: Snapshot) -> tuple[bool, int, str]:
    """(the snapshot's rows still have its fingerprint, their count now, their fingerprint now)."""
    df = read_rows(warehouse, snap.snapshot_table)
    fp = row_fingerprint(df)
    return fp == snap.row_fingerprint, len(df), fp


def restore(warehouse: Warehouse, name: str, target: str | None = None) -> Snapshot:
    """Rebuild `target` (default: the table it was taken from) from snapshot `name`, atomically,
    then check the rebuilt rows against the recorded fingerprint."""
    snap = get(warehouse, name)
    same, rows, _ = verify(warehouse, snap)
    if not same:
        raise SnapshotError(f"snapshot {name!r} no longer holds the rows it was taken with ({rows} rows now, "
                            f"{snap.rows} then): rows were removed since (an erasure?); it cannot reproduce them")
    target = target or snap.source_table
    warehouse.replace_table(target, f"SELECT * FROM {quote_ident(snap.snapshot_table)}")
    rebuilt = row_fingerprint(read_rows(warehouse, target))
    if rebuilt != snap.row_fingerprint:
        raise SnapshotError(f"{target} rebuilt from snapshot {name!r} does not match its fingerprint")
    return snap


def export(warehouse: Warehouse, name: str, out: Path) -> dict:
    """`<out>/<name>.parquet` and `<out>/manifest.json` (fingerprints, rows, file SHA-256)."""
    snap = get(warehouse, name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = read_rows(warehouse, snap.snapshot_table)
    path = out / f"{name}.parquet"
    df.to_parquet(path, index=False)
    manifest = {**asdict(snap), "file": path.name, "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "rows_exported": len(df), "fingerprint_now": row_fingerprint(df)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return manifest
