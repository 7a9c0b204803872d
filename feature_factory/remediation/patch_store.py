"""Remediation state in the warehouse: candidates, the append-only log, active patches, the lock.

Tables (all created on first use; columns may grow, never rename):
- `patch_candidates`: one row per proposed patch and its lifecycle (status, who decided, when).
- `feature_patch_log`: append-only; one row per apply or rollback, with the feature's stats before
  and after. Never updated or deleted.
- `feature_patches_active`: the patches the patch layer applies right now. Apply inserts, rollback
  deletes; the log is the history.
- `remediation_lock`: one row per lock name; a holder is set by a conditional UPDATE (compare and
  set), which both engines serialise: DuckDB raises a write conflict for the loser, Snowflake's
  row lock makes the loser's WHERE see the winner's holder. A crashed holder's lock expires after
  its TTL.

Another entity has its own candidates, log and active tables (`<entity>_patch_candidates`, ...:
scope.py); the lock is shared.

Status transitions (anything else is refused, naming the patch and both statuses):
PROPOSED -> APPROVED | REJECTED; APPROVED -> APPLIED | REJECTED; APPLIED -> ROLLED_BACK;
ROLLED_BACK -> APPROVED (to re-apply later). REJECTED is final.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from feature_factory import tables
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope
from feature_factory.warehouse.interface import Session, WarehouseError, clean_row

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse

# Columns, types and their descriptions: feature_factory/tables.py.
CONTRACTS = (tables.PATCH_CANDIDATES, tables.FEATURE_PATCH_LOG, tables.FEATURE_PATCHES_ACTIVE, tables.REMEDIATION_LOCK)

STATUSES = ("PROPOSED", "APPROVED", "REJECTED", "APPLIED", "ROLLED_BACK")
TRANSITIONS = {
    "PROPOSED": {"APPROVED", "REJECTED"},
    "APPROVED": {"APPLIED", "REJECTED"},
    "APPLIED": {"ROLLED_BACK"},
    "ROLLED_BACK": {"APPROVED"},
    "REJECTED": set(),
}


class TransitionError(ValueError):
    """A status change that the lifecycle does not allow, or an unknown patch id."""


class RemediationBusy(RuntimeError):
    """Another apply/rollback holds the remediation lock."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def ensure_tables(session: Session, scope: Scope = CUSTOMER_SCOPE) -> None:
    """The scope's candidates, log and active tables (the customer's by default) and the lock."""
    for table in (scope.candidates, scope.log, scope.active, tables.REMEDIATION_LOCK):
        session.execute(f"CREATE TABLE IF NOT EXISTS {table.name} ({table.ddl()})")


def check_transition(patch_id: str, current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, set()):
        raise TransitionError(f"patch {patch_id}: cannot go from {current} to {target}")


def fetch_candidates(
    session: Session, ids: Sequence[str] | None = None, status: str | None = None, scope: Scope = CUSTOMER_SCOPE,
) -> list[dict[str, Any]]:
    """Candidate rows as dicts (bounded: one row per proposed patch)."""
    where, params = [], []
    if ids is not None:
        if not ids:
            return []
        where.append(f"patch_id IN ({', '.join('?' for _ in ids)})")
        params.extend(ids)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    df = session.fetch_df(f"SELECT * FROM {scope.candidates}{clause} ORDER BY proposed_at, patch_id", params)
    return [clean_row(r) for r in df.to_dict("records")]


def set_status(session: Session, patch_id: str, current: str, target: str, at: dt.datetime, *,
               scope: Scope = CUSTOMER_SCOPE, **fields: Any) -> None:
    """One validated status change in the scope's candidates (call inside the caller's transaction)."""
    check_transition(patch_id, current, target)
    sets = ["status = ?", "updated_at = ?"] + [f"{k} = ?" for k in fields]
    session.execute(
        f"UPDATE {scope.candidates} SET {', '.join(sets)} WHERE patch_id = ? AND status = ?",
        [target, at, *fields.values(), patch_id, current],
    )


def insert_row(session: Session, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    session.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


@contextmanager
def remediation_lock(
    warehouse: Warehouse, holder: str, ttl_s: float = 900.0, name: str = "remediation"
) -> Iterator[None]:
    """Hold the warehouse-level remediation lock, or raise `RemediationBusy` at once."""
    now = utcnow()
    with warehouse.session() as s:
        s.execute(f"CREATE TABLE IF NOT EXISTS {tables.REMEDIATION_LOCK} ({tables.REMEDIATION_LOCK.ddl()})")
        s.execute(
            f"INSERT INTO {tables.REMEDIATION_LOCK} (lock_name, holder, acquired_at) "
            "SELECT ?, CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {tables.REMEDIATION_LOCK} WHERE lock_name = ?)",
            [name, name],
        )
        try:
            s.execute(
                f"UPDATE {tables.REMEDIATION_LOCK} SET holder = ?, acquired_at = ? "
                "WHERE lock_name = ? AND (holder IS NULL OR acquired_at < ?)",
                [holder, now, name, now - dt.timedelta(seconds=ttl_s)],
            )
        except WarehouseError:
            pass  # a write conflict: someone else is taking it right now
        row = s.fetch_one(f"SELECT holder, acquired_at FROM {tables.REMEDIATION_LOCK} WHERE lock_name = ?", [name])
    if not row or row[0] != holder:
        raise RemediationBusy(
            f"another remediation run holds the {name!r} lock ({row[0] if row else '?'} since "
            f"{row[1] if row else '?'}); apply and rollback never interleave, so retry when it "
            f"finishes (a crashed holder's lock expires after {ttl_s:.0f} s)"
        )
    try:
        yield
    finally:
        warehouse.execute(
            f"UPDATE {tables.REMEDIATION_LOCK} SET holder = NULL, acquired_at = NULL WHERE lock_name = ? AND holder = ?",
            [name, holder],
        )




def actor_lock(warehouse: Warehouse, actor: str, lock_ttl_s: float):
    """The remediation lock, held under a unique holder name derived from `actor`."""
    return remediation_lock(warehouse, f"{actor}:{uuid.uuid4().hex[:8]}", ttl_s=lock_ttl_s)
