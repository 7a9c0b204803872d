"""Erase an entity's ids everywhere the project keeps them (issue 30); pure logic, no Dagster.

One call (`erase_entity`) does, in this order:

1. finds the tables holding the entity's ids (`targets.plan`: from the contracts, plus any other
   base table with the key column), the landing files holding them and the model versions fit on
   their rows, before anything is removed;
2. deletes their rows from every such table in one transaction, together with a tombstone per id
   (`erased_entities`: a salted hash, events/tombstones.py) so later ingestion quarantines the id
   as `erased_entity`; then re-counts every table (the verification: 0 rows left);
3. erases them from the entity's online store, every kept version, and from its bytes at rest
   (serving: SQLite secure_delete + VACUUM + truncated WAL; Redis HDEL + SAVE / BGREWRITEAOF);
4. reports the landing files (or rewrites them without the ids, `rewrite_landing`), names the model
   versions trained on the ids and, with `request_retrain`, asks for a retrain;
5. writes the erasure ledger (`erasure_ledger`): who, when, rows per place, the re-count; never an id;
6. removes the bytes from the warehouse at rest: DuckDB keeps deleted rows' bytes in its file, so
   the file is rewritten (`DuckDBWarehouse.rewrite_file`) and byte-scanned (its ledger row follows);
   on Snowflake the rows stay in Time Travel and Fail-safe, which the result says
   (`SNOWFLAKE_RETENTION`).

Idempotent: erasing an id again removes nothing more, writes no second tombstone and a new ledger
entry that says 0 rows.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from feature_factory import tables
from feature_factory.catalog.sources import SourceCatalog
from feature_factory.catalog.training_sets import TrainingSetSpec
from feature_factory.events import tombstones
from feature_factory.features.entities import entity_tables
from feature_factory.governance import landing, models
from feature_factory.governance.targets import Target, chunks, plan
from feature_factory.ml.registry import ModelRegistry
from feature_factory.serving.store import OnlineStore
from feature_factory.settings import Homes
from feature_factory.warehouse.base import Session, Warehouse, quote_ident

LEDGER = tables.ERASURE_LEDGER.name
SNOWFLAKE_RETENTION = (
    "Snowflake: the DELETEs are committed, but Snowflake still holds the deleted rows (and tables the "
    "pipeline replaced since) in Time Travel for each table's DATA_RETENTION_TIME_IN_DAYS (default 1 day, "
    "up to 90 on Enterprise edition), then 7 more days in Fail-safe (permanent tables; recoverable only "
    "by Snowflake support). Nothing a statement can do purges Fail-safe early; setting "
    "DATA_RETENTION_TIME_IN_DAYS = 0 on the project's tables (or using transient tables) shortens Time "
    "Travel to none, not Fail-safe.")
AGGREGATES = ("feature statistics, baselines, drift alerts, attribution baselines and model_performance hold "
              "aggregates over many ids and no id column: they keep the erased rows' contribution until "
              "recomputed (the next refresh, baseline capture or scoring run)")


class ErasureError(ValueError):
    """The request cannot be carried out; the message says what and how to fix it."""


@dataclass(frozen=True)
class ErasureRequest:
    entity: str
    ids: tuple[str, ...]
    requested_by: str
    rewrite_landing: bool = False  # rewrite the landing files without the ids (default: report them)
    request_retrain: bool = False  # ask for the entity model's retrain job

    @classmethod
    def of(cls, entity: str, ids: Sequence[str], requested_by: str, **options) -> ErasureRequest:
        """Ids trimmed (as ingestion stores keys), duplicates dropped; blank ids refused."""
        clean = tuple(dict.fromkeys(str(i).strip() for i in ids))
        if not clean:
            raise ErasureError(f"erase {entity}: no ids given")
        if any(not i for i in clean):
            raise ErasureError(f"erase {entity}: an id is blank; give each id to erase")
        if not requested_by.strip():
            raise ErasureError(f"erase {entity}: say who requests it (requested_by)")
        return cls(entity, clean, requested_by.strip(), **options)


@dataclass(frozen=True)
class LedgerRow:
    target_kind: str  # table | online_store | warehouse_file | landing_file | model_version | retrain_request | note
    target: str
    rows_erased: int | None
    rows_remaining: int | None
    detail: str


@dataclass
class ErasureResult:
    erasure_id: str
    entity: str
    subjects: int
    requested_by: str
    erased_at: dt.datetime
    rows: list[LedgerRow] = field(default_factory=list)
    landing_files: list[landing.LandingFile] = field(default_factory=list)
    unstaged_files: int = 0
    models: list[models.TrainedOn] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def verified(self) -> bool:
        """Every table and store re-counted 0 rows of the ids, and no byte scan found them."""
        return all(r.rows_remaining == 0 for r in self.rows
                   if r.target_kind in ("table", "online_store", "warehouse_file") and r.rows_remaining is not None)

    @property
    def rows_erased(self) -> int:
        return sum(r.rows_erased or 0 for r in self.rows if r.target_kind in ("table", "online_store"))

    def by_kind(self, kind: str) -> list[LedgerRow]:
        return [r for r in self.rows if r.target_kind == kind]


def _in(target: Target, part: Sequence[str]) -> str:
    return f"FROM {quote_ident(target.table)} WHERE {target.where(len(part))}"


def _count(db, target: Target, ids: Sequence[str]) -> int:
    return sum(int(db.fetch_one(f"SELECT COUNT(*) {_in(target, part)}", list(part))[0]) for part in chunks(ids))


def _tombstone(s: Session, entity: str, hashes: list[str], erasure_id: str, now: dt.datetime) -> int:
    """Insert the hashes not there yet; returns how many were new."""
    have: set[str] = set()
    for part in chunks(hashes):
        have |= {r[0] for r in s.fetch_all(
            f"SELECT id_hash FROM {tombstones.TOMBSTONES} WHERE entity = ? AND id_hash IN "
            f"({', '.join('?' for _ in part)})", [entity, *part])}
    new = [h for h in hashes if h not in have]
    for part in chunks(new):
        s.execute(f"INSERT INTO {tombstones.TOMBSTONES} (entity, id_hash, erasure_id, erased_at) VALUES "
                  + ", ".join("(?, ?, ?, CAST(? AS TIMESTAMP))" for _ in part),
                  [v for h in part for v in (entity, h, erasure_id, now.isoformat(sep=" "))])
    return len(new)


def write_ledger(warehouse: Warehouse, result: ErasureResult, rows: Sequence[LedgerRow] | None = None) -> None:
    """Append `rows` (default: all of the result's) to the ledger."""
    cols = tables.ERASURE_LEDGER.names
    with warehouse.session() as s:
        s.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER} ({tables.ERASURE_LEDGER.ddl()})")
        values = [(result.erasure_id, result.entity, result.subjects, result.requested_by,
                   result.erased_at.isoformat(sep=" "), r.target_kind, r.target, r.rows_erased, r.rows_remaining,
                   r.detail) for r in (result.rows if rows is None else rows)]
        for part in chunks(values):
            s.execute(f"INSERT INTO {LEDGER} ({', '.join(cols)}) VALUES "
                      + ", ".join("(?, ?, ?, ?, CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?)" for _ in part),
                      [v for row in part for v in row])


