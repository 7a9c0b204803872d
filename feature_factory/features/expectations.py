"""Catalog expectations measured on `customer_features` (no Dagster here).

One aggregate statement over the snapshot days being checked returns, per feature, the row count,
NULLs, rows below min / above max and the extremes seen: a bounded result, however big the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feature_factory.catalog.spec import FeatureSpec
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.features.snapshots import range_where
from feature_factory.warehouse.sql import quote_ident

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse


@dataclass(frozen=True)
class Outcome:
    feature: str
    rows: int
    nulls: int
    below: int
    above: int
    min_seen: float | None
    max_seen: float | None
    failures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0


def latest_snapshot_date(warehouse: Warehouse, entity: Entity = CUSTOMER_TABLES) -> dt.date | None:
    if not warehouse.table_exists(entity.features_table):
        return None
    row = warehouse.fetch_one(f"SELECT MAX(snapshot_date) FROM {quote_ident(entity.features_table)}")
    value = row[0] if row else None
    return value.date() if isinstance(value, dt.datetime) else value


def evaluate(
    warehouse: Warehouse, features: Sequence[FeatureSpec], first: dt.date, last: dt.date,
    entity: Entity = CUSTOMER_TABLES, null_rate_off: frozenset[str] = frozenset(),
) -> list[Outcome]:
    """Each feature's expectations over snapshot days [first, last] of the entity's feature table;
    `null_rate_off`: features whose NULL rate is not judged (their source turned it off)."""
    have = {c for c, _ in warehouse.columns(entity.features_table)}
    features = [f for f in features if f.name in have]
    if not features:
        return []
    parts = ["COUNT(*)"]
    for f in features:
        c, e = quote_ident(f.name), f.expectations
        lo = "0" if e.min is None else f"COUNT(CASE WHEN {c} < {e.min!r} THEN 1 END)"
        hi = "0" if e.max is None else f"COUNT(CASE WHEN {c} > {e.max!r} THEN 1 END)"
        parts += [f"COUNT({c})", lo, hi, f"MIN(CAST({c} AS DOUBLE))", f"MAX(CAST({c} AS DOUBLE))"]
    row = warehouse.fetch_one(f"SELECT {', '.join(parts)} FROM {quote_ident(entity.features_table)} WHERE {range_where(first, last)}")
    rows = int(row[0])
    out = []
    for i, f in enumerate(features):
        non_null, below, above, mn, mx = row[1 + 5 * i: 6 + 5 * i]
        o = Outcome(f.name, rows, rows - int(non_null), int(below), int(above), _num(mn), _num(mx))
        out.append(Outcome(**{**o.__dict__, "failures": tuple(_failures(f, o, f.name not in null_rate_off))}))
    return out


def null_rate_off(features: Sequence[FeatureSpec], sources) -> frozenset[str]:
    """Features over a source whose declaration turns the NULL-rate check off (`checks: {null_rate:
    false}`): on a purchase-only log an average or minimum is NULL for every customer without a
    purchase in its window, which is most of a 90-day population, not a defect."""
    off = set()
    for f in features:
        try:
            if not sources.get(f.source).check_enabled("null_rate"):
                off.add(f.name)
        except KeyError:
            continue
    return frozenset(off)


def _failures(f: FeatureSpec, o: Outcome, null_rate: bool = True) -> list[str]:
    e, msgs = f.expectations, []
    if o.below:
        msgs.append(f"{f.name}: {o.below} rows below min {e.min:g} (min seen {o.min_seen:g})")
    if o.above:
        msgs.append(f"{f.name}: {o.above} rows above max {e.max:g} (max seen {o.max_seen:g})")
    if null_rate and e.max_null_rate is not None and o.rows and o.null_rate > e.max_null_rate:
        msgs.append(
            f"{f.name}: null rate {o.null_rate:.3f} above max_null_rate {e.max_null_rate:g} "
            f"({o.nulls} of {o.rows} rows NULL)"
        )
    return msgs


def duplicate_keys(warehouse: Warehouse, first: dt.date, last: dt.date, examples: int = 5,
                   entity: Entity = CUSTOMER_TABLES) -> tuple[int, list[tuple]]:
    """(number of duplicated (<key>, snapshot_date) keys, a few of them) in [first, last]."""
    key = quote_ident(entity.key)
    dup = (
        f"SELECT {key}, snapshot_date, COUNT(*) AS n FROM {quote_ident(entity.features_table)} WHERE {range_where(first, last)} "
        f"GROUP BY {key}, snapshot_date HAVING COUNT(*) > 1"
    )
    row = warehouse.fetch_one(f"SELECT COUNT(*) FROM ({dup}) AS d")
    count = int(row[0]) if row else 0
    if not count:  # the common case: one scan, no second query for examples
        return 0, []
    shown = warehouse.fetch_all(f"SELECT * FROM ({dup}) AS d ORDER BY {key}, snapshot_date LIMIT {int(examples)}")
    return count, shown


def _num(v) -> float | None:
    return None if v is None else float(v)
