"""The SQL that computes `customer_features` for snapshot days [first, last], from the catalog.

One statement, run in the warehouse. Rows: one per (customer seen within the last 90 days as of D,
D). It reads only events of days [first - 89, last], so refreshing one day never scans history.

Every feature aggregate is decomposed into partial aggregates of one "measure" (a value expression
under a filter): n = count, s = sum, q = sum of squares, lo = min, hi = max. Features sharing a
measure share the partials (purchases_7d/30d/90d and revenue_* all use "purchase amount"). Two plans:

- `direct` (a few snapshot days): events joined to the snapshot days whose 90-day lookback holds
  them, conditional aggregates grouped by (customer, day). One pass; cost grows with the day count.
- `window` (a range): partials per customer-day, a dense customer x day grid (from each customer's
  first event day in range), and `ROWS BETWEEN k-1 PRECEDING` window frames. Cost hardly grows with
  the day count, so a 100-day backfill is one statement instead of 100.

Both finish with the same expressions (`_finish`), so the plans agree to float rounding. Sample
stddev is sqrt((q - s^2/n) / (n - 1)) with a guard that returns exactly 0 when min = max.

Features over other sources (`source:` in the catalog, a `ratio` over two sources) are in the same
statement: the rows read become a UNION ALL of each source's raw table (its customer key as
customer_id), each row carrying one value column per measure, NULL outside that measure's source
and filter; partials aggregate those columns. The population and days_since_last_event stay on the
events rows (flag `ff_e`). A catalog over `events` only keeps the single-table SQL.
Only portable SQL (CASE, COALESCE, VALUES, window frames) plus the warehouse's date fragments.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.catalog.loader import MAX_WINDOW_DAYS
from feature_factory.catalog.spec import FeatureSpec
from feature_factory.warehouse.dialect import Dialect
from feature_factory.warehouse.sql import quote_ident, sql_literal

STRATEGIES = ("auto", "direct", "window")
# Up to this many snapshot days the direct plan is cheaper: it costs one lookback scan per day,
# the window plan a (days + 89)-day grid per customer (measured crossover ~20 days on DuckDB).
DEFAULT_DIRECT_MAX_DAYS = 14
_KINDS = {"count": ("n",), "sum": ("s",), "avg": ("s", "n"), "stddev": ("n", "s", "q", "lo", "hi"),
          "min": ("lo",), "max": ("hi",), "days_since_last_event": (), "ratio": (),
          # lifetime only: days with a matching row, first and last such day
          "count_days": ("d",), "days_since_first": ("fd",), "days_since_last": ("ld",)}
_EVENTS = "events"
LIFE = 0  # the window of a lifetime partial (internal: sorts before every finite window)
# How each partial combines over days: additive ones sum, the others keep their extreme.
_COMBINE = {"n": "SUM", "s": "SUM", "q": "SUM", "d": "SUM", "lo": "MIN", "fd": "MIN", "hi": "MAX", "ld": "MAX"}
# The state table's column types per partial (day partials as dates: offsets change per plan).
_STATE_TYPES = {"n": "BIGINT", "d": "BIGINT", "s": "DOUBLE", "q": "DOUBLE", "lo": "DOUBLE", "hi": "DOUBLE",
                "fd": "DATE", "ld": "DATE"}


@dataclass(frozen=True)
class SnapshotPlan:
    sql: str
    first: dt.date
    last: dt.date
    read_from: dt.date  # first event day of the windows read (lifetime: see `reads_history`)
    strategy: str
    # Lifetime plans: the SELECT of the per-entity state as of `last` (every entity seen so far,
    # whatever the population rule), its (column, type)s, and whether the state before `first`
    # came from the state table (False: rebuilt once from all events before `first`).
    state_sql: str | None = None
    state_columns: tuple[tuple[str, str], ...] = ()
    reads_history: bool = False

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def snapshot_plan(
    dialect: Dialect,  # the engine's (`warehouse.dialect`): built without a connection or Dagster
    features: Sequence[FeatureSpec],
    first: dt.date,
    last: dt.date,
    computed_at: dt.datetime,
    strategy: str = "auto",
    direct_max_days: int = DEFAULT_DIRECT_MAX_DAYS,
    events_table: str = tables.RAW_EVENTS.name,
    entity_key: str = "customer_id",
    population: str = _EVENTS,
    population_key: str = "customer_id",
    keep_inactive_days: int | None = MAX_WINDOW_DAYS,
    state_table: str | None = None,
) -> SnapshotPlan:
    """The SELECT producing customer_id, snapshot_date, one column per feature, computed_at.

    Another entity: `entity_key` names its key column (e.g. product_id), `population` its population
    source, whose raw table is `events_table` and key column there `population_key`.
    `keep_inactive_days`: the population rule (None: forever). `state_table`: a table holding the
    lifetime state as of `first - 1` (`state_date`; see `state_sql`); None rebuilds it from history."""
    if last < first:
        raise ValueError(f"snapshot range is empty: first {first} is after last {last}")
    if strategy not in STRATEGIES:
        raise ValueError(f"snapshot strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    features = [f for f in features if f.computed]
    for f in features:
        if f.agg not in _KINDS:
            raise ValueError(f"feature {f.name!r} has no declarative aggregate (agg={f.agg!r})")
    days = (last - first).days + 1
    if strategy == "auto":
        strategy = "direct" if days <= direct_max_days else "window"
    if keep_inactive_days is not None and keep_inactive_days < 1:
        raise ValueError(f"keep_inactive_days must be >= 1 (or None: forever), got {keep_inactive_days}")
    if not needs_state(features, keep_inactive_days):
        # The classic plan: the population and every window inside the 90-day lookback.
        read_from = first - dt.timedelta(days=MAX_WINDOW_DAYS - 1)
        b = _Builder(dialect, features, read_from, days, events_table, entity_key, population, population_key)
        sql = b.direct(computed_at) if strategy == "direct" else b.window(computed_at)
        return SnapshotPlan(sql, first, last, read_from, strategy)
    lookback = max([f.window_days for f in features if f.window_days is not None] or [1])
    read_from = first - dt.timedelta(days=lookback - 1)
    b = _Builder(dialect, features, read_from, days, events_table, entity_key, population, population_key,
                 lookback=lookback, lifetime=True)
    sql = b.lifetime_select(computed_at, strategy, keep_inactive_days, state_table, first)
    return SnapshotPlan(sql, first, last, read_from, strategy, b.state_select(first, last, state_table),
                        b.state_columns(), state_table is None)


def needs_state(features: Sequence[FeatureSpec], keep_inactive_days: int | None = MAX_WINDOW_DAYS) -> bool:
    """Whether the plan carries a per-entity state: a lifetime feature, a window beyond the 90-day
    lookback or another population rule than 90 days (the classic plan derives both from it)."""
    return (keep_inactive_days != MAX_WINDOW_DAYS
            or any(f.window_days is None or f.window_days > MAX_WINDOW_DAYS for f in features if f.computed))


def state_column(measure: tuple, kind: str) -> str:
    """The state table's column of one partial: named by what it aggregates (source, value, where),
    so it means the same thing across catalog versions and plans."""
    src, _, _, value, where = measure
    return f"ff_{hashlib.sha1(repr((src, value, where)).encode()).hexdigest()[:12]}_{kind}"


def _measures_of(f: FeatureSpec) -> list[tuple[tuple, tuple[str, ...]]]:
    """(measure key, partial kinds) a feature needs; a key is (source, table, key column, value, where)."""
    if f.agg == "ratio":
        return [((p.source, p.table, p.key, p.value_sql, p.filter_sql), ("n",) if p.agg == "count" else ("s",))
                for p in (f.numerator, f.denominator)]
    return [((f.source, f.source_table, f.source_key, f.value_sql, f.filter_sql), _KINDS[f.agg])]


class _Builder:
    def __init__(self, wh: Dialect, features: list[FeatureSpec], read_from: dt.date, days: int, table: str,
                 key: str = "customer_id", pop: str = _EVENTS, pop_key: str = "customer_id",
                 lookback: int = MAX_WINDOW_DAYS, lifetime: bool = False):
        self.wh, self.features, self.table = wh, features, quote_ident(table)
        # The entity's key column (output and internal), its population source and that source's key.
        self.key, self.pop, self.pop_key = quote_ident(key), pop, pop_key
        self.anchor = read_from
        # Days of events the windows read (the classic plan: 90, also its population rule).
        self.lookback = lookback
        # Day numbers are offsets from `read_from`; snapshot days are offsets first_off..last_off.
        self.first_off = lookback - 1
        self.last_off = self.first_off + days - 1
        self.measures: dict[tuple, int] = {}
        self.needs: set[tuple[int, str, int]] = set()  # (measure, kind, window)
        # source -> (table, customer key column); events first: it is always read (the population).
        self.sources: dict[str, tuple[str, str]] = {pop: (table, pop_key)}
        for f in features:
            for key, kinds in _measures_of(f):
                if key[0] != pop:
                    self.sources.setdefault(key[0], (key[1], key[2]))
                else:  # the population table is the caller's (raw_events, or a benchmark's copy)
                    key = (pop, table, pop_key, *key[3:])
                m = self.measures.setdefault(key, len(self.measures))
                for kind in kinds:
                    self.needs.add((m, kind, LIFE if f.window_days is None else f.window_days))
        self.pop_m = -1
        if lifetime:  # the population's first and last event day: population rule, tenure, recency
            self.pop_m = self.measures.setdefault((pop, table, pop_key, None, None), len(self.measures))
            self.needs |= {(self.pop_m, "fd", LIFE), (self.pop_m, "ld", LIFE)}
        self.multi = len(self.sources) > 1

    def measure(self, f: FeatureSpec, i: int = 0) -> int:
        key = _measures_of(f)[i][0]
        if key[0] == self.pop:
            key = (self.pop, self.sources[self.pop][0], self.pop_key, *key[3:])
        return self.measures[key]

    # -- shared pieces ---------------------------------------------------------------------------------
    def events_cte(self, name: str = "ff_ev", history: bool = False) -> str:
        """The rows read, as CTE `name`: event days [read_from, last snapshot day], or with
        `history` every day before the first snapshot day (rebuilding a missing lifetime state)."""
        if self.multi:
            return self.union_cte(name, history)
        read = (c for f in self.features for p in ((f.numerator, f.denominator) if f.agg == "ratio" else (f,))
                for c in (p.columns if f.agg == "ratio" else p.source_columns))
        cols = sorted(set(read) - {self.pop_key, self.key})
        day = self.wh.date_diff_days(sql_literal(self.anchor), "event_date")
        return (
            f"{name} AS (SELECT {self._key_as(self.pop_key)}, CAST({day} AS INTEGER) AS ff_day"
            + "".join(f", {quote_ident(c)}" for c in cols)
            + f" FROM {self.table} WHERE {self._days(history)} AND {quote_ident(self.pop_key)} IS NOT NULL)"
        )

    def _days(self, history: bool) -> str:
        if history:
            return f"event_date < {sql_literal(self.anchor + dt.timedelta(days=self.first_off))}"
        last = self.anchor + dt.timedelta(days=self.last_off)
        return f"event_date BETWEEN {sql_literal(self.anchor)} AND {sql_literal(last)}"

    def union_cte(self, name: str = "ff_ev", history: bool = False) -> str:
        """Rows of every source read, tagged: ff_e = 1 on events rows (population, last event), and
        ff_v<m> = measure m's value on its source's rows that pass its filter (NULL elsewhere)."""
        day = self.wh.date_diff_days(sql_literal(self.anchor), "event_date")
        branches = []
        for src, (table, key) in self.sources.items():
            cols = [f"{quote_ident(key)} AS {self.key}", f"CAST({day} AS INTEGER) AS ff_day",
                    "1 AS ff_e" if src == self.pop else "CAST(NULL AS INTEGER) AS ff_e"]
            for (m_src, _, _, value, where), m in sorted(self.measures.items(), key=lambda kv: kv[1]):
                if m_src != src:
                    cols.append(f"NULL AS ff_v{m}")
                    continue
                v = value or "1"
                cols.append(f"(CASE WHEN {where} THEN {v} END) AS ff_v{m}" if where else f"{v} AS ff_v{m}")
            branches.append(
                f"SELECT {', '.join(cols)} FROM {quote_ident(table)} WHERE {self._days(history)} "
                f"AND {quote_ident(key)} IS NOT NULL"
            )
        return f"{name} AS (" + " UNION ALL ".join(branches) + ")"

    def _key_as(self, column: str) -> str:
        """`column` under the entity key's name (unchanged when they are the same)."""
        return self.key if quote_ident(column) == self.key else f"{quote_ident(column)} AS {self.key}"

    def partial(self, m: int, kind: str, extra: str | None = None) -> str:
        """The aggregate of measure `m`'s partial `kind` over event rows (optionally also `extra`)."""
        if self.multi:
            v = f"ff_v{m}"
            if kind == "q":
                v = f"CAST({v} AS DOUBLE) * CAST({v} AS DOUBLE)"
            inner = f"CASE WHEN {extra} THEN {v} END" if extra else v
            return {"n": "COUNT", "s": "SUM", "q": "SUM", "lo": "MIN", "hi": "MAX"}[kind] + f"({inner})"
        _, _, _, value, where = next(k for k, i in self.measures.items() if i == m)
        cond = " AND ".join(c for c in (extra, where) if c)
        v = value or "1"
        if kind == "q":
            v = f"CAST({v} AS DOUBLE) * CAST({v} AS DOUBLE)"
        inner = f"CASE WHEN {cond} THEN {v} END" if cond else v
        if kind == "n" and value is None and not cond:
            return "COUNT(*)"
        return {"n": "COUNT", "s": "SUM", "q": "SUM", "lo": "MIN", "hi": "MAX"}[kind] + f"({inner})"

    def _finish(self, computed_at: dt.datetime, col) -> str:
        """Final feature expressions from aggregated partials; `col(m, kind, k)` names them (k = LIFE:
        the lifetime partial)."""
        out = []
        for f in self.features:
            m, k, t = self.measure(f), LIFE if f.window_days is None else f.window_days, f.dtype.sql_type
            if f.agg == "days_since_last_event":
                expr = "ff_since"
            elif f.agg == "days_since_first":
                expr = f"ff_snap - {col(m, 'fd', LIFE)}"
            elif f.agg == "days_since_last":
                expr = f"ff_snap - {col(m, 'ld', LIFE)}"
            elif f.agg == "ratio":
                num, den = (f"COALESCE({col(self.measure(f, i), _measures_of(f)[i][1][0], k)}, 0)" for i in (0, 1))
                expr = f"CAST({num} AS DOUBLE) / NULLIF({den}, 0)"
            elif f.agg in ("count", "sum", "count_days"):
                expr = f"COALESCE({col(m, _KINDS[f.agg][0], k)}, 0)"
                if f.per_days:  # per `per_days` days of the relationship (its first day counts)
                    expr = (f"CAST({expr} AS DOUBLE) * {int(f.per_days)} / "
                            f"(ff_snap - {col(self.pop_m, 'fd', LIFE)} + 1)")
            elif f.agg == "avg":
                expr = f"CAST({col(m, 's', k)} AS DOUBLE) / NULLIF({col(m, 'n', k)}, 0)"
            elif f.agg == "stddev":
                n, s, q = col(m, "n", k), f"CAST({col(m, 's', k)} AS DOUBLE)", col(m, "q", k)
                expr = (
                    f"CASE WHEN COALESCE({n}, 0) < 2 THEN NULL WHEN {col(m, 'lo', k)} = {col(m, 'hi', k)} THEN 0.0 "
                    f"ELSE SQRT(GREATEST(({q} - {s} * {s} / {n}) / ({n} - 1), 0.0)) END"
                )
            else:
                expr = col(m, "lo" if f.agg == "min" else "hi", k)
            out.append(f"CAST({expr} AS {t}) AS {quote_ident(f.name)}")
        snapshot = self.wh.date_add_days(sql_literal(self.anchor), "ff_snap")
        return (
            f"{self.key}, {snapshot} AS snapshot_date, "
            + "".join(f"{e}, " for e in out)
            + f"{sql_literal(computed_at)} AS computed_at"
        )

    # -- plans -------------------------------------------------------------------------------------------
    def windowed(self) -> list[tuple[int, str, int]]:
        """The finite-window partials (m, kind, k) the features need."""
        return sorted(n for n in self.needs if n[2] != LIFE)

    def direct(self, computed_at: dt.datetime) -> str:
        return f"WITH {self.events_cte()}, {self.direct_ctes()} SELECT {self._finish(computed_at, _name)} FROM ff_out"

    def direct_ctes(self) -> str:
        """CTEs ending in ff_out: (key, ff_snap, windowed partials, ff_since) of entities with events
        in the lookback."""
        snaps = ", ".join(f"({d})" for d in range(self.first_off, self.last_off + 1))
        aggs = ["MAX(CASE WHEN ff_e = 1 THEN ff_day END) AS ff_last" if self.multi else "MAX(ff_day) AS ff_last"]
        for m, kind, k in self.windowed():
            # The join already limits rows to the longest window.
            extra = f"ff_day > ff_snap - {k}" if k < self.lookback else None
            aggs.append(f"{self.partial(m, kind, extra)} AS {_name(m, kind, k)}")
        return (
            f"ff_snaps AS (SELECT CAST(x AS INTEGER) AS ff_snap FROM (VALUES {snaps}) AS t(x)), "
            f"ff_agg AS (SELECT {self.key}, ff_snap, {', '.join(aggs)} FROM ff_ev "
            f"JOIN ff_snaps ON ff_day BETWEEN ff_snap - {self.lookback - 1} AND ff_snap "
            f"GROUP BY {self.key}, ff_snap), "
            "ff_out AS (SELECT ff_agg.*, ff_snap - ff_last AS ff_since FROM ff_agg"
            # Customers with rows of other sources only are not in the population.
            + (" WHERE ff_last IS NOT NULL)" if self.multi else ")")
        )

    def window(self, computed_at: dt.datetime) -> str:
        return f"WITH {self.events_cte()}, {self.window_ctes()} SELECT {self._finish(computed_at, _name)} FROM ff_out"

    def window_ctes(self) -> str:
        ek = self.key
        kinds = sorted({(m, kind) for m, kind, _ in self.windowed()})
        part_cols = [f"{self.partial(m, kind)} AS {_name(m, kind)}" for m, kind in kinds]
        days = ", ".join(f"({d})" for d in range(0, self.last_off + 1))
        over = f"OVER (PARTITION BY {self.key} ORDER BY ff_day ROWS BETWEEN {{}} PRECEDING AND CURRENT ROW)"
        fn = {"n": "SUM", "s": "SUM", "q": "SUM", "lo": "MIN", "hi": "MAX"}
        wins = [f"MAX(ff_act) {over.format(self.lookback - 1)} AS ff_last"]
        for m, kind, k in self.windowed():
            wins.append(f"{fn[kind]}({_name(m, kind)}) {over.format(k - 1)} AS {_name(m, kind, k)}")
        grid_cols = "".join(f", ff_part.{_name(m, kind)}" for m, kind in kinds)
        # ff_act: a day with an events row (the population and the last event day).
        act = "CASE WHEN ff_part.ff_en > 0 THEN ff_part.ff_day END" if self.multi else "ff_part.ff_day"
        if self.multi:
            part_cols.append("COUNT(ff_e) AS ff_en")
        return (
            f"ff_part AS (SELECT {ek}, ff_day, {', '.join(part_cols) or 'COUNT(*) AS ff_n'} "
            f"FROM ff_ev GROUP BY {ek}, ff_day), "
            f"ff_span AS (SELECT {ek}, MIN(ff_day) AS ff_lo, MAX(ff_day) AS ff_hi FROM ff_part GROUP BY {ek}), "
            f"ff_days AS (SELECT CAST(x AS INTEGER) AS ff_day FROM (VALUES {days}) AS t(x)), "
            # Dense per customer, from their first event day read to lookback - 1 days after their
            # last, so ROWS frames count days (ROWS frames are cheaper than RANGE frames on DuckDB).
            f"ff_grid AS (SELECT ff_span.{ek}, ff_days.ff_day, {act} AS ff_act"
            f"{grid_cols} FROM ff_span JOIN ff_days ON ff_days.ff_day BETWEEN ff_span.ff_lo "
            f"AND ff_span.ff_hi + {self.lookback - 1} "
            f"LEFT JOIN ff_part ON ff_part.{ek} = ff_span.{ek} AND ff_part.ff_day = ff_days.ff_day), "
            f"ff_win AS (SELECT {ek}, ff_day AS ff_snap, {', '.join(wins)} FROM ff_grid), "
            "ff_out AS (SELECT ff_win.*, ff_snap - ff_last AS ff_since FROM ff_win "
            f"WHERE ff_snap >= {self.first_off} AND ff_last IS NOT NULL)"
        )

    # -- lifetime: a per-entity state carried from the day before the range ---------------------------
    def lifetime_partials(self) -> list[tuple[int, str]]:
        return sorted((m, kind) for m, kind, k in self.needs if k == LIFE)

    def _measure_key(self, m: int) -> tuple:
        return next(k for k, i in self.measures.items() if i == m)

    def life_partial(self, m: int, kind: str, per_day: bool) -> str:
        """Measure m's partial `kind` over rows of one (entity, day) (`per_day`) or of all history."""
        if kind not in ("fd", "ld", "d"):
            return self.partial(m, kind)
        if self.multi:
            cond = f"ff_v{m} IS NOT NULL"
        else:
            cond = self._measure_key(m)[4]
        if kind == "d":
            if per_day:
                return f"MAX(CASE WHEN {cond} THEN 1 ELSE 0 END)" if cond else "1"
            return f"COUNT(DISTINCT {f'CASE WHEN {cond} THEN ff_day END' if cond else 'ff_day'})"
        day = f"CASE WHEN {cond} THEN ff_day END" if cond else "ff_day"
        return f"{'MIN' if kind == 'fd' else 'MAX'}({day})"

    def state_columns(self) -> tuple[tuple[str, str], ...]:
        return tuple((state_column(self._measure_key(m), kind), _STATE_TYPES[kind])
                     for m, kind in self.lifetime_partials())

    def _prev_ctes(self, state_table: str | None, first: dt.date) -> list[str]:
        """ff_prev: every entity's lifetime partials as of the day before `first` (day partials as
        offsets), from the state table, or rebuilt from all earlier rows when there is none."""
        life = self.lifetime_partials()
        if state_table is not None:
            cols = []
            for m, kind in life:
                c = quote_ident(state_column(self._measure_key(m), kind))
                if kind in ("fd", "ld"):
                    c = f"CAST({self.wh.date_diff_days(sql_literal(self.anchor), c)} AS INTEGER)"
                cols.append(f"{c} AS {_name(m, kind, 'p')}")
            return [f"ff_prev AS (SELECT {self.key}, {', '.join(cols)} FROM {quote_ident(state_table)} "
                    f"WHERE state_date = {sql_literal(first - dt.timedelta(days=1))})"]
        cols = [f"{self.life_partial(m, kind, per_day=False)} AS {_name(m, kind, 'p')}" for m, kind in life]
        return [self.events_cte("ff_hist", history=True),
                f"ff_prev AS (SELECT {self.key}, {', '.join(cols)} FROM ff_hist GROUP BY {self.key})"]

    def _life_ctes(self, state_table: str | None, first: dt.date) -> list[str]:
        """ff_prev, ff_dp (partials per entity and day of the range) and ff_keys (every entity seen)."""
        life = self.lifetime_partials()
        dp = [f"{self.life_partial(m, kind, per_day=True)} AS {_name(m, kind)}" for m, kind in life]
        return [*self._prev_ctes(state_table, first),
                f"ff_dp AS (SELECT {self.key}, ff_day, {', '.join(dp)} FROM ff_ev WHERE ff_day >= {self.first_off} "
                f"GROUP BY {self.key}, ff_day)",
                f"ff_keys AS (SELECT {self.key} FROM ff_prev UNION SELECT {self.key} FROM ff_dp)"]

    @staticmethod
    def _combine(kind: str, prev: str, now: str) -> str:
        """The state before the range combined with the range's aggregate (either may be NULL)."""
        if _COMBINE[kind] == "SUM":
            return f"COALESCE({prev}, 0) + COALESCE({now}, 0)"
        if kind == "fd":
            return f"COALESCE({prev}, {now})"
        if kind == "ld":
            return f"COALESCE({now}, {prev})"
        better = "<" if kind == "lo" else ">"
        return f"CASE WHEN {prev} IS NULL THEN {now} WHEN {now} IS NULL THEN {prev} WHEN {now} {better} {prev} " \
               f"THEN {now} ELSE {prev} END"

    def lifetime_select(self, computed_at: dt.datetime, strategy: str, keep: int | None,
                        state_table: str | None, first: dt.date) -> str:
        """Every entity seen by a snapshot day and kept by the population rule, its lifetime
        partials = the state before the range + a running aggregate over the range's days, joined to
        its windowed partials (absent: empty windows)."""
        ek, life, windowed = self.key, self.lifetime_partials(), self.windowed()
        ctes = [self.events_cte(), *self._life_ctes(state_table, first)]
        if windowed:
            ctes.append(self.direct_ctes() if strategy == "direct" else self.window_ctes())
        snaps = ", ".join(f"({d})" for d in range(self.first_off, self.last_off + 1))
        run = "OVER (PARTITION BY k.{0} ORDER BY sd.ff_snap ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        cum = [f"{_COMBINE[kind]}(dp.{_name(m, kind)}) {run.format(ek)} AS {_name(m, kind, 'c')}" for m, kind in life]
        comb = [f"{self._combine(kind, 'p.' + _name(m, kind, 'p'), 'g.' + _name(m, kind, 'c'))} AS {_name(m, kind, LIFE)}"
                for m, kind in life]
        ld, fd = _name(self.pop_m, "ld", LIFE), _name(self.pop_m, "fd", LIFE)
        keep_rule = f" AND l.ff_snap - l.{ld} < {int(keep)}" if keep is not None else ""
        outs = "".join(f", o.{_name(m, kind, k)}" for m, kind, k in windowed)
        ctes += [
            f"ff_sd AS (SELECT CAST(x AS INTEGER) AS ff_snap FROM (VALUES {snaps}) AS t(x))",
            # Dense over the range's days per entity seen so far (a running aggregate counts days).
            f"ff_lg AS (SELECT k.{ek}, sd.ff_snap, {', '.join(cum)} FROM ff_keys k CROSS JOIN ff_sd sd "
            f"LEFT JOIN ff_dp dp ON dp.{ek} = k.{ek} AND dp.ff_day = sd.ff_snap)",
            f"ff_life AS (SELECT g.{ek}, g.ff_snap, {', '.join(comb)} FROM ff_lg g LEFT JOIN ff_prev p "
            f"ON p.{ek} = g.{ek})",
            # The population: a population row on or before the day, the last within `keep` days.
            f"ff_all AS (SELECT l.*, l.ff_snap - l.{ld} AS ff_since{outs} FROM ff_life l "
            + (f"LEFT JOIN ff_out o ON o.{ek} = l.{ek} AND o.ff_snap = l.ff_snap " if windowed else "")
            + f"WHERE l.{ld} IS NOT NULL AND l.{fd} <= l.ff_snap{keep_rule})",
        ]
        return f"WITH {', '.join(ctes)} SELECT {self._finish(computed_at, _name)} FROM ff_all"

    def state_select(self, first: dt.date, last: dt.date, state_table: str | None) -> str:
        """The state as of `last`: every entity seen up to it (dropped from the population or not),
        its lifetime partials (day partials as dates), state_date = last."""
        ek, life = self.key, self.lifetime_partials()
        total = [f"{_COMBINE[kind]}({_name(m, kind)}) AS {_name(m, kind, 'c')}" for m, kind in life]
        cols = []
        for m, kind in life:
            v = self._combine(kind, "p." + _name(m, kind, "p"), "t." + _name(m, kind, "c"))
            if kind in ("fd", "ld"):
                v = self.wh.date_add_days(sql_literal(self.anchor), v)
            else:
                v = f"CAST({v} AS {_STATE_TYPES[kind]})"
            cols.append(f"{v} AS {quote_ident(state_column(self._measure_key(m), kind))}")
        ctes = [self.events_cte(), *self._life_ctes(state_table, first),
                f"ff_dt AS (SELECT {ek}, {', '.join(total)} FROM ff_dp GROUP BY {ek})"]
        return (f"WITH {', '.join(ctes)} SELECT k.{ek}, {sql_literal(last)} AS state_date, {', '.join(cols)} "
                f"FROM ff_keys k LEFT JOIN ff_prev p ON p.{ek} = k.{ek} LEFT JOIN ff_dt t ON t.{ek} = k.{ek}")


def _name(m: int, kind: str, window: int | str | None = None) -> str:
    """Partial column names: per day (no window), over a window of k days, lifetime (LIFE: `_all`),
    or the lifetime state's pieces (`p`: before the range, `c`: running over the range)."""
    if window is None:
        return f"ff_m{m}_{kind}"
    return f"ff_m{m}_{kind}_" + ("all" if window == LIFE else str(window))
