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
          "min": ("lo",), "max": ("hi",), "days_since_last_event": (), "ratio": ()}
_EVENTS = "events"


@dataclass(frozen=True)
class SnapshotPlan:
    sql: str
    first: dt.date
    last: dt.date
    read_from: dt.date  # first event day read
    strategy: str

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
) -> SnapshotPlan:
    """The SELECT producing customer_id, snapshot_date, one column per feature, computed_at.

    Another entity: `entity_key` names its key column (e.g. product_id), `population` its population
    source, whose raw table is `events_table` and key column there `population_key`."""
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
    read_from = first - dt.timedelta(days=MAX_WINDOW_DAYS - 1)
    b = _Builder(dialect, features, read_from, days, events_table, entity_key, population, population_key)
    sql = b.direct(computed_at) if strategy == "direct" else b.window(computed_at)
    return SnapshotPlan(sql, first, last, read_from, strategy)


def _measures_of(f: FeatureSpec) -> list[tuple[tuple, tuple[str, ...]]]:
    """(measure key, partial kinds) a feature needs; a key is (source, table, key column, value, where)."""
    if f.agg == "ratio":
        return [((p.source, p.table, p.key, p.value_sql, p.filter_sql), ("n",) if p.agg == "count" else ("s",))
                for p in (f.numerator, f.denominator)]
    return [((f.source, f.source_table, f.source_key, f.value_sql, f.filter_sql), _KINDS[f.agg])]


