"""Writing `customer_features` for a range of snapshot days (no Dagster here).

The range is replaced in one transaction (delete + insert), so a re-run replaces its days and never
appends them twice; readers see the old or the new rows, and a failed run leaves the old ones. New
catalog features become new columns (earlier days get NULL); a retired feature's column stays,
no longer written.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feature_factory import markdown as md
from feature_factory.catalog.spec import FeatureSpec
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.features.snapshot_sql import DEFAULT_DIRECT_MAX_DAYS, SnapshotPlan, snapshot_plan
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse



class FeatureBuildError(RuntimeError):
    """The snapshot cannot be built; the message says what is missing."""


# A single-run backfill longer than this is written in consecutive statements of at most this many
# days, so a multi-year backfill does not need a multi-year customer x day grid in memory at once.
DEFAULT_MAX_DAYS_PER_STATEMENT = 184


@dataclass(frozen=True)
class SnapshotResult:
    plans: tuple[SnapshotPlan, ...]
    rows: int
    customers: int
    seconds: float

    @property
    def plan(self) -> SnapshotPlan:
        """The (last) statement's plan; `plans` has one per chunk of a very long range."""
        return self.plans[-1]

    @property
    def read_from(self) -> dt.date:
        return self.plans[0].read_from


def snapshot_days(warehouse: Warehouse, first: dt.date | None = None, last: dt.date | None = None,
                  features_table: str = CUSTOMER_TABLES.features_table) -> int:
    """How many snapshot days an entity's feature table holds (in [first, last] when given); 0
    when the table does not exist yet."""
    if not warehouse.table_exists(features_table):
        return 0
    where, params = "", []
    if first is not None or last is not None:
        where = " WHERE snapshot_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)"
        params = [str(first or dt.date.min), str(last or dt.date.max)]
    row = warehouse.fetch_one(f"SELECT COUNT(DISTINCT snapshot_date) FROM {quote_ident(features_table)}{where}", params)
    return int(row[0]) if row and row[0] is not None else 0


def range_where(first: dt.date, last: dt.date) -> str:
    return f"snapshot_date BETWEEN {sql_literal(first)} AND {sql_literal(last)}"


def write_snapshots(
    warehouse: Warehouse,
    features: Sequence[FeatureSpec],
    first: dt.date,
    last: dt.date,
    computed_at: dt.datetime | None = None,
    strategy: str = "auto",
    direct_max_days: int = DEFAULT_DIRECT_MAX_DAYS,
    max_days_per_statement: int = DEFAULT_MAX_DAYS_PER_STATEMENT,
    entity: Entity = CUSTOMER_TABLES,
) -> SnapshotResult:
    """Compute the snapshot days [first, last] in the warehouse and replace them in the entity's
    feature table (default customer_features). `customers` of the result counts the entity's keys."""
    computed = [f for f in features if f.computed]
    if not computed:
        raise FeatureBuildError("the catalog has no computed feature (all retired?)")
    pop = entity.population_table
    wrong = sorted(f.name for f in computed if f.entity != entity.name)
    if wrong:
        raise FeatureBuildError(f"feature(s) {wrong} are not of entity {entity.name!r}: they belong in their "
                                "own entity's feature table")
    if not warehouse.table_exists(pop):
        raise FeatureBuildError(f"table {pop} does not exist: materialize {pop} first")
    for table in dict.fromkeys(t for f in computed for t, _ in f.reads if t != pop):
        if not warehouse.table_exists(table):
            users = sorted(f.name for f in computed if any(t == table for t, _ in f.reads))
            raise FeatureBuildError(f"table {table} (read by {', '.join(users)}) does not exist: materialize "
                                    "its source's ingestion asset first")
    if max_days_per_statement < 1:
        raise ValueError(f"max_days_per_statement must be >= 1, got {max_days_per_statement}")
    computed_at = computed_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    plans, rows, started = [], 0, time.perf_counter()
    start = first
    while start <= last:
        end = min(last, start + dt.timedelta(days=max_days_per_statement - 1))
        plan = _plan(warehouse, computed, start, end, computed_at, strategy, direct_max_days, entity)
        rows += _replace_range(warehouse, computed, start, end, plan.sql, entity, plan)
        plans.append(plan)
        start = end + dt.timedelta(days=1)
    seconds = time.perf_counter() - started
    row = warehouse.fetch_one(f"SELECT COUNT(DISTINCT {quote_ident(entity.key)}) FROM {quote_ident(entity.features_table)} "
                              f"WHERE {range_where(first, last)}")
    return SnapshotResult(tuple(plans), rows, int(row[0]) if row else 0, seconds)


def state_table(entity: Entity) -> str:
    """The entity's lifetime state (`<features table>_state`): per entity key and state_date, the
    partials of its lifetime features over every event up to that day (internal; the last day of
    each written range is kept, so the next day's refresh reads one row per entity, not history)."""
    return f"{entity.features_table}_state"


