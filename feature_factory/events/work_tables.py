"""Names for the ingestion's temporary work tables, and the clean-up of those a killed run left.

A work table's name says who made it: `<prefix>_<host>_<pid>_<unix seconds>_<random>`. A run that
is killed (SIGKILL, OOM, a pulled plug) cannot drop its tables in a `finally`, so every ingestion
drops, before it starts, the work tables whose maker is provably gone: made on this host by a
process that no longer exists, or made elsewhere more than `FOREIGN_MAX_AGE_S` ago (a process on
another machine cannot be asked). A table of a run still going is never touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import time
import uuid
from typing import TYPE_CHECKING

from feature_factory.warehouse.interface import Session
from feature_factory.warehouse.sql import quote_ident

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse

log = logging.getLogger(__name__)

PREFIXES = ("landing_stage", "ingest_batch")
# Another machine's run: no ingestion step runs anywhere near this long.
FOREIGN_MAX_AGE_S = 24 * 3600
_NAME = re.compile(rf"^({'|'.join(PREFIXES)})_([0-9a-f]{{6}})_(\d+)_(\d+)_[0-9a-f]{{8}}$")


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def new_name(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown work-table prefix {prefix!r}; one of {PREFIXES}")
    return quote_ident(f"{prefix}_{_host()}_{os.getpid()}_{int(time.time())}_{uuid.uuid4().hex[:8]}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_orphan(name: str, *, host: str | None = None, now: float | None = None) -> bool:
    """Whether `name` is a work table whose maker is gone (see the module docstring). Names of any
    other shape (including work tables of older versions, which carried no maker) are left alone."""
    match = _NAME.match(name)
    if not match:
        return False
    _, maker_host, pid, made_at = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
    if maker_host != (host or _host()):
        return (now or time.time()) - made_at > FOREIGN_MAX_AGE_S
    return pid != os.getpid() and not _pid_alive(pid)


def drop_leftovers(warehouse: Warehouse, session: Session) -> list[str]:
    """Drop the orphaned work tables of the current schema; returns their names."""
    rows = session.fetch_all(
        "SELECT lower(table_name) FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND (" + " OR ".join(f"lower(table_name) LIKE '{p}%'" for p in PREFIXES) + ")")
    dropped = [r[0] for r in rows if is_orphan(r[0])]
    for name in dropped:
        session.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
    if dropped:
        log.warning("dropped %d work tables left by killed runs: %s", len(dropped), ", ".join(dropped))
    return dropped