def byte_occurrences(paths: Sequence[Path], ids: Sequence[str]) -> int:
    """How often any id's UTF-8 bytes occur in these files (a file that is absent counts 0)."""
    total = 0
    for p in paths:
        if p.exists():
            data = p.read_bytes()
            total += sum(data.count(i.encode()) for i in ids)
    return total


def history_mentions(instance_dir: Path, ids: Sequence[str], limit_bytes: int = 512 << 20) -> tuple[int, int]:
    """(files, occurrences) of the ids' bytes in the Dagster instance's storage files: run configs
    and asset metadata (previews of a few rows) that Dagster keeps; the erasure reports, not edits, them."""
    files = hits = 0
    if instance_dir.is_dir():
        for p in instance_dir.rglob("*"):
            if p.is_file() and p.name.endswith((".db", ".db-wal", ".sqlite")) and p.stat().st_size <= limit_bytes:
                n = byte_occurrences([p], ids)
                files, hits = files + bool(n), hits + n
    return files, hits


def erase_entity(
    warehouse: Warehouse, request: ErasureRequest, *, sources: SourceCatalog,
    training_sets: Sequence[TrainingSetSpec] = (), homes: Homes | None = None,
    store: OnlineStore | None = None, registry: ModelRegistry | None = None, now: dt.datetime | None = None,
) -> ErasureResult:
    """Erase `request.ids` of `request.entity` everywhere (module docstring); returns what was done."""
    # One open database for the many short statements (DuckDB: ~50 ms per reopen of the file).
    with warehouse.held():
        return _erase(warehouse, request, sources, training_sets, homes, store, registry, now)


