"""Markdown for the UI: proposals, decisions, applied patches (bounded: one row per patch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from feature_factory.remediation import store
from feature_factory.warehouse.base import Warehouse

MAX_ROWS = 50


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str = "_none_") -> str:
    if not rows:
        return empty
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in list(rows)[:MAX_ROWS]:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    if len(rows) > MAX_ROWS:
        lines.append(f"\n_{len(rows) - MAX_ROWS} more not shown_")
    return "\n".join(lines)


def candidates_markdown(warehouse: Warehouse, statuses: Sequence[str] = ("PROPOSED", "APPROVED")) -> str:
    if not warehouse.table_exists(store.CANDIDATES):
        return "_no patch candidates yet_"
    with warehouse.session() as s:
        rows = [r for r in store.fetch_candidates(s) if r["status"] in statuses]
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


def patch_views(warehouse: Warehouse) -> dict[str, str]:
    """Every patch view as Markdown, read now: after an approve, apply or rollback the open list
    (PROPOSED / APPROVED) no longer shows what was applied or decided, and the active list is current."""
    return {"open_patches": candidates_markdown(warehouse), "active_patches": active_markdown(warehouse)}


def active_markdown(warehouse: Warehouse) -> str:
    if not warehouse.table_exists(store.ACTIVE):
        return "_no applied patches_"
    with warehouse.session() as s:
        rows = store.fetch_active(s)
    return markdown_table(rows, ["patch_id", "feature", "action", "params", "applied_by", "applied_at"], "_no applied patches_")


def log_markdown(logs: Sequence[dict[str, Any]]) -> str:
    """Log rows with the headline numbers of their before/after stats."""
    rows = []
    for log in logs:
        before, after = json.loads(log["stats_before"]), json.loads(log["stats_after"])
        rows.append({
            **log,
            "max before -> after": f"{before.get('maximum')} -> {after.get('maximum')}",
            "null rate before -> after": f"{before.get('null_rate')} -> {after.get('null_rate')}",
            "out of range before -> after": f"{before.get('out_of_range_share')} -> {after.get('out_of_range_share')}",
        })
    return markdown_table(rows, ["patch_id", "feature", "action", "event", "actor", "max before -> after",
                                 "null rate before -> after", "out of range before -> after"])


def review_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The review SQL of new proposals, one fenced block each."""
    if not rows:
        return "_no new proposals_"
    blocks = [f"**{r['patch_id']}** {r['feature']} / {r['action']} ({r['severity']})\n```sql\n{r['review_sql']}\n```"
              for r in list(rows)[:MAX_ROWS]]
    return "\n\n".join(blocks)
