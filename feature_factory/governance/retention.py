"""Retention: how long each table keeps rows, applied in the warehouse (issue 30); no Dagster here.

The policy is YAML (`retention.yaml` beside this module, or FEATURE_FACTORY_RETENTION): per table,
the day column rows are aged by, `keep_days` (null: keep every row) and `guarded`. One DELETE per
table removes rows whose day is before `as_of - keep_days`.

A guarded table never loses, without saying so, what the current baseline or the champion's /
challenger's training window needs: rows from the earliest of those first days, minus the longest
feature window (a snapshot day needs that many days of events before it), are kept, and the
outcome says which guard kept how many rows. `allow_guarded` deletes them anyway, and the outcome
says that instead.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from feature_factory import tables
from feature_factory.catalog.loader import MAX_WINDOW_DAYS
from feature_factory.ml.registry import ModelRegistry
from feature_factory.warehouse.base import Warehouse, quote_ident

DEFAULT_POLICY = Path(__file__).with_name("retention.yaml")
POLICY_ENV = "FEATURE_FACTORY_RETENTION"
_FIELDS = {"column", "keep_days", "guarded"}


class RetentionError(ValueError):
    """The policy is invalid; the message names the file, the table and the field."""


@dataclass(frozen=True)
class Rule:
    table: str
    column: str
    keep_days: int | None
    guarded: bool


@dataclass(frozen=True)
class Guard:
    first_day: dt.date  # rows from this day on are needed
    why: str


@dataclass(frozen=True)
class Outcome:
    table: str
    keep_days: int | None
    cutoff: dt.date | None  # rows before it expire (None: nothing expires)
    deleted: int
    guarded_kept: int  # rows past the cutoff kept because a guard needs them
    note: str


def policy_path(given: str | None = None) -> Path:
    return Path(given or os.environ.get(POLICY_ENV) or DEFAULT_POLICY)


def load_policy(path: str | Path | None = None) -> list[Rule]:
    import yaml

    path = policy_path(str(path) if path else None)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RetentionError(f"retention policy {path}: {exc}") from exc
    entries = doc.get("tables") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise RetentionError(f"retention policy {path}: expected a top-level 'tables:' mapping of table -> rule")
    rules = []
    for table, raw in entries.items():
        label = f"retention policy {path}: table {table!r}"
        try:
            quote_ident(str(table))
        except ValueError as exc:
            raise RetentionError(f"{label}: {exc}") from None
        if not isinstance(raw, dict) or set(raw) - _FIELDS or "column" not in raw:
            raise RetentionError(f"{label}: expected {{column: <day column>, keep_days: <days or null>, "
                                 f"guarded: true|false}}, got {raw!r}")
        keep = raw.get("keep_days")
        if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool) or keep < 0):
            raise RetentionError(f"{label}: keep_days must be a whole number of days >= 0 or null, got {keep!r}")
        if not isinstance(raw.get("guarded", False), bool):
            raise RetentionError(f"{label}: guarded must be true or false, got {raw['guarded']!r}")
        rules.append(Rule(str(table), quote_ident(str(raw["column"])), keep, raw.get("guarded", False)))
    return rules


def _day(value) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def guards(warehouse: Warehouse, registry: ModelRegistry | None) -> list[Guard]:
    """What must be kept: the current baseline's window and the live models' training windows,
    each from its first day minus the longest feature window."""
    out = []
    baseline = tables.FEATURE_STATS_BASELINE.name
    if warehouse.table_exists(baseline):
        row = warehouse.fetch_one(f"SELECT MIN(window_start), MAX(window_end), MAX(baseline_version) "
                                  f"FROM {baseline} WHERE is_current")
        if row and row[0] is not None:
            out.append(Guard(_day(row[0]) - dt.timedelta(days=MAX_WINDOW_DAYS),
                             f"baseline v{row[2]} ({_day(row[0])}..{_day(row[1])})"))
    for v in registry.versions() if registry is not None else []:
        w = v.training_window or {}
        if v.status in ("champion", "challenger") and w.get("first_label_date"):
            first = _day(w["first_label_date"])
            out.append(Guard(first - dt.timedelta(days=MAX_WINDOW_DAYS),
                             f"model v{v.version} ({v.status}) training window from {first}"))
    return out


def apply(warehouse: Warehouse, rules: list[Rule], as_of: dt.date, guard_list: list[Guard], *,
          allow_guarded: bool = False, dry_run: bool = False) -> list[Outcome]:
    """Apply `rules` as of `as_of`; a table that does not exist is skipped with a note."""
    earliest = min(guard_list, key=lambda g: g.first_day) if guard_list else None
    out = []
    for r in rules:
        if r.keep_days is None:
            out.append(Outcome(r.table, None, None, 0, 0, "keeps every row (keep_days: null)"))
            continue
        cutoff = as_of - dt.timedelta(days=r.keep_days)
        if not warehouse.table_exists(r.table):
            out.append(Outcome(r.table, r.keep_days, cutoff, 0, 0, "no such table yet"))
            continue
        effective, note = cutoff, f"rows before {cutoff} expire"
        kept = 0
        if r.guarded and earliest is not None and earliest.first_day < cutoff:
            kept = _count(warehouse, r, f"{r.column} >= ? AND {r.column} < ?", [earliest.first_day, cutoff])
            if allow_guarded:
                note += f"; deleted {kept} row(s) that {earliest.why} needs from {earliest.first_day} (allow_guarded)"
                kept = 0
            else:
                effective = earliest.first_day
                note += f"; kept {kept} row(s) from {earliest.first_day}: {earliest.why} needs them"
        deleted = _count(warehouse, r, f"{r.column} < ?", [effective])
        if deleted and not dry_run:
            warehouse.execute(f"DELETE FROM {quote_ident(r.table)} WHERE {r.column} < ?", [effective])
        out.append(Outcome(r.table, r.keep_days, cutoff, deleted, kept, note + (" (dry run: nothing deleted)"
                                                                              if dry_run else "")))
    return out


def _count(warehouse: Warehouse, r: Rule, where: str, params: list) -> int:
    return int(warehouse.fetch_one(f"SELECT COUNT(*) FROM {quote_ident(r.table)} WHERE {where}", params)[0])
