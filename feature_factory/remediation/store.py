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
from typing import Any

from feature_factory.features.patch_layer import ACTIVE
from feature_factory.warehouse.base import Session, Warehouse, WarehouseError, clean_row

CANDIDATES = "patch_candidates"
LOG = "feature_patch_log"
LOCK = "remediation_lock"

CANDIDATE_COLUMNS = (
    "patch_id VARCHAR, feature VARCHAR, action VARCHAR, params VARCHAR, evidence VARCHAR, "
    "review_sql VARCHAR, status VARCHAR, severity VARCHAR, drift_types VARCHAR, alert_date DATE, "
    "baseline_version BIGINT, proposed_at TIMESTAMP, proposed_by VARCHAR, approver VARCHAR, "
    "approved_at TIMESTAMP, rejected_by VARCHAR, rejected_at TIMESTAMP, applied_at TIMESTAMP, "
    "rolled_back_at TIMESTAMP, updated_at TIMESTAMP"
)
LOG_COLUMNS = (
    "log_id VARCHAR, patch_id VARCHAR, feature VARCHAR, action VARCHAR, event VARCHAR, "
    "actor VARCHAR, logged_at TIMESTAMP, run_id VARCHAR, params VARCHAR, stats_before VARCHAR, "
    "stats_after VARCHAR, alert_date DATE"
)
ACTIVE_COLUMNS = (
    "patch_id VARCHAR, feature VARCHAR, action VARCHAR, params VARCHAR, baseline_version BIGINT, "
    "applied_at TIMESTAMP, applied_by VARCHAR, log_id VARCHAR"
)
LOCK_COLUMNS = "lock_name VARCHAR, holder VARCHAR, acquired_at TIMESTAMP"
DDL = {CANDIDATES: CANDIDATE_COLUMNS, LOG: LOG_COLUMNS, ACTIVE: ACTIVE_COLUMNS, LOCK: LOCK_COLUMNS}

# What each column means, shown in the UI (`dagster/column_schema`); every column above has one
# (a test says so). One place per table, beside its DDL.
_PATCH = {
    "patch_id": "Content hash of the patch (feature, action, params, baseline): the same fix has the same id.",
    "feature": "The customer_features column the patch changes.",
    "action": "What the patch does: cast, map_values, impute_median, clip, disable_feature, request_retrain or refresh_baseline.",
    "params": "JSON: the action's parameters (e.g. clip bounds).",
    "baseline_version": "The baseline the patch was derived from.",
    "alert_date": "The drift_alerts day that led to the patch.",
}
DESCRIPTIONS = {
    CANDIDATES: {
        **_PATCH,
        "evidence": "JSON: the alert's metrics and the baseline statistics the rule used.",
        "review_sql": "The exact SQL the patch applies, marked /* REVIEW */, for the approver.",
        "status": "PROPOSED, APPROVED, REJECTED, APPLIED or ROLLED_BACK.",
        "severity": "Severity of the alert that led to the patch.",
        "drift_types": "Drift types of that alert.",
        "proposed_at": "When it was proposed (UTC).",
        "proposed_by": "Who proposed it (the remediation run's actor).",
        "approver": "Who approved it (a person, or the policy in auto_approve mode).",
        "approved_at": "When it was approved (UTC).",
        "rejected_by": "Who rejected it.",
        "rejected_at": "When it was rejected (UTC).",
        "applied_at": "When it was last applied (UTC).",
        "rolled_back_at": "When it was last rolled back (UTC).",
        "updated_at": "Last status change (UTC).",
        "diagnosis": "The likely cause of the drift the patch answers.",
        "diagnosis_evidence": "JSON: the numbers behind the diagnosis.",
    },
    LOG: {
        **_PATCH,
        "log_id": "Id of this log entry (append-only: rows are never updated).",
        "event": "apply or rollback.",
        "actor": "Who applied or rolled back.",
        "logged_at": "When (UTC).",
        "run_id": "The Dagster run that did it.",
        "stats_before": "JSON: the feature's stats on the latest snapshot before the change.",
        "stats_after": "JSON: the same stats after the change.",
    },
    ACTIVE: {
        **_PATCH,
        "applied_at": "When it was applied (UTC).",
        "applied_by": "Who applied it.",
        "log_id": "The feature_patch_log entry of the apply.",
    },
    LOCK: {
        "lock_name": "The lock's name.",
        "holder": "The run holding it.",
        "acquired_at": "When it was taken (UTC); a stale lock can be taken over after lock_ttl_s.",
    },
}

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


def ensure_tables(session: Session) -> None:
    for table, columns in DDL.items():
        session.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")


def check_transition(patch_id: str, current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, set()):
        raise TransitionError(f"patch {patch_id}: cannot go from {current} to {target}")


def fetch_candidates(
    session: Session, ids: Sequence[str] | None = None, status: str | None = None
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
    df = session.fetch_df(f"SELECT * FROM {CANDIDATES}{clause} ORDER BY proposed_at, patch_id", params)
    return [clean_row(r) for r in df.to_dict("records")]


def set_status(session: Session, patch_id: str, current: str, target: str, at: dt.datetime, **fields: Any) -> None:
    """One validated status change (call inside the caller's transaction)."""
    check_transition(patch_id, current, target)
    sets = ["status = ?", "updated_at = ?"] + [f"{k} = ?" for k in fields]
    session.execute(
        f"UPDATE {CANDIDATES} SET {', '.join(sets)} WHERE patch_id = ? AND status = ?",
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
        s.execute(f"CREATE TABLE IF NOT EXISTS {LOCK} ({LOCK_COLUMNS})")
        s.execute(
            f"INSERT INTO {LOCK} (lock_name, holder, acquired_at) "
            "SELECT ?, CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {LOCK} WHERE lock_name = ?)",
            [name, name],
        )
        try:
            s.execute(
                f"UPDATE {LOCK} SET holder = ?, acquired_at = ? "
                "WHERE lock_name = ? AND (holder IS NULL OR acquired_at < ?)",
                [holder, now, name, now - dt.timedelta(seconds=ttl_s)],
            )
        except WarehouseError:
            pass  # a write conflict: someone else is taking it right now
        row = s.fetch_one(f"SELECT holder, acquired_at FROM {LOCK} WHERE lock_name = ?", [name])
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
            f"UPDATE {LOCK} SET holder = NULL, acquired_at = NULL WHERE lock_name = ? AND holder = ?",
            [name, holder],
        )




def actor_lock(warehouse: Warehouse, actor: str, lock_ttl_s: float):
    """The remediation lock, held under a unique holder name derived from `actor`."""
    return remediation_lock(warehouse, f"{actor}:{uuid.uuid4().hex[:8]}", ttl_s=lock_ttl_s)
