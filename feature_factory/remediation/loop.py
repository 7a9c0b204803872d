"""The remediation loop as plain functions: propose, decide (human or policy), apply, roll back.

Every state change holds the warehouse-level remediation lock (`store.remediation_lock`) and
writes its rows in one transaction, so a failure leaves the previous state, and apply/rollback runs
never interleave. Patches are rebuilt from their stored rows and re-validated (typed classes,
catalog, id hash) before anything is approved or applied; a refusal raises before any write.
`rebuild` callbacks (e.g. rebuilding `customer_features_online`) run after the commit, still under
the lock, so the online table always reflects a state that was committed in order.
Every step takes a `scope` (scope.py): the customer's tables by default, another entity's its own.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from feature_factory.catalog import Catalog
from feature_factory.dates import as_date
from feature_factory.features import patch_layer, patches
from feature_factory.remediation import patch_stats as stats, patch_store as store
from feature_factory.remediation.policy import Policy
from feature_factory.remediation.propose import ProposeResult, propose  # noqa: F401 (the loop API)
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse


def _typed(row: dict[str, Any], catalog: Catalog) -> patches.Patch:
    patch = patches.patch_from_record(row["action"], row["feature"], row["baseline_version"], row["params"], row["patch_id"])
    patch.validate(catalog)
    return patch


def decide(
    warehouse: Warehouse,
    catalog: Catalog,
    approve: Sequence[str] = (),
    reject: Sequence[str] = (),
    approver: str = "",
    lock_ttl_s: float = 900.0,
    scope: Scope = CUSTOMER_SCOPE,
) -> dict[str, list[str]]:
    """Approve and/or reject patches by id, recording who and when. All or nothing: an unknown id,
    a disallowed transition or a patch that no longer validates refuses the whole decision."""
    if not approver or not approver.strip():
        raise ValueError("an approver name is required to approve or reject patches")
    both = set(approve) & set(reject)
    if both:
        raise ValueError(f"patch(es) {sorted(both)} are listed under both approve and reject")
    ids = list(dict.fromkeys([*approve, *reject]))
    now = store.utcnow()
    with store.actor_lock(warehouse, approver, lock_ttl_s), warehouse.session() as s:
        store.ensure_tables(s, scope)
        rows = {r["patch_id"]: r for r in store.fetch_candidates(s, ids, scope=scope)}
        unknown = [i for i in ids if i not in rows]
        if unknown:
            raise store.TransitionError(f"unknown patch id(s) {unknown}: not in {scope.candidates}")
        for pid in approve:
            store.check_transition(pid, rows[pid]["status"], "APPROVED")
            _typed(rows[pid], catalog)
        for pid in reject:
            store.check_transition(pid, rows[pid]["status"], "REJECTED")
        with s.transaction():
            for pid in approve:
                store.set_status(s, pid, rows[pid]["status"], "APPROVED", now, scope=scope, approver=approver,
                                 approved_at=now)
            for pid in reject:
                store.set_status(s, pid, rows[pid]["status"], "REJECTED", now, scope=scope, rejected_by=approver,
                                 rejected_at=now)
    return {"approved": list(approve), "rejected": list(reject)}


def approve_by_policy(
    warehouse: Warehouse, catalog: Catalog, policy: Policy, lock_ttl_s: float = 900.0,
    scope: Scope = CUSTOMER_SCOPE,
) -> tuple[list[str], list[str]]:
    """Approve every PROPOSED patch the policy allows. Returns (approved ids, refusals): a patch
    that no longer validates is left PROPOSED and reported, not approved."""
    if not warehouse.table_exists(scope.candidates.name):
        return [], []
    now = store.utcnow()
    approved, refused = [], []
    with store.actor_lock(warehouse, "policy", lock_ttl_s), warehouse.session() as s:
        with s.transaction():
            for row in store.fetch_candidates(s, status="PROPOSED", scope=scope):
                if not policy.allows(row["feature"], row["action"], row["severity"] or "none", _diagnosis(row),
                                     scope.entity.name):
                    continue
                try:
                    _typed(row, catalog)
                except patches.PatchValidationError as exc:
                    refused.append(str(exc))
                    continue
                store.set_status(s, row["patch_id"], "PROPOSED", "APPROVED", now, scope=scope,
                                 approver=policy.approver, approved_at=now)
                approved.append(row["patch_id"])
    return approved, refused


def _diagnosis(row: dict[str, Any]) -> str | None:
    """The diagnosis a candidate was proposed for (kept in its evidence JSON). One derived from the
    drift types of a row written before diagnoses existed counts as none here: a policy rule that
    names `diagnoses` approves only what monitoring's evidence diagnosed, so a person reviews those."""
    try:
        evidence = json.loads(row.get("evidence") or "{}")
    except (TypeError, ValueError):
        return None
    if not isinstance(evidence, dict) or evidence.get("diagnosis_derived"):
        return None
    return evidence.get("diagnosis")


def _log_row(patch: patches.Patch, event: str, actor: str, run_id: str, at: dt.datetime, before: dict, after: dict,
             alert_date: Any) -> dict:
    return {
        "log_id": uuid.uuid4().hex, "patch_id": patch.patch_id, "feature": patch.feature,
        "action": patch.action, "event": event, "actor": actor, "logged_at": at, "run_id": run_id,
        "params": store.to_json(patch.params()), "stats_before": store.to_json(before),
        "stats_after": store.to_json(after), "alert_date": as_date(alert_date),
    }