def _plan(warehouse: Warehouse, computed: list[FeatureSpec], first: dt.date, last: dt.date,
          computed_at: dt.datetime, strategy: str, direct_max_days: int, entity: Entity) -> SnapshotPlan:
    """The range's plan, reading the lifetime state of the day before `first` when the state table
    holds it with every partial the catalog needs (otherwise the plan rebuilds it from history once)."""
    def plan(state: str | None) -> SnapshotPlan:
        return snapshot_plan(warehouse.dialect, computed, first, last, computed_at, strategy, direct_max_days,
                             entity.population_table, entity.key, entity.population, entity.population_key,
                             entity.spec.keep_inactive_days, state)

    fresh = plan(None)
    table = state_table(entity)
    if not fresh.state_columns or not warehouse.table_exists(table):
        return fresh
    have = {c for c, _ in warehouse.columns(table)}
    if any(c not in have for c, _ in fresh.state_columns):
        return fresh  # a lifetime feature added since: its history is read once
    day = first - dt.timedelta(days=1)
    row = warehouse.fetch_one(f"SELECT COUNT(*) FROM {quote_ident(table)} WHERE state_date = {sql_literal(day)}")
    return plan(table) if row and row[0] else fresh


def _replace_range(warehouse: Warehouse, features: list[FeatureSpec], first: dt.date, last: dt.date, sql: str,
                   entity: Entity = CUSTOMER_TABLES, plan: SnapshotPlan | None = None) -> int:
    """Delete + insert the days in one transaction, straight from the SELECT.

    Like `Warehouse.replace_where` (old or new rows, never neither; re-runs replace) but without a
    staging copy: the output types are known from the catalog, so the table and any new feature
    column are created up front, and a 10M-row backfill is written once instead of twice.
    """
    wanted = [(entity.key, "VARCHAR"), ("snapshot_date", "DATE")]
    table = quote_ident(entity.features_table)
    wanted += [(f.name, f.dtype.sql_type) for f in features] + [("computed_at", "TIMESTAMP")]
    where = range_where(first, last)
    with warehouse.session() as s:
        have = dict(warehouse.session_columns(s, entity.features_table))
        ddl = [] if have else [f"CREATE TABLE {table} ({', '.join(f'{quote_ident(c)} {t}' for c, t in wanted)})"]
        for col, typ in wanted:
            if col in have and have[col] != typ:
                raise FeatureBuildError(
                    f"{table}.{col} is {have[col]} but the catalog now makes it {typ}: rename the "
                    "feature (columns are never retyped in place)"
                )
            if have and col not in have:
                ddl.append(f"ALTER TABLE {table} ADD COLUMN {quote_ident(col)} {typ}")
        if plan is not None and plan.state_sql:
            ddl += _state_ddl(warehouse, s, entity, plan)
        cols = ", ".join(quote_ident(c) for c, _ in wanted)
        # Bind the SELECT before the table is touched: a bad expression fails here, leaving the
        # table as it was even where DDL commits on its own (Snowflake).
        s.execute(f"SELECT {cols} FROM ({sql}) AS ff_check WHERE 1 = 0")
        if not warehouse.transactional_ddl:
            for statement in ddl:
                s.execute(statement)
        with s.transaction():  # new columns and the data swap together (DuckDB: one transaction)
            if warehouse.transactional_ddl:
                for statement in ddl:
                    s.execute(statement)
            s.execute(f"DELETE FROM {table} WHERE {where}")
            s.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM ({sql}) AS ff_new")
            if plan is not None and plan.state_sql:
                _write_state(warehouse, s, entity, plan, first, last)
        row = s.fetch_one(f"SELECT COUNT(*) FROM {table} WHERE {where}")
    return int(row[0]) if row else 0


def _state_ddl(warehouse: Warehouse, s, entity: Entity, plan: SnapshotPlan) -> list[str]:
    """The state table, or its columns for partials added since."""
    name = state_table(entity)
    table = quote_ident(name)
    have = dict(warehouse.session_columns(s, name))
    if not have:
        cols = [(entity.key, "VARCHAR"), ("state_date", "DATE"), *plan.state_columns]
        return [f"CREATE TABLE {table} ({', '.join(f'{quote_ident(c)} {t}' for c, t in cols)})"]
    return [f"ALTER TABLE {table} ADD COLUMN {quote_ident(c)} {t}" for c, t in plan.state_columns if c not in have]


def _write_state(warehouse: Warehouse, s, entity: Entity, plan: SnapshotPlan, first: dt.date,
                 last: dt.date) -> None:
    """Replace the lifetime states from the range's first day on by the state as of `last`, in the
    feature write's transaction. States after a re-run range may have been built from other rows
    (a day re-ingested): they are dropped, so the next refresh after it rebuilds from history once."""
    table = quote_ident(state_table(entity))
    names = ", ".join(quote_ident(c) for c in (entity.key, "state_date", *(c for c, _ in plan.state_columns)))
    s.execute(f"DELETE FROM {table} WHERE state_date >= {sql_literal(first)}")
    s.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM ({plan.state_sql}) AS ff_state")


def preview(warehouse: Warehouse, features: Sequence[FeatureSpec], day: dt.date, limit: int = 5,
            entity: Entity = CUSTOMER_TABLES) -> str:
    """A Markdown table of a few customers of one snapshot day (bounded: LIMIT), one line per
    feature: 13 features side by side would be cut off at the right edge of the UI's dialog."""
    cols = [entity.key] + [f.name for f in features if f.computed]
    df = warehouse.fetch_df(
        f"SELECT {', '.join(cols)} FROM {quote_ident(entity.features_table)} WHERE snapshot_date = {sql_literal(day)} "
        f"ORDER BY {quote_ident(entity.key)} LIMIT {int(limit)}"
    )
    if df.empty:
        return "_no rows_"
    customers = [str(c) for c in df[entity.key]]
    rows = [[name, *df[name].tolist()] for name in cols[1:]]
    return md.table(["feature", *customers], rows)


def markdown_table(df) -> str:
    return md.frame_table(df)
