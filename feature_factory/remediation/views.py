"""Markdown for the UI: proposals, decisions, applied patches (bounded: one row per patch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from feature_factory import markdown as md
from feature_factory.features import patch_layer
from feature_factory.remediation import patch_store as store
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse

MAX_ROWS = 50


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str = "_none_") -> str:
    return md.records_table(rows, columns, empty, MAX_ROWS)


def candidates_markdown(warehouse: Warehouse, statuses: Sequence[str] = ("PROPOSED", "APPROVED"),
                        scope: Scope = CUSTOMER_SCOPE) -> str:
    if not warehouse.table_exists(scope.candidates.name):
        return "_no patch candidates yet_"
    with warehouse.session() as s:
        rows = [{**r, "params": params_text(r.get("params")), "approver": short_actor(r.get("approver"))}
                for r in store.fetch_candidates(s, scope=scope) if r["status"] in statuses]
    for r in rows:
        r["diagnosis"] = _evidence(r).get("diagnosis")
        r["cause"] = _evidence(r).get("headline")
    return markdown_table(rows, ["patch_id", "feature", "action", "params", "severity", "diagnosis", "status",
                                 "alert_date", "approver", "cause"])


def _evidence(row: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(row.get("evidence") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def patch_views(warehouse: Warehouse, scope: Scope = CUSTOMER_SCOPE) -> dict[str, str]:
    """Every patch view as Markdown, read now: after an approve, apply or rollback the open list
    (PROPOSED / APPROVED) no longer shows what was applied or decided, and the active list is current."""
    return {"open_patches": candidates_markdown(warehouse, scope=scope), "active_patches": active_markdown(warehouse, scope)}


def params_text(params: str | None) -> str:
    """`lower 0, upper 63.4` from the params JSON: short and rounded (the exact values are in
    review_sql and the table)."""
    values = json.loads(params) if params else {}
    return ", ".join(f"{k} {md.fmt(v)}" for k, v in values.items()) if isinstance(values, dict) else str(values)


def short_actor(actor: str | None) -> str | None:
    """`policy:policy.example.yaml` for `policy:/abs/path/policy.example.yaml`: the path would
    widen the table past the UI's dialog; the full actor is in the table."""
    if actor and actor.startswith("policy:") and "/" in actor:
        return "policy:" + actor.rsplit("/", 1)[1]
    return actor


def active_markdown(warehouse: Warehouse, scope: Scope = CUSTOMER_SCOPE) -> str:
    if not warehouse.table_exists(scope.active.name):
        return "_no applied patches_"
    with warehouse.session() as s:
        rows = patch_layer.fetch_active(s, table=scope.active)
    return markdown_table(rows, ["patch_id", "feature", "action", "params", "applied_by", "applied_at"], "_no applied patches_")


# The before/after statistics a log row shows, as (label, key in stats_before/stats_after).
# The share outside the baseline's [p01, p99], not outside the clip's bounds: a clip at the
# baseline's max leaves the clipped values above its p99, so that share rightly stays as it was.
LOG_STATS = (("max", "maximum"), ("p99", "p99"), ("mean", "mean"), ("null rate", "null_rate"),
             ("outside baseline p01–p99", "out_of_range_share"))


def stats_change(before: dict[str, Any], after: dict[str, Any]) -> str:
    """`max 3,761.72 → 412.5; null rate 0 (unchanged); ...`: every statistic on one line, rounded;
    one that reads the same before and after says so instead of `x → x`."""
    parts = []
    for label, key in LOG_STATS:
        if key in before or key in after:
            old, new = md.fmt(before.get(key)), md.fmt(after.get(key))
            parts.append(f"{label} {old} (unchanged)" if old == new else f"{label} {old} → {new}")
    return "; ".join(parts)


def log_markdown(logs: Sequence[dict[str, Any]]) -> str:
    """Log rows with their before/after stats. Few columns, so the UI's dialog shows them all:
    the stats share one column."""
    rows = []
    for log in logs:
        before, after = json.loads(log["stats_before"] or "{}"), json.loads(log["stats_after"] or "{}")
        rows.append({**log, "before → after": stats_change(before, after) or md.MISSING})
    return markdown_table(rows, ["patch_id", "feature", "action", "event", "actor", "before → after"])


def waiting_review_markdown(warehouse: Warehouse, scope: Scope = CUSTOMER_SCOPE) -> str:
    """The review SQL of every proposal still waiting for a person (PROPOSED), read now."""
    if not warehouse.table_exists(scope.candidates.name):
        return "_no patch candidates yet_"
    with warehouse.session() as s:
        rows = store.fetch_candidates(s, status="PROPOSED", scope=scope)
    return review_markdown(rows) if rows else "_no proposal waits for review_"


def review_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The review SQL of new proposals, one fenced block each."""
    if not rows:
        return "_no new proposals_"
    blocks = [f"**{r['patch_id']}** {r['feature']} / {r['action']} ({r['severity']})\n{md.sql_block(r['review_sql'])}"
              for r in list(rows)[:MAX_ROWS]]
    return "\n\n".join(blocks)
