"""The embedded online store: one SQLite file in WAL mode (readable while the pipeline writes).

Layout: each version is a table `ff_rows_<version>` (WITHOUT ROWID, keyed by entity id); the view
`ff_current` selects the current version's table with its version id as a first column; the table
`ff_versions` holds each version's meta. A write creates the new table, fills it, and re-points the
view in the same transaction: WAL readers see the old version until the commit and the new one
after it, never a mix. Versions older than the previous one are dropped after the swap.
A read is one SELECT on the view (one committed version; each row names it).

Failures (issue 29): each read first checks the file's identity (one stat) and reopens a file that
was deleted, replaced or rewritten, so a republish is served without a restart; a file SQLite
cannot read (not a database, malformed) raises StoreError (the server's 503), never a 500, and
the reader reopens on the next request; `current()` (what /health reports) reads on a fresh
connection. The next publish sets an unreadable file aside as `<name>.corrupt-<version>` (kept)
and writes a new one, and removes a -wal/-shm left by a deleted file (SQLite would replay it into
the new one).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from feature_factory.serving.store import Erasure, Lookup, OnlineStore, Row, StoreError, StoreMeta, new_version, off_loop

log = logging.getLogger(__name__)

# One id: `= ?` (a few microseconds). Several: a join on json_each of the id list, cheaper in SQLite
# than an IN list of bound parameters (measured ~1.4x at 100 ids) and one cached statement for any count.
_ONE = "SELECT * FROM ff_current WHERE entity_id = ?"
_MANY = "SELECT c.* FROM json_each(?) j JOIN ff_current c ON c.entity_id = j.value"
_VERSION = re.compile(r"^[0-9A-Za-z_]+$")
KEEP_VERSIONS = 2  # current + previous: a reader that resolved the old pointer finishes on it
INLINE_IDS = 32  # reads of more ids run on a worker thread, off the server's event loop


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteOnlineStore(OnlineStore):
    kind = "sqlite"

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000, inline_ids: int = INLINE_IDS) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.inline_ids = inline_ids
        # One reader connection per thread (the event loop's, and the worker threads large reads
        # run on), each tagged with the file it opened, so no read waits on another.
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._meta: dict[str, StoreMeta] = {}
        self._lock = threading.Lock()  # guards _readers only

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    # -- writing ---------------------------------------------------------------------------------
    def _open_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS ff_versions (version TEXT PRIMARY KEY, meta TEXT NOT NULL)")
            conn.execute("CREATE TABLE IF NOT EXISTS ff_pointer (k INTEGER PRIMARY KEY CHECK (k = 1), version TEXT NOT NULL)")
            bad = conn.execute("PRAGMA quick_check(1)").fetchone()
            if bad is None or bad[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {bad[0] if bad else 'no answer'}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # A -wal or -shm left by a deleted file would be replayed into the new one.
            for leftover in _sidecars(self.path):
                leftover.unlink(missing_ok=True)
        try:
            return self._open_writer()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            # Not a database, or a malformed one: the store is a copy of the warehouse's online
            # table, so set the file aside (kept, named in the log) and write a new one.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{new_version()}")
            log.warning("online store %s is unreadable (%s); moved to %s and writing a new store",
                        self.path, exc, aside.name)
            for f in (self.path, *_sidecars(self.path)):
                if f.exists():
                    f.rename(f.with_name(aside.name + f.name[len(self.path.name):]))
            return self._open_writer()

    def write(self, meta: StoreMeta, batches: Iterable[Sequence[Row]]) -> StoreMeta:
        if not _VERSION.match(meta.version):
            raise StoreError(f"online store version {meta.version!r} must be letters, digits or _")
        table = f"ff_rows_{meta.version}"
        insert = f"INSERT INTO {_q(table)} VALUES (?, ?, ?, ?)"
        rows = 0
        try:
            conn = self._connect_writer()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write online store {self.path}: {exc}") from exc
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"CREATE TABLE {_q(table)} (entity_id TEXT PRIMARY KEY, snapshot_date TEXT, "
                             "ff_age_days INTEGER, ff_values BLOB NOT NULL) WITHOUT ROWID")
                for batch in batches:
                    conn.executemany(insert, batch)
                    rows += len(batch)
                meta = StoreMeta(**{**meta.__dict__, "rows": rows})
                conn.execute("INSERT INTO ff_versions VALUES (?, ?)", (meta.version, meta.to_json()))
                conn.execute("INSERT OR REPLACE INTO ff_pointer VALUES (1, ?)", (meta.version,))
                conn.execute("DROP VIEW IF EXISTS ff_current")
                conn.execute(f"CREATE VIEW ff_current AS SELECT '{meta.version}' AS ff_version, * FROM {_q(table)}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._drop_old(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write online store {self.path}: {exc}") from exc
        finally:
            conn.close()
        return meta

    def _drop_old(self, conn: sqlite3.Connection) -> None:
        versions = [v for (v,) in conn.execute("SELECT version FROM ff_versions ORDER BY version DESC")]
        for old in versions[KEEP_VERSIONS:]:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"DROP TABLE IF EXISTS {_q('ff_rows_' + old)}")
            conn.execute("DELETE FROM ff_versions WHERE version = ? AND version <> "
                         "(SELECT version FROM ff_pointer)", (old,))
            conn.execute("COMMIT")

    def erase(self, entity_ids: Sequence[str]) -> Erasure:
        """Delete the ids from every kept version with `secure_delete` on (freed pages are zeroed),
        then truncate the WAL and VACUUM: in WAL mode a deleted row stays in the -wal file until a
        truncating checkpoint, and in the main file's free pages without secure_delete."""
        if not self.path.exists():
            return Erasure(0, 0, f"{self.path.name}: no store file")
        ids = json.dumps(list(entity_ids))
        try:
            conn = self._connect_writer()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot erase from online store {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("BEGIN IMMEDIATE")
            erased = 0
            try:
                for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name LIKE 'ff_rows_%'").fetchall():
                    n = conn.execute(f"DELETE FROM {_q(table)} WHERE entity_id IN (SELECT value FROM json_each(?))",
                                     (ids,)).rowcount
                    erased += n
                    if n:  # the version's meta keeps its row count true
                        conn.execute("UPDATE ff_versions SET meta = json_set(meta, '$.rows', "
                                     "json_extract(meta, '$.rows') - ?) WHERE version = ?", (n, table[8:]))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            remaining = sum(conn.execute(f"SELECT COUNT(*) FROM {_q(t)} WHERE entity_id IN "
                                         "(SELECT value FROM json_each(?))", (ids,)).fetchone()[0]
                            for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                     "AND name LIKE 'ff_rows_%'").fetchall())
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")  # rewrites the file: no page of the old layout is left
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot erase from online store {self.path}: {exc}") from exc
        finally:
            conn.close()
        wal = self.path.with_name(self.path.name + "-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        detail = (f"{self.path.name}: deleted with secure_delete, VACUUM, WAL checkpointed (TRUNCATE): "
                  f"-wal {wal_bytes} bytes")
        if busy or wal_bytes:
            detail += ("; a reader held the WAL, so it could not be emptied: stop `feature-factory serve` "
                       "and erase again")
        aside = sorted(p.name for p in self.path.parent.glob(f"{self.path.name}.corrupt-*"))
        if aside:
            detail += f"; unreadable copies set aside earlier may hold the ids: delete {', '.join(aside)}"
        return Erasure(erased, remaining, detail)

    # -- reading ---------------------------------------------------------------------------------
    def _open_reader(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False, cached_statements=512,
                               timeout=self.busy_timeout_ms / 1000)

    def _connection(self) -> sqlite3.Connection | None:
        """This thread's reader of the file now at `path` (None when there is none). A file
        deleted, replaced, republished or overwritten under the same name is noticed on the next
        read (one stat: the file's identity, size and mtime), and the reader reopens it, with no
        page cached from the old bytes: no restart needed. (SQLite writes the main file only at
        checkpoints, so a reader reopens about once per publish.)"""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._drop_reader()
            return None
        except OSError as exc:
            raise StoreError(f"cannot read online store {self.path}: {exc}") from exc
        ident = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and local.ident != ident:
            self._drop_reader()
            conn = None
        if conn is None:
            try:
                conn = self._open_reader()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read online store {self.path}: {exc}") from exc
            local.conn, local.ident = conn, ident
            with self._lock:
                self._readers.append(conn)
                self._meta.clear()  # another file: its versions' metas are read again
        return conn

    def _drop_reader(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._lock:
                if conn in self._readers:
                    self._readers.remove(conn)
            conn.close()

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        """The reader's error as a StoreError; a malformed or replaced file is reopened next time."""
        self._drop_reader()
        return StoreError(f"cannot read online store {self.path}: {exc}; publish the store again "
                          f"(materialize its *_features_online_store asset)")

    def _meta_for(self, conn: sqlite3.Connection, version: str) -> StoreMeta | None:
        meta = self._meta.get(version)
        if meta is None:
            found = conn.execute("SELECT meta FROM ff_versions WHERE version = ?", (version,)).fetchone()
            if found is None:
                return None
            meta = self._meta[version] = StoreMeta.from_json(found[0])
        return meta

    def lookup(self, entity_ids: Sequence[str]) -> Lookup:
        conn = self._connection()
        if conn is None:
            return Lookup(None, {}, "missing")
        try:
            # One statement reads one committed version (the view names it in every row), so no
            # explicit transaction is needed on the path that finds rows.
            if len(entity_ids) == 1:
                got = conn.execute(_ONE, (entity_ids[0],)).fetchall()
            else:
                got = conn.execute(_MANY, (json.dumps(list(entity_ids)),)).fetchall()
            if got:
                version = got[0][0]
            else:  # nothing found: report the version the pointer names now
                head = conn.execute("SELECT version FROM ff_pointer").fetchone()
                version = head[0] if head else None
            meta = self._meta_for(conn, version) if version else None
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the file exists but no version was committed yet
                return Lookup(None, {}, "missing")
            raise self._failed(exc) from exc
        except sqlite3.Error as exc:  # not a database, malformed: 503 until it is published again
            raise self._failed(exc) from exc
        if meta is None:
            return Lookup(None, {}, "missing")
        if not isinstance(version, str) or any(len(r) != 5 or r[0] != version for r in got):
            raise self._failed(sqlite3.DatabaseError("rows do not have the store's layout"))
        return Lookup(meta, {r[1]: r[1:] for r in got}, "ok")

    async def alookup(self, entity_ids: Sequence[str]) -> Lookup:
        # A read of a few ids takes microseconds: on the loop. More go to a worker thread (their
        # own connection), so a large request never holds the loop.
        if len(entity_ids) <= self.inline_ids:
            return self.lookup(entity_ids)
        return await off_loop(self.lookup, entity_ids)

    def current(self) -> StoreMeta | None:
        """The current version's meta, read on a fresh connection (what /health and /schema
        report: the file as it is now, not a reader's cache of it)."""
        if not self.path.exists():
            return None
        try:
            conn = self._open_reader()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read online store {self.path}: {exc}") from exc
        try:
            found = conn.execute("SELECT v.meta FROM ff_pointer p JOIN ff_versions v "
                                 "ON v.version = p.version").fetchone()
            if found:  # the current version's rows are readable too (a malformed table fails here)
                conn.execute("SELECT * FROM ff_current LIMIT 1").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise StoreError(f"cannot read online store {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read online store {self.path}: {exc}; publish the store again") from exc
        finally:
            conn.close()
        return StoreMeta.from_json(found[0]) if found else None

    def close(self) -> None:
        with self._lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self._local = threading.local()


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


SQLITE_FILE = "online_store.sqlite"  # under the project home


def default_path() -> Path:
    from feature_factory import settings

    override = os.environ.get("FEATURE_FACTORY_ONLINE_STORE_PATH")
    return Path(override).resolve() if override else settings.home() / SQLITE_FILE
