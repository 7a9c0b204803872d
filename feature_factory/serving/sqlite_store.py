"""The embedded online store: one SQLite file in WAL mode (readable while the pipeline writes).

Layout: each version is a table `ff_rows_<version>` (WITHOUT ROWID, keyed by entity id); the view
`ff_current` selects the current version's table with its version id as a first column; the table
`ff_versions` holds each version's meta. A write creates the new table, fills it, and re-points the
view in the same transaction: WAL readers see the old version until the commit and the new one
after it, never a mix. Versions older than the previous one are dropped after the swap.
A read is one SELECT on the view (one committed version; each row names it).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from feature_factory.serving.store import Lookup, OnlineStore, Row, StoreError, StoreMeta

# One id: `= ?` (a few microseconds). Several: a join on json_each of the id list, cheaper in SQLite
# than an IN list of bound parameters (measured ~1.4x at 100 ids) and one cached statement for any count.
_ONE = "SELECT * FROM ff_current WHERE entity_id = ?"
_MANY = "SELECT c.* FROM json_each(?) j JOIN ff_current c ON c.entity_id = j.value"
_VERSION = re.compile(r"^[0-9A-Za-z_]+$")
KEEP_VERSIONS = 2  # current + previous: a reader that resolved the old pointer finishes on it


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteOnlineStore(OnlineStore):
    kind = "sqlite"

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._reader: sqlite3.Connection | None = None
        self._meta: dict[str, StoreMeta] = {}
        self._lock = threading.Lock()  # one reader connection, used from one thread at a time

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    # -- writing ---------------------------------------------------------------------------------
    def _connect_writer(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS ff_versions (version TEXT PRIMARY KEY, meta TEXT NOT NULL)")
        conn.execute("CREATE TABLE IF NOT EXISTS ff_pointer (k INTEGER PRIMARY KEY CHECK (k = 1), version TEXT NOT NULL)")
        return conn

    def write(self, meta: StoreMeta, batches: Iterable[Sequence[Row]]) -> StoreMeta:
        if not _VERSION.match(meta.version):
            raise StoreError(f"online store version {meta.version!r} must be letters, digits or _")
        table = f"ff_rows_{meta.version}"
        insert = f"INSERT INTO {_q(table)} VALUES (?, ?, ?, ?)"
        conn = self._connect_writer()
        rows = 0
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

    # -- reading ---------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection | None:
        if self._reader is None:
            if not self.path.exists():
                return None
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, cached_statements=512,
                                   timeout=self.busy_timeout_ms / 1000)
            self._reader = conn
        return self._reader

    def _meta_for(self, conn: sqlite3.Connection, version: str) -> StoreMeta | None:
        meta = self._meta.get(version)
        if meta is None:
            found = conn.execute("SELECT meta FROM ff_versions WHERE version = ?", (version,)).fetchone()
            if found is None:
                return None
            meta = self._meta[version] = StoreMeta.from_json(found[0])
        return meta

    def lookup(self, entity_ids: Sequence[str]) -> Lookup:
        with self._lock:
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
                raise StoreError(f"cannot read online store {self.path}: {exc}") from exc
        if meta is None:
            return Lookup(None, {}, "missing")
        return Lookup(meta, {r[1]: r[1:] for r in got}, "ok")

    def current(self) -> StoreMeta | None:
        with self._lock:
            conn = self._connection()
            if conn is None:
                return None
            try:
                found = conn.execute("SELECT v.meta FROM ff_pointer p JOIN ff_versions v "
                                     "ON v.version = p.version").fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return None
                raise StoreError(f"cannot read online store {self.path}: {exc}") from exc
        return StoreMeta.from_json(found[0]) if found else None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


SQLITE_FILE = "online_store.sqlite"  # under the project home


def default_path() -> Path:
    from feature_factory import settings

    override = os.environ.get("FEATURE_FACTORY_ONLINE_STORE_PATH")
    return Path(override).resolve() if override else settings.home() / SQLITE_FILE
