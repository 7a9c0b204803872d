"""Point-in-time joins of several entities' feature tables onto a spine of (keys, time) rows
(no Dagster here), e.g. every order line with its buyer's customer_features and its product's
product_features as of the day before the order: the training set of a model per order.

One SQL statement in the warehouse. For each feature table, the newest snapshot strictly before
the spine row's day and at most `ttl_days` old (older: NULL features, as the churn training set
does), matched per distinct (key, day) of the spine, so spine rows are never duplicated or lost.
Only portable SQL (a range join + ROW_NUMBER) plus the warehouse's date fragments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feature_factory.features.entities import Entity
from feature_factory.warehouse.sql import quote_ident

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse


class PointInTimeError(ValueError):
    """A join that cannot be built; the message names the table, column or feature."""


@dataclass(frozen=True)
class FeatureJoin:
    entity: Entity
    on: str  # the spine column holding the entity's key
    features: tuple[str, ...]
    prefix: str = ""  # output column = prefix + feature (names are unique per entity only)
    # feature -> SQL over the feature table's row `f` (e.g. through the patch layer); default the column
    read: Mapping[str, str] = field(default_factory=dict)


def point_in_time_sql(warehouse: Warehouse, spine_sql: str, time_column: str, joins: Sequence[FeatureJoin],
                      ttl_days: int = 2) -> str:
    """SELECT of every spine row (its columns first) with each join's features as of the day
    before `time_column` (a DATE or TIMESTAMP column of the spine)."""
    if not joins:
        raise PointInTimeError("a point-in-time join needs at least one feature table")
    if ttl_days < 1:
        raise PointInTimeError(f"ttl_days must be >= 1 (snapshots strictly before the day), got {ttl_days}")
    t = quote_ident(time_column)
    ctes = [f"ff_spine AS ({spine_sql}), ff_keyday AS (SELECT DISTINCT * FROM (SELECT "
            + ", ".join(f"{quote_ident(j.on)} AS ff_k{i}" for i, j in enumerate(joins))
            + f", CAST({t} AS DATE) AS ff_day FROM ff_spine) AS ff_s)"]
    outs, seen, tail = [], {time_column, *(j.on for j in joins)}, []
    for i, j in enumerate(joins):
        have = {c for c, _ in warehouse.columns(j.entity.features_table)}
        if not have:
            raise PointInTimeError(f"table {j.entity.features_table} does not exist: materialize it first")
        missing = [f for f in j.features if f not in have]
        if missing:
            raise PointInTimeError(f"{j.entity.features_table} has no feature column(s) {missing}")
        cols = [f"{j.read.get(f) or 'f.' + quote_ident(f)} AS ff_{i}_{f}" for f in j.features]
        newest = warehouse.date_add_days("k.ff_day", -1)
        oldest = warehouse.date_add_days("k.ff_day", -int(ttl_days))
        ctes.append(
            f"ff_j{i} AS (SELECT k.ff_k{i}, k.ff_day, {', '.join(cols)}, ROW_NUMBER() OVER (PARTITION BY "
            f"k.ff_k{i}, k.ff_day ORDER BY f.snapshot_date DESC) AS ff_rn FROM (SELECT DISTINCT ff_k{i}, ff_day "
            f"FROM ff_keyday) k JOIN {quote_ident(j.entity.features_table)} f ON f.{quote_ident(j.entity.key)} = "
            f"k.ff_k{i} AND f.snapshot_date BETWEEN {oldest} AND {newest})")
        for f in j.features:
            name = f"{j.prefix}{f}"
            if name in seen:
                raise PointInTimeError(f"output column {name!r} appears twice: give the {j.entity.name} join a "
                                       "prefix (e.g. 'product_')")
            seen.add(name)
            outs.append(f"ff_j{i}.ff_{i}_{f} AS {quote_ident(name)}")
        tail.append(f"LEFT JOIN ff_j{i} ON ff_j{i}.ff_k{i} = s.{quote_ident(j.on)} AND ff_j{i}.ff_day = "
                    f"CAST(s.{t} AS DATE) AND ff_j{i}.ff_rn = 1")
    return f"WITH {', '.join(ctes)} SELECT s.*, {', '.join(outs)} FROM ff_spine s " + " ".join(tail)


def build_point_in_time(warehouse: Warehouse, table: str, spine_sql: str, time_column: str,
                        joins: Sequence[FeatureJoin], ttl_days: int = 2) -> int:
    """Write the join to `table`, swapped in atomically (a re-run replaces it); its row count."""
    return warehouse.replace_table(table, point_in_time_sql(warehouse, spine_sql, time_column, joins, ttl_days))
