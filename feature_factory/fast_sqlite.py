"""Commits of the local Dagster instance's SQLite files without a disk flush per event.

Dagster's SQLite storages open a new connection for every event they store (NullPool): connect,
insert, commit, close. Each close of the last connection to a WAL database checkpoints it, and each
commit under the default `synchronous=FULL` flushes the WAL: about 20 ms of fsync per event on this
machine's disk (0.2 ms without), and a range run over 90 daily partitions stores ~1,500 events.
That was a third of the demo's wall time, more on a busy disk.

`keep_open_fast(base_dir)` puts two settings on every SQLite connection to a file under
`base_dir` (the instance folder), through SQLAlchemy's engine `connect` event:

- `synchronous=NORMAL`: in WAL mode a commit no longer flushes; the WAL is flushed at checkpoints.
  SQLite's documented guarantee for WAL + NORMAL: a power loss may roll back the last
  transactions, never corrupt the database (an application crash loses nothing).
- one idle connection per WAL database is kept open for the life of the process (at most
  `MAX_HELD`, least recently used closed first), so a close is never the last one and does not
  checkpoint; SQLite's automatic checkpoint (every 1,000 WAL pages) still runs. The held
  connection never opens a transaction, so other processes (the UI, its daemon) read and write
  as before.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict

from sqlalchemy import event
from sqlalchemy.engine import Engine

MAX_HELD = 16  # the instance's runs, index, schedules and asset DBs, and the latest runs' shards

_lock = threading.Lock()
_roots: set[str] = set()
_listening = False
_held: OrderedDict[str, sqlite3.Connection] = OrderedDict()


def keep_open_fast(base_dir: str | os.PathLike) -> None:
    """Apply the settings above to SQLite files under `base_dir` from now on, in this process
    (idempotent)."""
    global _listening
    with _lock:
        _roots.add(os.path.realpath(base_dir))
        if not _listening:
            event.listen(Engine, "connect", _on_connect)
            _listening = True


def held_files() -> list[str]:
    """The database files a connection is held open for (what the tests check)."""
    with _lock:
        return list(_held)


def _on_connect(dbapi_connection, _record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    path = _main_file(dbapi_connection)
    if path is None:
        return
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    # Dagster switches a new file to WAL on its first connection, after this event: the file
    # is held from its next connection on (holding a rollback-journal file would not help).
    if dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        return
    with _lock:
        if path in _held:
            _held.move_to_end(path)
            return
        holder = sqlite3.connect(path, check_same_thread=False)
        holder.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # maps the WAL index: now it counts
        _held[path] = holder
        while len(_held) > MAX_HELD:
            _held.popitem(last=False)[1].close()


def _main_file(dbapi_connection: sqlite3.Connection) -> str | None:
    """The connection's database file when it lies under a registered root, else None."""
    rows = dbapi_connection.execute("PRAGMA database_list").fetchall()
    path = next((r[2] for r in rows if r[1] == "main"), "")
    if not path:  # in-memory or temporary database
        return None
    real = os.path.realpath(path)
    with _lock:
        roots = list(_roots)
    return real if any(real == r or real.startswith(r + os.sep) for r in roots) else None
