"""Online reads per feature and API key (issue 30, the usage ledger's `online` readers); no Dagster.

The hot path only bumps an in-memory counter (`record`: a dict update per feature served, no I/O);
`flush` adds the counts gathered since the last flush to a small SQLite file in the project home
(`<home>/online_reads.sqlite`) in one transaction. The server flushes every `flush_seconds` on a
worker thread and once more at shutdown, so a request never waits on a disk write and a warehouse
is never written per request. Counts are added (UPSERT reads = reads + n), so several server
processes (uvicorn --workers) can share one file; a failed flush keeps its counts for the next one
(nothing is lost, nothing is counted twice).

A "read" is one 200 answer to POST /features that served the feature (whatever the number of ids).
The reader is the API key's name, or `anonymous` on an open server.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("feature_factory.serving")
FILE_NAME = "online_reads.sqlite"
READS_ENV = "FEATURE_FACTORY_ONLINE_READS"  # overrides the file's path (serve and feature_usage)
DEFAULT_FLUSH_SECONDS = 30.0
_SCHEMA = ("CREATE TABLE IF NOT EXISTS online_reads (feature TEXT NOT NULL, reader TEXT NOT NULL, "
           "reads INTEGER NOT NULL, last_read TEXT NOT NULL, PRIMARY KEY (feature, reader))")


def default_path() -> Path:
    import os

    from feature_factory import settings

    return Path(os.environ.get(READS_ENV) or settings.home() / FILE_NAME)


@dataclass(frozen=True)
class OnlineRead:
    feature: str
    reader: str  # the API key's name, or "anonymous"
    reads: int
    last_read: dt.datetime  # naive UTC


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10.0)  # another worker's flush holds the lock for milliseconds
    con.execute(_SCHEMA)
    return con


class ReadLog:
    """Counts of (feature, reader) reads since the last flush, and the file they are flushed to."""

    def __init__(self, path: Path | str, flush_seconds: float = DEFAULT_FLUSH_SECONDS) -> None:
        if flush_seconds <= 0:
            raise ValueError(f"online reads flush_seconds must be > 0, got {flush_seconds}")
        self.path, self.flush_seconds = Path(path), float(flush_seconds)
        self._counts: dict[tuple[str, str], int] = {}
        self._last: dict[tuple[str, str], dt.datetime] = {}
        self._lock = threading.Lock()  # record runs on the event loop, flush on a worker thread

    def record(self, reader: str, features) -> None:
        """One answer that served `features` to `reader` (in memory only)."""
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        with self._lock:
            counts, last = self._counts, self._last
            for f in features:
                k = (f, reader)
                counts[k] = counts.get(k, 0) + 1
                last[k] = now

    def pending(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def flush(self) -> int:
        """Add the pending counts to the file in one transaction; returns the (feature, reader) pairs written.
        On an error the counts stay pending (and are merged with those recorded meanwhile)."""
        with self._lock:
            counts, last = self._counts, self._last
            self._counts, self._last = {}, {}
        if not counts:
            return 0
        try:
            con = _connect(self.path)
            try:
                with con:
                    con.executemany(
                        "INSERT INTO online_reads VALUES (?, ?, ?, ?) ON CONFLICT (feature, reader) DO UPDATE "
                        "SET reads = reads + excluded.reads, last_read = max(last_read, excluded.last_read)",
                        [(f, r, n, last[f, r].isoformat(sep=" ")) for (f, r), n in counts.items()])
            finally:
                con.close()
        except Exception:
            with self._lock:  # put them back: the next flush retries
                for k, n in counts.items():
                    self._counts[k] = self._counts.get(k, 0) + n
                    self._last[k] = max(last[k], self._last.get(k, last[k]))
            raise
        return len(counts)

    def flush_logged(self) -> None:
        """`flush`, logging (not raising) a failure: the server keeps answering and retries later."""
        try:
            self.flush()
        except Exception as exc:  # a full disk or locked file must not stop serving
            log.warning("could not flush online read counts to %s (kept for the next flush): %s", self.path, exc)


def load(path: Path | str | None = None) -> list[OnlineRead]:
    """Every (feature, reader) row flushed to `path` (default `<home>/online_reads.sqlite`); [] when
    no server has flushed yet."""
    path = Path(path) if path is not None else default_path()
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = con.execute("SELECT feature, reader, reads, last_read FROM online_reads "
                           "ORDER BY feature, reader").fetchall()
    except sqlite3.OperationalError as exc:
        raise ValueError(f"online reads file {path} cannot be read: {exc}") from None
    finally:
        con.close()
    return [OnlineRead(f, r, int(n), dt.datetime.fromisoformat(t)) for f, r, n, t in rows]