def _erase(warehouse: Warehouse, request: ErasureRequest, sources: SourceCatalog,
           training_sets: Sequence[TrainingSetSpec], homes: Homes | None, store: OnlineStore | None,
           registry: ModelRegistry | None, now: dt.datetime | None) -> ErasureResult:
    started = time.perf_counter()
    try:
        entity = entity_tables(request.entity, sources)
    except KeyError as exc:
        raise ErasureError(f"erase: {exc.args[0]}") from None
    ids = list(request.ids)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    result = ErasureResult(f"erasure-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}", entity.name, len(ids),
                           request.requested_by, now)
    salt = tombstones.load_salt(homes, create=True)

    # 1. Everything that is found through the rows, before the rows go.
    targets, user_tables = plan(warehouse, entity.name, sources, training_sets)
    files, result.unstaged_files = landing.find(warehouse, entity.name, ids, sources, homes)
    days = models.label_dates(warehouse, entity, ids)
    result.models = models.trained_on(registry, days) if registry is not None else []

    # 2. The rows and the tombstones, in one transaction; then the re-count.
    with warehouse.session() as s:
        tombstones.ensure_table(s)
        with s.transaction():
            erased = {}
            for t in targets:
                erased[t.table] = _count(s, t, ids)
                if erased[t.table]:
                    for part in chunks(ids):
                        s.execute(f"DELETE {_in(t, part)}", list(part))
            new = _tombstone(s, entity.name, [tombstones.id_hash(salt, i) for i in ids], result.erasure_id, now)
            landing.forget_content(s, files, sources, f"erased:{result.erasure_id}")
        for t in targets:
            left = _count(s, t, ids)
            result.rows.append(LedgerRow("table", t.table, erased[t.table], left, t.why))
    result.rows.append(LedgerRow("table", tombstones.TOMBSTONES, 0, None,
                                 f"{new} tombstone(s) written ({len(ids) - new} already there): salted hashes only"))
    for name in user_tables:
        result.rows.append(LedgerRow("note", name, None, None, "a source read in place from your own table: "
                                     "not erased by the project; delete the ids there"))
    result.rows.append(LedgerRow("note", "aggregates", None, None, AGGREGATES))

    # 3. The online store (every kept version, and its bytes at rest).
    if store is not None:
        done = store.erase(ids)
        detail, left = done.detail, done.remaining
        path = getattr(store, "path", None)  # a file store: its bytes are scanned too
        if isinstance(path, Path):
            found = byte_occurrences([path, path.with_name(path.name + "-wal")], ids)
            detail, left = f"{detail}; byte scan of the file and its -wal: {found}", left + found
        result.rows.append(LedgerRow("online_store", store.describe(), done.erased, left, detail))

    # 4. Landing files and models.
    for f in files:
        if request.rewrite_landing:
            f = landing.rewrite(f, entity.name, ids, sources)
        result.landing_files.append(f)
        result.rows.append(LedgerRow(
            "landing_file", f"{f.source}:{f.path.name}", f.rows_removed if f.rewritten else 0,
            0 if f.rewritten else f.rows,
            f"rewritten without the ids ({f.rows_removed} rows removed)" if f.rewritten else
            (f.note or "holds rows of the ids: rewrite it (--rewrite-landing) or remove it; landed again, its "
                       "rows of the ids go to quarantine as erased_entity")))
    if result.unstaged_files:
        result.rows.append(LedgerRow("note", "landing folders", None, None,
                                     f"{result.unstaged_files} file(s) not staged yet were not searched; their "
                                     "rows of the ids are quarantined as erased_entity when ingested"))
    for m in result.models:
        result.rows.append(LedgerRow("model_version", f"v{m.version}", None, None,
                                     f"{m.model_type} ({m.status}) was fit on label dates {m.window}, "
                                     f"{m.label_dates} of them dates of the ids' rows"))
    if request.request_retrain and result.models and entity.retrain_job:
        result.rows.append(LedgerRow("retrain_request", entity.retrain_job, None, None,
                                     f"retrain requested: {len(result.models)} version(s) were fit on the ids' rows"))

    files_with, mentions = history_mentions((homes or Homes()).instance_dir(), ids)
    if mentions:
        result.rows.append(LedgerRow(
            "note", "dagster run history", None, None,
            f"the ids' bytes occur {mentions} time(s) in {files_with} file(s) of the Dagster instance's storage "
            "(asset metadata previews, run configs): Dagster keeps them with its runs; delete those runs "
            "(`dagster run delete`) or wipe the instance's history to remove them"))

    # The ledger holds no id, so it is written before the file rewrite: a rewrite that fails (another
    # process holds the file) still leaves the record of what was erased.
    write_ledger(warehouse, result)
    written = len(result.rows)

    # 5. The warehouse's bytes at rest (after every delete).
    rewrite = getattr(warehouse, "rewrite_file", None)
    if rewrite is not None:
        detail = rewrite()
        path = warehouse.resolved_path()
        found = byte_occurrences([path, path.with_name(path.name + ".wal")], ids)
        result.rows.append(LedgerRow("warehouse_file", path.name, None, found,
                                     f"{detail}; byte scan: the ids occur {found} time(s) in it"))
    else:
        result.rows.append(LedgerRow("warehouse_file", warehouse.describe(), None, None, SNOWFLAKE_RETENTION))

    result.seconds = time.perf_counter() - started
    write_ledger(warehouse, result, result.rows[written:])
    return result
