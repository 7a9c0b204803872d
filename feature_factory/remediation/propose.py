"""Proposing: the drift alerts of one day + the baseline they were measured against -> PROPOSED
rows in `patch_candidates` (via `rules.propose`). Ids are content hashes, so a drift that persists
over days, or a re-run, never proposes the same patch twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from feature_factory.catalog import Catalog
from feature_factory.dates import as_date
from feature_factory.remediation import rules
from feature_factory.remediation import patch_store as store
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope
from feature_factory.warehouse.interface import clean_row
from feature_factory.warehouse.sql import quote_ident

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse



@dataclass
class ProposeResult:
    alert_date: dt.date | None
    alerts: int = 0
    new: list[dict[str, Any]] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    message: str = ""


def load_alerts(warehouse: Warehouse, alert_date: dt.date | None = None,
                scope: Scope = CUSTOMER_SCOPE) -> tuple[dt.date | None, list[dict]]:
    """The drift_alerts (the scope's alerts) rows of `alert_date` (default: the latest partition).
    Bounded: features x 1 day."""
    alerts = scope.subject.alerts
    if not warehouse.table_exists(alerts.name):
        return None, []
    if alert_date is None:
        row = warehouse.fetch_one(f"SELECT MAX(alert_date) FROM {alerts}")
        alert_date = as_date(row[0]) if row else None
        if alert_date is None:
            return None, []
    df = warehouse.fetch_df(f"SELECT * FROM {alerts} WHERE alert_date = ?", [alert_date])
    rows = [clean_row(r) for r in df.to_dict("records")]
    for r in rows:
        r["alert_date"] = as_date(r["alert_date"])
    return alert_date, rows


def load_baseline(warehouse: Warehouse, versions: set[int],
                  scope: Scope = CUSTOMER_SCOPE) -> dict[tuple[int, str], dict[str, Any]]:
    baseline = scope.subject.baseline
    if not versions or not warehouse.table_exists(baseline.name):
        return {}
    marks = ", ".join("?" for _ in versions)
    df = warehouse.fetch_df(f"SELECT * FROM {baseline} WHERE baseline_version IN ({marks})",
                            sorted(versions))
    return {(int(r["baseline_version"]), r["feature"]): clean_row(r) for r in df.to_dict("records")}


def rows_changed(warehouse: Warehouse, catalog: Catalog, patch, day: dt.date,
                 scope: Scope = CUSTOMER_SCOPE) -> int | None:
    """How many customer_features (the scope's feature table) rows of `day` the data patch would
    change (counted in the warehouse); None when the table is not there."""
    table = scope.subject.features
    if not warehouse.table_exists(table):
        return None
    spec = patch.validate(catalog)
    col = quote_ident(spec.name)
    expr = patch.row_expression(col, spec)
    row = warehouse.fetch_one(
        f"SELECT SUM(CASE WHEN ({expr}) IS NULL AND {col} IS NULL THEN 0 WHEN ({expr}) = {col} THEN 0 "
        f"ELSE 1 END) FROM {table} WHERE snapshot_date = CAST(? AS DATE)", [str(day)])
    return int(row[0] or 0) if row else 0


def _that_change_rows(warehouse: Warehouse, catalog: Catalog, candidates: list, day: dt.date | None,
                      skipped: list[str], scope: Scope = CUSTOMER_SCOPE) -> list:
    """Drop data patches that would change no row of the alert day (a fix that fixes nothing only
    hides the problem); the count of the others joins their evidence."""
    if day is None:
        return candidates
    kept = []
    for c in candidates:
        if not c.patch.changes_data or not c.evidence.get("diagnosis"):
            kept.append(c)
            continue
        n = rows_changed(warehouse, catalog, c.patch, day, scope)
        if n == 0:
            skipped.append(f"{c.patch.feature}: {c.patch.action} {c.patch.params()} would change no row of "
                           f"{day}; not proposed")
            continue
        kept.append(dataclasses.replace(c, evidence={**c.evidence, "rows_changed_on_alert_date": n}))
    return kept


def _data_patches_only(candidates: list, scope: Scope, skipped: list[str]) -> list:
    """The candidates of an entity without a model, without the model requests: request_retrain /
    refresh_baseline are acted on for an entity's model and its baseline (recapture with the
    entity's capture job instead)."""
    kept = [c for c in candidates if c.patch.changes_data]
    skipped += [f"{c.patch.feature}: {c.patch.action} is not proposed for entity {scope.entity.name!r} (model and "
                f"baseline requests need a model, which its entity spec does not declare; run "
                f"{scope.entity.jobs.capture_baseline} to recapture)"
                for c in candidates if c not in kept]
    return kept


def propose(
    warehouse: Warehouse,
    catalog: Catalog,
    settings: rules.RuleSettings | None = None,
    alert_date: dt.date | None = None,
    actor: str = "remediation_job",
    lock_ttl_s: float = 900.0,
    scope: Scope = CUSTOMER_SCOPE,
) -> ProposeResult:
    """Insert PROPOSED candidates for the drift alerts of `alert_date` (default latest); ids that
    already exist, in any status, are not proposed again. Another entity's `scope`: its alerts,
    baseline and candidates, data patches only (scope.py)."""
    day, alerts = load_alerts(warehouse, alert_date, scope)
    result = ProposeResult(alert_date=day, alerts=len(alerts))
    if not alerts:
        result.message = (f"no {scope.subject.alerts} rows yet; nothing to propose" if day is None
                          else f"no alerts on {day}")
        return result
    baseline = load_baseline(warehouse, {int(a["baseline_version"]) for a in alerts if a.get("baseline_version") is not None},
                             scope)
    proposal = rules.propose([a for a in alerts if a.get("baseline_version") is not None], baseline, catalog, settings)
    result.skipped = proposal.skipped
    if scope.entity.spec.model is None:
        proposal.candidates = _data_patches_only(proposal.candidates, scope, result.skipped)
    proposal.candidates = _that_change_rows(warehouse, catalog, proposal.candidates, day, result.skipped, scope)
    now = store.utcnow()
    with store.actor_lock(warehouse, actor, lock_ttl_s), warehouse.session() as s:
        store.ensure_tables(s, scope)
        ids = [c.patch.patch_id for c in proposal.candidates]
        known = {r["patch_id"] for r in store.fetch_candidates(s, ids, scope=scope)}
        with s.transaction():
            for c in proposal.candidates:
                if c.patch.patch_id in known:
                    result.existing.append(c.patch.patch_id)
                    continue
                row = {
                    "patch_id": c.patch.patch_id, "feature": c.patch.feature, "action": c.patch.action,
                    "params": store.to_json(c.patch.params()), "evidence": store.to_json(c.evidence),
                    "review_sql": c.patch.render_review_sql(catalog, scope.subject.features, scope.subject.key),
                    "status": "PROPOSED",
                    "severity": c.severity, "drift_types": c.drift_types, "alert_date": as_date(c.alert_date),
                    "baseline_version": c.patch.baseline_version, "proposed_at": now, "proposed_by": actor,
                    "updated_at": now,
                }
                store.insert_row(s, scope.candidates.name, row)
                result.new.append(row)
    return result