def apply_approved(
    warehouse: Warehouse,
    catalog: Catalog,
    actor: str,
    run_id: str = "",
    patch_ids: Sequence[str] | None = None,
    rebuild: Callable[[], Any] | None = None,
    lock_ttl_s: float = 900.0,
    scope: Scope = CUSTOMER_SCOPE,
) -> list[dict[str, Any]]:
    """Apply APPROVED patches (all, or `patch_ids`): active state, status and log rows in one
    transaction; then `rebuild`. Returns the log rows written."""
    with store.actor_lock(warehouse, actor, lock_ttl_s):
        with warehouse.session() as s:
            store.ensure_tables(s, scope)
            rows = (store.fetch_candidates(s, patch_ids, scope=scope) if patch_ids is not None
                    else store.fetch_candidates(s, status="APPROVED", scope=scope))
        if patch_ids is not None:
            found = {r["patch_id"]: r for r in rows}
            missing = [i for i in patch_ids if i not in found]
            if missing:
                raise store.TransitionError(f"unknown patch id(s) {missing}: not in {scope.candidates}")
            for r in rows:
                store.check_transition(r["patch_id"], r["status"], "APPLIED")
        new = [_typed(r, catalog) for r in rows]
        if not new:
            return []
        current = patch_layer.load_active(warehouse, catalog, table=scope.active)
        taken = {(p.feature, p.action): p.patch_id for ps in current.values() for p in ps}
        for p in new:
            if (p.feature, p.action) in taken:
                raise store.TransitionError(
                    f"patch {p.patch_id}: a {p.action} patch on {p.feature} is already active "
                    f"({taken[(p.feature, p.action)]}); roll it back first"
                )
            taken[(p.feature, p.action)] = p.patch_id
        after = {f: list(ps) for f, ps in current.items()}
        for p in new:
            after.setdefault(p.feature, []).append(p)
        before_stats = {f: stats.feature_stats(warehouse, catalog, f, current.get(f, []), p_ver, scope)
                        for f, p_ver in _features(new)}
        after_stats = {f: stats.feature_stats(warehouse, catalog, f, after[f], p_ver, scope) for f, p_ver in _features(new)}
        now = store.utcnow()
        logs = [_log_row(p, "apply", actor, run_id, now, before_stats[p.feature], after_stats[p.feature], r["alert_date"])
                for p, r in zip(new, rows)]
        with warehouse.session() as s, s.transaction():
            for p, log in zip(new, logs):
                store.insert_row(s, scope.active.name, {
                    "patch_id": p.patch_id, "feature": p.feature, "action": p.action,
                    "params": store.to_json(p.params()), "baseline_version": p.baseline_version,
                    "applied_at": now, "applied_by": actor, "log_id": log["log_id"],
                })
                store.set_status(s, p.patch_id, "APPROVED", "APPLIED", now, scope=scope, applied_at=now)
                store.insert_row(s, scope.log.name, log)
        if rebuild is not None:
            rebuild()
    return logs


def _features(new: list[patches.Patch]) -> list[tuple[str, int]]:
    return list({p.feature: p.baseline_version for p in new}.items())


def rollback(
    warehouse: Warehouse,
    catalog: Catalog,
    patch_id: str,
    actor: str,
    run_id: str = "",
    rebuild: Callable[[], Any] | None = None,
    lock_ttl_s: float = 900.0,
    scope: Scope = CUSTOMER_SCOPE,
) -> dict[str, Any]:
    """Undo an APPLIED patch: remove it from the active set, mark it ROLLED_BACK, log it; then
    `rebuild`. Removing a patch needs no re-validation of it, so even a tampered or now-retired
    patch can be rolled back."""
    with store.actor_lock(warehouse, actor, lock_ttl_s):
        with warehouse.session() as s:
            store.ensure_tables(s, scope)
            rows = store.fetch_candidates(s, [patch_id], scope=scope)
        if not rows:
            raise store.TransitionError(f"unknown patch id {patch_id!r}: not in {scope.candidates}")
        row = rows[0]
        store.check_transition(patch_id, row["status"], "ROLLED_BACK")
        before, after = stats.rollback_stats(warehouse, catalog, row, scope)
        now = store.utcnow()
        log = {
            "log_id": uuid.uuid4().hex, "patch_id": patch_id, "feature": row["feature"],
            "action": row["action"], "event": "rollback", "actor": actor, "logged_at": now, "run_id": run_id,
            "params": row["params"], "stats_before": store.to_json(before), "stats_after": store.to_json(after),
            "alert_date": as_date(row["alert_date"]),
        }
        with warehouse.session() as s, s.transaction():
            s.execute(f"DELETE FROM {scope.active} WHERE patch_id = ?", [patch_id])
            store.set_status(s, patch_id, "APPLIED", "ROLLED_BACK", now, scope=scope, rolled_back_at=now)
            store.insert_row(s, scope.log.name, log)
        if rebuild is not None:
            rebuild()
    return log