class _Builder:
    def __init__(self, wh: Dialect, features: list[FeatureSpec], read_from: dt.date, days: int, table: str,
                 key: str = "customer_id", pop: str = _EVENTS, pop_key: str = "customer_id"):
        self.wh, self.features, self.table = wh, features, quote_ident(table)
        # The entity's key column (output and internal), its population source and that source's key.
        self.key, self.pop, self.pop_key = quote_ident(key), pop, pop_key
        self.anchor = read_from
        # Day numbers are offsets from `read_from`; snapshot days are offsets first_off..last_off.
        self.first_off = MAX_WINDOW_DAYS - 1
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
                    self.needs.add((m, kind, f.window_days))
        self.multi = len(self.sources) > 1

    def measure(self, f: FeatureSpec, i: int = 0) -> int:
        key = _measures_of(f)[i][0]
        if key[0] == self.pop:
            key = (self.pop, self.sources[self.pop][0], self.pop_key, *key[3:])
        return self.measures[key]

    # -- shared pieces ---------------------------------------------------------------------------------
    def events_cte(self) -> str:
        if self.multi:
            return self.union_cte()
        read = (c for f in self.features for p in ((f.numerator, f.denominator) if f.agg == "ratio" else (f,))
                for c in (p.columns if f.agg == "ratio" else p.source_columns))
        cols = sorted(set(read) - {self.pop_key, self.key})
        last = self.anchor + dt.timedelta(days=self.last_off)
        day = self.wh.date_diff_days(sql_literal(self.anchor), "event_date")
        return (
            f"ff_ev AS (SELECT {self._key_as(self.pop_key)}, CAST({day} AS INTEGER) AS ff_day"
            + "".join(f", {quote_ident(c)}" for c in cols)
            + f" FROM {self.table} WHERE event_date BETWEEN {sql_literal(self.anchor)} AND {sql_literal(last)}"
            f" AND {quote_ident(self.pop_key)} IS NOT NULL)"
        )

    def union_cte(self) -> str:
        """Rows of every source read, tagged: ff_e = 1 on events rows (population, last event), and
        ff_v<m> = measure m's value on its source's rows that pass its filter (NULL elsewhere)."""
        last = self.anchor + dt.timedelta(days=self.last_off)
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
                f"SELECT {', '.join(cols)} FROM {quote_ident(table)} WHERE event_date BETWEEN "
                f"{sql_literal(self.anchor)} AND {sql_literal(last)} AND {quote_ident(key)} IS NOT NULL"
            )
        return "ff_ev AS (" + " UNION ALL ".join(branches) + ")"

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
        """Final feature expressions from aggregated partials; `col(m, kind, k)` names them."""
        out = []
        for f in self.features:
            m, k, t = self.measure(f), f.window_days, f.dtype.sql_type
            if f.agg == "days_since_last_event":
                expr = "ff_since"
            elif f.agg == "ratio":
                num, den = (f"COALESCE({col(self.measure(f, i), _measures_of(f)[i][1][0], k)}, 0)" for i in (0, 1))
                expr = f"CAST({num} AS DOUBLE) / NULLIF({den}, 0)"
            elif f.agg in ("count", "sum"):
                expr = f"COALESCE({col(m, _KINDS[f.agg][0], k)}, 0)"
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
    def direct(self, computed_at: dt.datetime) -> str:
        snaps = ", ".join(f"({d})" for d in range(self.first_off, self.last_off + 1))
        aggs = ["MAX(CASE WHEN ff_e = 1 THEN ff_day END) AS ff_last" if self.multi else "MAX(ff_day) AS ff_last"]
        for m, kind, k in sorted(self.needs):
            # The join already limits rows to the longest window.
            extra = f"ff_day > ff_snap - {k}" if k < MAX_WINDOW_DAYS else None
            aggs.append(f"{self.partial(m, kind, extra)} AS {_name(m, kind, k)}")
        return (
            f"WITH {self.events_cte()}, "
            f"ff_snaps AS (SELECT CAST(x AS INTEGER) AS ff_snap FROM (VALUES {snaps}) AS t(x)), "
            f"ff_agg AS (SELECT {self.key}, ff_snap, {', '.join(aggs)} FROM ff_ev "
            f"JOIN ff_snaps ON ff_day BETWEEN ff_snap - {MAX_WINDOW_DAYS - 1} AND ff_snap "
            f"GROUP BY {self.key}, ff_snap), "
            "ff_out AS (SELECT ff_agg.*, ff_snap - ff_last AS ff_since FROM ff_agg"
            # Customers with rows of other sources only are not in the population.
            + (" WHERE ff_last IS NOT NULL) " if self.multi else ") ")
            + f"SELECT {self._finish(computed_at, _name)} FROM ff_out"
        )

    def window(self, computed_at: dt.datetime) -> str:
        ek = self.key
        kinds = sorted({(m, kind) for m, kind, _ in self.needs})
        part_cols = [f"{self.partial(m, kind)} AS {_name(m, kind)}" for m, kind in kinds]
        days = ", ".join(f"({d})" for d in range(0, self.last_off + 1))
        over = f"OVER (PARTITION BY {self.key} ORDER BY ff_day ROWS BETWEEN {{}} PRECEDING AND CURRENT ROW)"
        fn = {"n": "SUM", "s": "SUM", "q": "SUM", "lo": "MIN", "hi": "MAX"}
        wins = [f"MAX(ff_act) {over.format(MAX_WINDOW_DAYS - 1)} AS ff_last"]
        for m, kind, k in sorted(self.needs):
            wins.append(f"{fn[kind]}({_name(m, kind)}) {over.format(k - 1)} AS {_name(m, kind, k)}")
        grid_cols = "".join(f", ff_part.{_name(m, kind)}" for m, kind in kinds)
        # ff_act: a day with an events row (the population and the last event day).
        act = "CASE WHEN ff_part.ff_en > 0 THEN ff_part.ff_day END" if self.multi else "ff_part.ff_day"
        if self.multi:
            part_cols.append("COUNT(ff_e) AS ff_en")
        return (
            f"WITH {self.events_cte()}, "
            f"ff_part AS (SELECT {ek}, ff_day, {', '.join(part_cols) or 'COUNT(*) AS ff_n'} "
            f"FROM ff_ev GROUP BY {ek}, ff_day), "
            f"ff_span AS (SELECT {ek}, MIN(ff_day) AS ff_lo, MAX(ff_day) AS ff_hi FROM ff_part GROUP BY {ek}), "
            f"ff_days AS (SELECT CAST(x AS INTEGER) AS ff_day FROM (VALUES {days}) AS t(x)), "
            # Dense per customer, from their first event day read to 89 days after their last, so
            # ROWS frames count days (ROWS frames are cheaper than RANGE frames on DuckDB).
            f"ff_grid AS (SELECT ff_span.{ek}, ff_days.ff_day, {act} AS ff_act"
            f"{grid_cols} FROM ff_span JOIN ff_days ON ff_days.ff_day BETWEEN ff_span.ff_lo "
            f"AND ff_span.ff_hi + {MAX_WINDOW_DAYS - 1} "
            f"LEFT JOIN ff_part ON ff_part.{ek} = ff_span.{ek} AND ff_part.ff_day = ff_days.ff_day), "
            f"ff_win AS (SELECT {ek}, ff_day AS ff_snap, {', '.join(wins)} FROM ff_grid), "
            "ff_out AS (SELECT ff_win.*, ff_snap - ff_last AS ff_since FROM ff_win "
            f"WHERE ff_snap >= {self.first_off} AND ff_last IS NOT NULL) "
            f"SELECT {self._finish(computed_at, _name)} FROM ff_out"
        )


def _name(m: int, kind: str, window: int | None = None) -> str:
    return f"ff_m{m}_{kind}" + (f"_{window}" if window is not None else "")
