"""Root-cause attribution: which event dimension, entity cohort or landing file a drift came from.

Any entity: an `AttributionSource` names the raw table whose rows its features aggregate, the key
column there and in its feature table, the dimensions to attribute by, and the three cache tables
(`CUSTOMER`: raw_events / customer_id / customer_features, dimensions event_type and channel,
caches customer_first_seen, customer_first_seen_days, attribution_baseline; another entity's
caches are `<entity>_first_seen`, ... from `tables.attribution_caches`). Below, "raw_events",
"customer" and "customer_features" read as the source's raw table, entity and feature table.

Computed in the warehouse, over `raw_events` and the catalog's feature definitions
(`FeatureSpec.value_sql` / `filter_sql` / `window_days`), for every drifted feature of one day in
at most two statements whatever the number of features: one over the current windows (the days each
feature's window covers as of the alert day, joined to that day's `customer_features` row to know
which customers are out of range), one over the baseline window's event days (once per baseline window: stored
in `attribution_baseline`). Each is a single
scan with `GROUPING SETS` over the segments, so the result has one row per segment value and does
not grow with the event count.

Segments (dimension: value):

- the source's declared dimensions (the customer's: `event_type`, `channel`): the event's own
  columns; a source may declare none;
- `cohort`: `new` (first event within `NEW_CUSTOMER_DAYS` days before the event) or `returning`
  (first events from `customer_first_seen`);
- `first_seen_week`: the Monday of the week of the customer's first event;
- `source_file`: the landing file the event was ingested from (a lineage column of every raw table).

Totals (all rows, mass, missing inputs of the baseline) are summed over the cohort dimension,
which every row belongs to exactly once whatever dimensions the source declares.

Mass of a feature in a segment: the aggregated value summed over the segment's rows inside the
feature's window and filter (rows for counts). What "the change" is depends on the diagnosis:

| mode    | used for                              | delta of segment s                                 |
|---------|---------------------------------------|----------------------------------------------------|
| tail    | tail_contamination, single_source     | mass of out-of-range customers' rows in s          |
| missing | missing_data                          | rows in s with the input missing, minus the rows    |
|         |                                       | in s x s's baseline missing rate                   |
| shift   | everything else                       | per-day mass in s now minus in the baseline        |
|         |                                       | (source_file: mass minus its input rows x the      |
|         |                                       | baseline's mass per input row; all rows, counts;   |
|         |                                       | cohort: mass minus its input rows now (a count's:  |
|         |                                       | its event rows in the window) x its own baseline   |
|         |                                       | mass per such row, shrunk to the overall rate by   |
|         |                                       | PRIOR_ROWS)                                        |

`share` = the segment's part of the change in its dimension (|delta| / sum |delta| for shift, the
positive part for tail and missing, so each dimension sums to 1); `expected` = the share it would
have if it were not special: in tail mode its share of the feature's mass now (a file's: of
its rows, as the file's mass holds the contamination traced), so purchases of an amount feature
or long-tenured customers at the top of a 30-day sum are not special for carrying the mass they
hold anyway; in missing mode its share of the feature's rows; in shift mode its baseline mass
(source_file: its share of the feature's input rows, of all rows for a count; cohort: its rows
now at its baseline rate, a count's event rows at its baseline count per event). The cohort needs the like-for-like expectation
because customers move from `new` to `returning` as the history ages: early in a history every
customer counts as new for weeks, so against the baseline's mass `returning` grows with the
history's age and would be named first for any change, even a uniform one (issue 28). It is
also named only when its mass departs from the mean value per row of its own event days (one
small per-day table joined into the current statement) beyond its noise, in its change's
direction: in a gradual uniform change the rows of the later days are dearer for everyone, and a
cohort whose rows sit on those days is not special for it. A first-seen week keeps its
customers, so a wave of newcomers still shows there.

Which segments are named (the ranking rule), a statistical rule rather than a fixed margin:

1. a value holding >= `COVERAGE_MAX` (0.9) of its dimension's size (the purchases of a
   purchase-only feature, the one channel a channel count reads) carries no information: never
   named, listed in `Attribution.covering`;
2. the share must exceed the size by `MARGIN` (0.05) AND the low end of its noise band: the lower
   bound of the Wilson score interval (z below) of the share observed
   over the change's effective number of independent units n, must exceed `expected`; z is
   Bonferroni over the dimension's values (`band_z`: the chance that noise names any value of a
   dimension is at most `FAMILY_ALPHA`, 0.05; 1.96 for 2 values, 2.91 for a 7-day window's 28
   landing files). n is Kish's (sum w)^2 / sum w^2 of the out-of-range rows' values, at most the
   number of out-of-range customers (tail: a few extreme values are few units however many rows
   they sit in, and a customer's rows are out of range together), the missing inputs' count (missing), and
   (sum |delta|)^2 / var for shift, var = sum over segments of (sum of squared values now) / k^2
   + (in the baseline) / B^2 (each per-day mass a sum of independent rows: its variance is the
   sum of their squares). So, for a 2-value dimension, 64% vs 55% over 100 units is noise (low end
   0.54) and over 10,000 units a real concentration (low end 0.63);
3. rank: a landing file carrying >= `FILE_CARRIES` (0.5) of the change first (a file is the unit
   of re-ingestion, and its content explains the other dimensions' concentration: its rows are
   one event type and some customers), then by `share - expected` (lift `low / expected` is
   reported; as a ranking key it is unbounded for a segment the baseline lacks).

Each contributor carries `share`, `expected`, `delta`, `low` (the band's low end) and `lift`.

Two maintained tables keep one day's cost independent of the stored history:
`customer_first_seen` (each customer's first event day, folded in per new event day by
`refresh_first_seen`, instead of a MIN over every stored event per statement), and
`attribution_baseline` (the baseline side per feature and baseline window, computed once and
reused by every day judged against that baseline while the window's events and the feature's
definition are unchanged).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scipy.stats import norm

from feature_factory import tables
from feature_factory.catalog import FeatureSpec
from feature_factory.warehouse.dialect import Dialect
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # the Warehouse (a Dagster resource) is only passed in: the SQL builders need none
    from feature_factory.warehouse.base import Warehouse

NEW_CUSTOMER_DAYS = 28
# The segments every source has (from the first-seen table and the lineage columns), after its own.
DERIVED = ("cohort", "first_seen_week", "source_file")
TOTALS = "cohort"  # every row is in exactly one cohort: the dimension totals are summed over
MODES = ("tail", "missing", "shift")
# A Monday, so week buckets start on Mondays on every backend.
_EPOCH_MONDAY = dt.date(1970, 1, 5)
TOP_PER_FEATURE = 5
# The ranking rule (module docstring).
MARGIN = 0.05  # share beyond the segment's size
FAMILY_ALPHA = 0.05  # the noise band: a dimension names a value by chance at most this often
COVERAGE_MAX = 0.9  # a value holding this much of the feature's rows or mass explains nothing
FILE_CARRIES = 0.5  # a file carrying this much of the change ranks first
# Segments a customer moves between as the history ages (new -> returning): their sizes change with
# the history's age, so their expectation is like for like (the segment's rows now at its baseline
# rate), not its baseline mass. A first-seen week keeps its customers for good: a wave of newcomers
# is a change its week carries, against its baseline mass.
AGE_DIMENSIONS = ("cohort",)
PRIOR_ROWS = 30  # rows of the overall rate a segment's own baseline rate is shrunk with


_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
# Names the statements use for their own columns: a dimension may not take one.
_RESERVED = re.compile(r"(events|e_day|first_day|g_.*|.*__.*)")


@dataclass(frozen=True)
class AttributionSource:
    """Where one entity's drift is attributed: the raw table its features aggregate (with the
    lineage columns event_date and source_file), its key column there and in the feature table,
    the raw columns to attribute by (`dimensions`, possibly none) and the three cache tables."""

    entity: str
    raw_table: str
    raw_key: str  # the entity's key column in raw_table
    features_table: str
    features_key: str  # its key column in features_table
    dimensions: tuple[str, ...]
    first_seen_table: str  # maintained by refresh_first_seen: (raw_key, first_day)
    first_seen_days_table: str  # the event days folded into it
    baseline_table: str  # the baseline side, once per feature and baseline window
    source: str = ""  # its name in the sources file (schema findings are read for it)

    def __post_init__(self) -> None:
        where = f"attribution source of entity {self.entity!r} ({self.raw_table})"
        for name in (self.raw_key, self.features_key, *self.dimensions):
            if not _IDENT.fullmatch(name):
                raise ValueError(f"{where}: column {name!r} is not a lower-case SQL identifier")
        for d in self.dimensions:
            if d in DERIVED or _RESERVED.fullmatch(d) or d == self.raw_key:
                raise ValueError(f"{where}: dimension {d!r} clashes with a segment or column attribution "
                                 f"names itself ({', '.join(DERIVED)}, the key, events, e_day, first_day, g_*, *__*)")
        if len(set(self.dimensions)) != len(self.dimensions):
            raise ValueError(f"{where}: dimensions {list(self.dimensions)} repeat a column")

    @property
    def all_dimensions(self) -> tuple[str, ...]:
        """The declared dimensions, then cohort, first_seen_week and source_file."""
        return (*self.dimensions, *DERIVED)

    @classmethod
    def for_entity(cls, entity: str, raw_table: str, raw_key: str, features_table: str, features_key: str,
                   dimensions: Sequence[str] = (), source: str = "") -> AttributionSource:
        """Another entity's source, its caches named after it (`tables.attribution_caches`)."""
        first_seen, days, baseline = tables.attribution_caches(entity, raw_key, raw_table, features_table)
        return cls(entity, raw_table, raw_key, features_table, features_key, tuple(dimensions),
                   first_seen.name, days.name, baseline.name, source)


CUSTOMER = AttributionSource(
    "customer", tables.RAW_EVENTS.name, "customer_id", tables.CUSTOMER_FEATURES.name, "customer_id",
    ("event_type", "channel"), tables.CUSTOMER_FIRST_SEEN.name, tables.CUSTOMER_FIRST_SEEN_DAYS.name,
    tables.ATTRIBUTION_BASELINE.name, "events")
DIMENSIONS = CUSTOMER.all_dimensions
FIRST_SEEN_TABLE = CUSTOMER.first_seen_table
FIRST_SEEN_DAYS = CUSTOMER.first_seen_days_table
BASELINE_CACHE_TABLE = CUSTOMER.baseline_table


@dataclass(frozen=True)
class Target:
    """One drifted feature to attribute: its spec, the mode, and (tail) the baseline range."""

    spec: FeatureSpec
    mode: str
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"attribution mode {self.mode!r} for {self.spec.name}; expected one of {MODES}")


def _lit_date(day: dt.date) -> str:
    return f"CAST({sql_literal(str(day))} AS DATE)"


def _value(spec: FeatureSpec) -> tuple[str, str]:
    """(value expression, row condition) of a feature over raw_events columns."""
    cond = f"({spec.filter_sql})" if spec.filter_sql else "1 = 1"
    return (f"({spec.value_sql})" if spec.value_sql else "1"), cond


def _unless_false(cond: str) -> str:
    """The row would be read but for a missing input: its condition is true, or unknown because
    of a NULL (`amount > 0` on a blank amount); a row the condition excludes is not missing."""
    return f"COALESCE({cond}, TRUE)"


def reads_source(spec: FeatureSpec, source: AttributionSource = CUSTOMER) -> bool:
    """The feature is one aggregate over the source's raw rows keyed by its key (not a ratio of
    two sources, not another source's rows, not the rows of another entity sharing the table)."""
    return (spec.agg != "ratio" and getattr(spec, "source_table", tables.RAW_EVENTS.name) == source.raw_table
            and getattr(spec, "source_key", "customer_id") == source.raw_key)


def attributable(specs: Sequence[FeatureSpec], event_columns: set[str],
                 source: AttributionSource = CUSTOMER) -> list[FeatureSpec]:
    """Features whose value is an aggregate of the source's raw rows (derived ones are not)."""
    return [s for s in specs if s.agg and s.agg != "days_since_last_event" and s.window_days
            and reads_source(s, source)  # another source's rows are not in this raw table
            and set(s.source_columns) <= event_columns]


def _segments(dialect: Dialect, date_col: str, source: AttributionSource = CUSTOMER) -> str:
    """Segment columns of an event row `e` joined to its entity's first day `fs.first_day`."""
    age = dialect.date_diff_days("fs.first_day", date_col)
    week = dialect.date_diff_days(_lit_date(_EPOCH_MONDAY), "fs.first_day")
    own = "".join(f"e.{d}, " for d in source.dimensions)
    return (f"{own}e.source_file, "
            f"CASE WHEN {age} < {NEW_CUSTOMER_DAYS} THEN 'new' ELSE 'returning' END AS cohort, "
            f"CAST(FLOOR({week} / 7) AS BIGINT) AS first_seen_week")


# The measures a grouped statement names, per segment: every event row of its window (`events`) and
# the first event day (`first_day`, current side), and per feature its rows inside the feature's
# window and filter (`rows`), their mass (`mass`) with its sum of squares (`squares`), the rows
# with a missing input (`missing`), and the out-of-range customers' mass (`out_of_range`) with its
# sum of squares (`out_of_range_squares`).
EVENTS, FIRST_DAY = "events", "first_day"
ROWS, MASS, SQUARES, MISSING, OUT, OUT_SQUARES = (
    "rows", "mass", "squares", "missing", "out_of_range", "out_of_range_squares")
# Like-for-like expectation of an age segment (current side, shift mode): its rows (a count's: its
# `carry` rows) each at the mean value per row of their own event day over all rows (`day_rates`).
SAME_DAY = "same_day_mass"
# The rows that can carry a count's mass (current side, count features in shift mode): every event
# row inside its window, whatever its filter (a count's mass is its rows, so its rate is per event).
CARRY = "carry"
BASE_MEASURES = (ROWS, MASS, SQUARES, MISSING)  # the baseline side of every feature (stored)


@dataclass(frozen=True)
class Measure:
    """One named column of a grouped statement: `combine` aggregates the inner event rows per
    combination of every dimension, `outer` (SUM or MIN, both exact on partial results)
    re-aggregates the combinations per segment. `feature` is None for the segment's own measures."""

    name: str
    feature: str | None
    combine: str
    outer: str = "SUM"

    @property
    def alias(self) -> str:
        return self.name if self.feature is None else f"{self.name}__{self.feature}"


@dataclass(frozen=True)
class Grouped:
    """A grouped statement and what its columns are: read back by `_rows` through `measures`."""

    sql: str
    dimensions: tuple[str, ...]
    measures: tuple[Measure, ...]


@dataclass
class _Inner:
    """The per-row columns of the inner select and the measures over them, built together so an
    alias is written once (by `add`) and every reader takes it from the `Measure`."""

    columns: list[str] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)

    def add(self, feature: str, name: str, row_sql: str, squares: str | None = None) -> None:
        """Row column `row_sql` named `name` for `feature`, summed; and its sum of squares as the
        measure `squares` when given."""
        m = Measure(name, feature, "")
        self.columns.append(f"{row_sql} AS {m.alias}")
        self.measures.append(Measure(name, feature, f"SUM({m.alias})"))
        if squares:
            self.measures.append(Measure(squares, feature, f"SUM({m.alias} * {m.alias})"))


def _features(targets: Sequence[Target]) -> None:
    """Each target's feature names its columns: one target per feature, a lower-case identifier."""
    names = [t.spec.name for t in targets]
    for n in names:
        quote_ident(n)
    if len(set(names)) != len(names):
        raise ValueError(f"attribution targets repeat a feature: {sorted(n for n in names if names.count(n) > 1)}")


def _grouped(inner: str, measures: Sequence[Measure], dimensions: Sequence[str] = DIMENSIONS) -> Grouped:
    """The segment rows of `inner` in two steps: one aggregation by every dimension at once (a
    few thousand combinations), then the grouping sets over that small result (every aggregate is
    a sum or a min, so it re-aggregates exactly): one pass over the events instead of one per set."""
    dims = ", ".join(dimensions)
    sets = ", ".join(f"({d})" for d in dimensions)
    grouping = ", ".join(f"GROUPING({d}) AS g_{d}" for d in dimensions)
    combos = ", ".join(f"{m.combine} AS {m.alias}" for m in measures)
    outer = ", ".join(f"{m.outer}({m.alias}) AS {m.alias}" for m in measures)
    sql = (f"SELECT {grouping}, {dims}, {outer} FROM (SELECT {dims}, {combos} FROM ({inner}) seg "
           f"GROUP BY {dims}) combos GROUP BY GROUPING SETS ({sets})")
    return Grouped(sql, tuple(dimensions), tuple(measures))


def _first_days(source: AttributionSource = CUSTOMER) -> str:
    """Each customer's first event day, from the maintained table (`refresh_first_seen`): the
    first day over all stored events equals the first day up to `day` for every customer with an
    event in a window ending on `day`, so one table serves every judged day."""
    return f"{source.first_seen_table} fs ON fs.{source.raw_key} = e.{source.raw_key}"


def refresh_first_seen(warehouse: Warehouse, source: AttributionSource = CUSTOMER) -> str:
    """Bring `customer_first_seen` (customer_id, first_day) up to date with raw_events (another
    entity's: `<entity>_first_seen` with its key, from its raw table); returns what it did
    ("current", "added N day(s)", "rebuilt").

    In the warehouse, incremental per event day: `customer_first_seen_days` keeps the row count of
    every event day folded in. New days later than every folded day (the daily case) only add the
    customers not in the table yet (an INSERT of that day's new customers); new days before a
    folded one fold in with MIN(stored, their first days) (staging build + swap); a day whose row
    count changed or that disappeared (re-ingested, deleted) rebuilds the table from raw_events,
    the only case that scans every event. The day list is written last, so a run cut short
    re-folds the same days next time (the INSERT skips customers already there, MIN is
    idempotent): a re-run changes nothing.
    """
    raw, key = source.raw_table, source.raw_key
    seen, days_table = source.first_seen_table, source.first_seen_days_table
    counts = {str(d)[:10]: int(n) for d, n in warehouse.fetch_all(
        f"SELECT event_date, COUNT(*) FROM {raw} GROUP BY event_date")}
    stored: dict[str, int] = {}
    if warehouse.table_exists(seen) and warehouse.table_exists(days_table):
        stored = {str(d)[:10]: int(n) for d, n in warehouse.fetch_all(
            f"SELECT event_date, event_rows FROM {days_table}")}
    if stored == counts:
        return "current"
    new = sorted(set(counts) - set(stored))
    days = ", ".join(_lit_date(dt.date.fromisoformat(d)) for d in new)
    if not stored or any(counts.get(d) != n for d, n in stored.items()):
        warehouse.replace_table(seen, f"SELECT {key}, MIN(event_date) AS first_day FROM {raw} GROUP BY {key}")
        warehouse.replace_table(days_table, f"SELECT event_date, COUNT(*) AS event_rows "
                                            f"FROM {raw} GROUP BY event_date")
        return "rebuilt"
    if new[0] > max(stored):
        # Later than every folded day: a customer already in the table keeps its earlier day.
        warehouse.execute(
            f"INSERT INTO {seen} ({key}, first_day) SELECT {key}, MIN(event_date) "
            f"FROM {raw} WHERE event_date IN ({days}) AND {key} NOT IN "
            f"(SELECT {key} FROM {seen}) GROUP BY {key}")
    else:
        warehouse.replace_table(seen, (
            f"SELECT {key}, MIN(first_day) AS first_day FROM ("
            f"SELECT {key}, first_day FROM {seen} UNION ALL "
            f"SELECT {key}, MIN(event_date) AS first_day FROM {raw} "
            f"WHERE event_date IN ({days}) GROUP BY {key}) u GROUP BY {key}"))
    rows = " UNION ALL ".join(f"SELECT {_lit_date(dt.date.fromisoformat(d))} AS event_date, "
                              f"CAST({counts[d]} AS BIGINT) AS event_rows" for d in new)
    warehouse.replace_where(days_table, f"event_date IN ({days})", rows)
    return f"added {len(new)} day(s)"


def _out_of_range(t: Target, table: str = "") -> str:
    """The SQL condition "this feature's value is outside the target's bounds" (`table.` prefixed)."""
    col = f"{table}{quote_ident(t.spec.name)}"
    out = []
    if t.upper is not None:
        out.append(f"{col} > {sql_literal(float(t.upper))}")
    if t.lower is not None:
        out.append(f"{col} < {sql_literal(float(t.lower))}")
    return " OR ".join(out) or "1 = 0"


def out_of_range_customers(warehouse: Warehouse, day: dt.date, targets: Sequence[Target],
                           source: AttributionSource = CUSTOMER) -> dict[str, int]:
    """feature -> how many customers are out of range on `day` (tail targets): the independent
    units of a tail (a customer's rows are out of range together). One small statement over the
    day's customer_features rows."""
    tails = [t for t in targets if t.mode == "tail"]
    if not tails or not warehouse.table_exists(source.features_table):
        return {}
    cols = ", ".join(f"SUM(CASE WHEN {_out_of_range(t)} THEN 1 ELSE 0 END)" for t in tails)
    row = warehouse.fetch_one(f"SELECT {cols} FROM {source.features_table} WHERE snapshot_date = {_lit_date(day)}")
    return {t.spec.name: int(v or 0) for t, v in zip(tails, row or ())}


def current_sql(dialect: Dialect, day: dt.date, targets: Sequence[Target],
                source: AttributionSource = CUSTOMER) -> Grouped:
    """Per segment, for each target: `rows` and what its mode reads (tail: `mass` and the
    out-of-range mass `out_of_range` with its squares; missing: `missing`; shift: `mass` and its
    `squares`) inside its window as of `day`; `events` counts every event row of the widest
    window, `first_day` is the segment's first event day."""
    _features(targets)
    widest = max(t.spec.window_days for t in targets)
    lo, hi = _lit_date(day - dt.timedelta(days=widest - 1)), _lit_date(day)
    cols = _Inner(measures=[Measure(EVENTS, None, "COUNT(*)"), Measure(FIRST_DAY, None, "MIN(e_day)", "MIN")])
    rates = [t for t in targets if t.mode == "shift"]
    for t in targets:
        name = t.spec.name
        value, cond = _value(t.spec)
        in_window = f"e.event_date >= {_lit_date(day - dt.timedelta(days=t.spec.window_days - 1))}"
        inside = f"{cond} AND {in_window}"
        oor = _out_of_range(t, "cf.")
        # Only the columns the target's mode reads (contributors): tail rows, mass, out_of_range
        # (+ squares); missing rows, missing; shift rows, mass (+ squares). Fewer aggregates.
        cols.add(name, ROWS, f"CASE WHEN {inside} THEN 1 ELSE 0 END")
        if t.mode in ("tail", "shift"):
            cols.add(name, MASS, f"CASE WHEN {inside} THEN COALESCE({value}, 0) ELSE 0 END",
                     SQUARES if t.mode == "shift" else None)
        if t.mode == "missing":
            cols.add(name, MISSING, f"CASE WHEN {_unless_false(inside)} AND {value} IS NULL THEN 1 ELSE 0 END")
        if t.mode == "tail":
            cols.add(name, OUT, f"CASE WHEN {inside} AND ({oor}) THEN COALESCE({value}, 0) ELSE 0 END", OUT_SQUARES)
        if t in rates:
            # A value feature's rate is per input row; a count's per event row (its mass is its rows).
            carrying = inside if t.spec.value_sql else in_window
            if not t.spec.value_sql:
                cols.add(name, CARRY, f"CASE WHEN {carrying} THEN 1 ELSE 0 END")
            cols.add(name, SAME_DAY, f"CASE WHEN {carrying} THEN COALESCE(dr.{_rate_alias(t)}, 0) ELSE 0 END")
    day_rates = ""
    if rates:  # each event day's mean value per carrying row of each such feature: a small table, joined by day
        means = ", ".join(
            f"SUM(CASE WHEN {_value(t.spec)[1]} THEN COALESCE({_value(t.spec)[0]}, 0) ELSE 0 END) / "
            f"NULLIF(SUM(CASE WHEN {_value(t.spec)[1] if t.spec.value_sql else '1 = 1'} THEN 1 ELSE 0 END), 0) "
            f"AS {_rate_alias(t)}" for t in rates)
        day_rates = (f"LEFT JOIN (SELECT e.event_date AS dr__day, {means} FROM {source.raw_table} e "
                     f"WHERE e.event_date BETWEEN {lo} AND {hi} GROUP BY e.event_date) dr ON dr.dr__day = e.event_date ")
    inner = (f"SELECT {_segments(dialect, 'e.event_date', source)}, e.event_date AS e_day, {', '.join(cols.columns)} "
             f"FROM {source.raw_table} e JOIN {_first_days(source)} "
             f"LEFT JOIN {source.features_table} cf ON cf.{source.features_key} = e.{source.raw_key} "
             f"AND cf.snapshot_date = {hi} {day_rates}"
             f"WHERE e.event_date BETWEEN {lo} AND {hi}")
    return _grouped(inner, cols.measures, source.all_dimensions)


def _rate_alias(t: Target) -> str:
    """The day-rates column of a target (a double underscore: no dimension can take the name)."""
    return f"rate__{t.spec.name}"


def baseline_sql(dialect: Dialect, start: dt.date, end: dt.date, targets: Sequence[Target],
                 source: AttributionSource = CUSTOMER) -> Grouped:
    """Per segment, for each target: `rows`, `mass` (with `squares`) and `missing` over the
    baseline's event days [start, end]; `events` counts every event row."""
    _features(targets)
    lo, hi = _lit_date(start), _lit_date(end)
    cols = _Inner(measures=[Measure(EVENTS, None, "COUNT(*)")])
    for t in targets:
        value, cond = _value(t.spec)
        cols.add(t.spec.name, ROWS, f"CASE WHEN {cond} THEN 1 ELSE 0 END")
        cols.add(t.spec.name, MASS, f"CASE WHEN {cond} THEN COALESCE({value}, 0) ELSE 0 END", SQUARES)
        cols.add(t.spec.name, MISSING, f"CASE WHEN {_unless_false(cond)} AND {value} IS NULL THEN 1 ELSE 0 END")
    inner = (f"SELECT {_segments(dialect, 'e.event_date', source)}, {', '.join(cols.columns)} "
             f"FROM {source.raw_table} e JOIN {_first_days(source)} "
             f"WHERE e.event_date BETWEEN {lo} AND {hi}")
    return _grouped(inner, cols.measures, source.all_dimensions)


@dataclass
class Segment:
    """One segment's row of a grouped statement, by name: its own measures and each feature's."""

    events: float = 0.0
    first_day: str | None = None
    features: dict[str, dict[str, float]] = field(default_factory=dict)

    def of(self, feature: str) -> dict[str, float]:
        """The segment's measures for `feature` (0 for one the statement did not read) and `events`."""
        return {EVENTS: self.events, **self.features.get(feature, {})}


def _rows(warehouse: Warehouse, query: Grouped) -> dict[tuple[str, str], Segment]:
    """(dimension, value) -> that segment's measures, read by the names the statement gave them."""
    out = {}
    for r in warehouse.fetch_df(query.sql).to_dict("records"):
        r = {k.lower(): v for k, v in r.items()}
        dim = next(d for d in query.dimensions if int(r[f"g_{d}"]) == 0)
        value = r[dim]
        if dim == "first_seen_week" and value is not None:
            value = str(_EPOCH_MONDAY + dt.timedelta(weeks=int(value)))
        seg = Segment()
        for m in query.measures:
            v = r[m.alias]
            if m.name == FIRST_DAY:
                seg.first_day = None if v is None else str(v)[:10]
            elif m.feature is None:
                seg.events = float(v or 0)
            else:
                seg.features.setdefault(m.feature, {})[m.name] = float(v or 0)
        out[(dim, "" if value is None else str(value))] = seg
    return out


def view(rows: dict[tuple[str, str], Segment], feature: str) -> dict[tuple[str, str], dict[str, float]]:
    """One feature's side of grouped rows: segment -> its named measures and `events`."""
    return {key: seg.of(feature) for key, seg in rows.items()}


# Bumped when the stored segments' shape changes: a row stored in another shape is recomputed.
_CACHE_FORMAT = 2


def _definition(spec: FeatureSpec) -> str:
    """What the baseline side of a feature depends on besides the window: its value and rows (and
    the shape the side is stored in)."""
    return json.dumps({"agg": spec.agg, "value": spec.value_sql, "filter": spec.filter_sql, "format": _CACHE_FORMAT})


def baseline_rows(warehouse: Warehouse, start: dt.date, end: dt.date, targets: Sequence[Target],
                  source: AttributionSource = CUSTOMER) -> list[dict[tuple[str, str], dict]]:
    """The baseline side of each target (segment -> events, rows, mass, squares, missing),
    computed once per baseline window and kept in `attribution_baseline` (one row per feature and
    window, the segments as JSON): every day judged against the same baseline reuses it. A cached
    row is used only while the window's raw_events row count and the feature's definition are
    unchanged; the others are computed in one statement and stored (replace of their keys: idempotent)."""
    cache = source.baseline_table
    events = int(warehouse.fetch_one(f"SELECT COUNT(*) FROM {source.raw_table} WHERE event_date BETWEEN "
                                     f"{_lit_date(start)} AND {_lit_date(end)}")[0])
    cached: dict[str, dict] = {}
    if warehouse.table_exists(cache):
        names = ", ".join(sql_literal(t.spec.name) for t in targets)
        for feature, definition, n, segments in warehouse.fetch_all(
                f"SELECT feature, definition, events, segments FROM {cache} "
                f"WHERE baseline_start = {_lit_date(start)} AND baseline_end = {_lit_date(end)} "
                f"AND feature IN ({names})"):
            cached[feature] = {"definition": definition, "events": int(n), "segments": segments}
    out: list[dict | None] = []
    missing = []
    for t in targets:
        c = cached.get(t.spec.name)
        if c and c["definition"] == _definition(t.spec) and c["events"] == events:
            out.append({(d, v): row for d, v, row in json.loads(c["segments"])})
        else:
            out.append(None)
            missing.append(t)
    if missing:
        rows = _rows(warehouse, baseline_sql(warehouse.dialect, start, end, missing, source))
        by_target = {t.spec.name: view(rows, t.spec.name) for t in missing}
        selects, params = [], []
        for t in missing:
            selects.append("SELECT CAST(? AS DATE) AS baseline_start, CAST(? AS DATE) AS baseline_end, "
                           "CAST(? AS VARCHAR) AS feature, CAST(? AS VARCHAR) AS definition, "
                           "CAST(? AS BIGINT) AS events, CAST(? AS VARCHAR) AS segments")
            params += [str(start), str(end), t.spec.name, _definition(t.spec), events,
                       json.dumps([[d, v, row] for (d, v), row in sorted(by_target[t.spec.name].items())])]
        names = ", ".join(sql_literal(t.spec.name) for t in missing)
        warehouse.replace_where(
            cache, f"baseline_start = {_lit_date(start)} AND baseline_end = {_lit_date(end)} "
                   f"AND feature IN ({names})",
            " UNION ALL ".join(selects), params=params)
        out = [o if o is not None else by_target[t.spec.name] for o, t in zip(out, targets)]
    return out


def check_columns(warehouse: Warehouse, source: AttributionSource) -> None:
    """A clear error when the raw table lacks a column attribution reads (a dimension the source
    declares, its key, or a lineage column) rather than the backend's binder message."""
    have = {c.lower() for c, _ in warehouse.columns(source.raw_table)}
    need = [source.raw_key, "event_date", "source_file", *source.dimensions]
    lost = [c for c in need if c not in have]
    if lost:
        raise ValueError(f"attribution of entity {source.entity!r}: {source.raw_table} has no column(s) "
                         f"{', '.join(lost)} (its key, lineage columns and declared dimensions)")


@dataclass
class Attribution:
    by_feature: dict[str, list[dict]]
    file_days: dict[str, str]  # landing file of the widest window -> its first event day
    # feature -> the landing files carrying most of the change (tail / missing modes), even when
    # each carries only its size's share (a burst over every file of the window): the files to look at.
    carriers: dict[str, list[dict]] = field(default_factory=dict)
    # feature -> segments holding >= COVERAGE_MAX of its rows / mass (`event_type=purchase` of a
    # purchase-only feature): they cannot explain a change and never rank.
    covering: dict[str, list[str]] = field(default_factory=dict)


def attribute(
    warehouse: Warehouse,
    day: dt.date,
    targets: Sequence[Target],
    baseline_window: tuple[dt.date, dt.date],
    source: AttributionSource = CUSTOMER,
) -> Attribution:
    """Each feature's contributors (dimension, value, share, expected, delta, low, lift), best
    first; at most `TOP_PER_FEATURE` per feature, only those concentrated beyond their size and
    their noise band (module rule). Empty without events."""
    targets = list(targets)
    if not targets or not warehouse.table_exists(source.raw_table):
        return Attribution({}, {})
    check_columns(warehouse, source)
    refresh_first_seen(warehouse, source)
    cur = _rows(warehouse, current_sql(warehouse.dialect, day, targets, source))
    start, end = baseline_window
    bases = baseline_rows(warehouse, start, end, targets, source)
    base_days = max((end - start).days + 1, 1)
    files = {v: seg.first_day for (d, v), seg in cur.items() if d == "source_file" and seg.first_day is not None}
    customers = out_of_range_customers(warehouse, day, targets, source)
    found, covering, carried = {}, {}, {}
    for t, base in zip(targets, bases):
        name = t.spec.name
        mine = view(cur, name)
        covering[name] = []
        found[name] = contributors(t, mine, base, base_days, covering[name], customers, source.all_dimensions)
        if t.mode != "shift":
            carried[name] = carriers(t, mine)
    return Attribution(found, files, carried, {k: v for k, v in covering.items() if v})


def carriers(t: Target, cur: dict, top: int = 3) -> list[dict]:
    """The landing files holding the largest share of the out-of-range mass (tail) or of the
    missing inputs (missing), with that share; `cur` is the target's side (`view`)."""
    key = OUT if t.mode == "tail" else MISSING
    files = {v: r.get(key, 0.0) for (d, v), r in cur.items() if d == "source_file"}
    total = sum(files.values())
    if total <= 0:
        return []
    ranked = sorted(files.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"source_file": f, "share": round(v / total, 4)} for f, v in ranked if v > 0]


def band_z(values: int) -> float:
    """The band's z for a dimension of `values` values: one-sided at FAMILY_ALPHA / values
    (Bonferroni), so the chance that any value of the dimension clears its band by noise alone
    is at most FAMILY_ALPHA (2 values: 1.96; 28 landing files of a 7-day window: 2.91)."""
    return float(norm.isf(FAMILY_ALPHA / max(int(values), 1)))


def wilson_low(share: float, n: float, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval of a share observed over `n` (effective) units:
    what the share is at least, given the sampling noise of that many units."""
    if n <= 0:
        return 0.0
    share = min(max(share, 0.0), 1.0)
    z2 = z * z
    centre = share + z2 / (2 * n)
    half = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z2 / n))


def _base(row: dict | None) -> dict[str, float]:
    """A baseline segment's measures (0 where the segment is absent from the baseline)."""
    row = row or {}
    return {k: row.get(k, 0.0) for k in (EVENTS, *BASE_MEASURES)}


def contributors(t: Target, cur: dict, base: dict, base_days: int,
                 covering: list[str] | None = None, units_cap: dict[str, int] | None = None,
                 dimensions: Sequence[str] = DIMENSIONS) -> list[dict]:
    """The shares of one target from its side of the grouped rows (pure; see the module
    docstring): `cur` and `base` map each segment to its named measures (`view`; the baseline's:
    events, rows, mass, squares, missing); `dimensions` the source's (`AttributionSource.all_dimensions`)."""
    k = t.spec.window_days
    b = {key: _base(row) for key, row in base.items()}
    # The baseline's totals over the dimension every row is in once (a source may declare none).
    b_rows = sum(v[ROWS] for (d, _), v in b.items() if d == TOTALS)
    b_mass = sum(v[MASS] for (d, _), v in b.items() if d == TOTALS)
    b_all = sum(v[EVENTS] for (d, _), v in b.items() if d == TOTALS)
    b_miss = sum(v[MISSING] for (d, _), v in b.items() if d == TOTALS)
    out = []
    for dim in dimensions:
        keys = sorted({v for d, v in cur if d == dim} | ({v for d, v in b if d == dim} if dim != "source_file" else set()))
        deltas, sizes, noise = {}, {}, 0.0
        same_day: dict[str, tuple[float, float]] = {}  # age segment -> (its mass beyond its days' mean, noise)
        units = 0.0  # tail: sum of squared weights; missing: missing inputs (each a unit)
        for value in keys:
            c = cur.get((dim, value), {})
            bs = b.get((dim, value), _base(None))
            rows, mass = c.get(ROWS, 0.0), c.get(MASS, 0.0)
            if t.mode == "tail":
                # A file's size is its rows (files are slices of time: rows measure their normal
                # content, while their mass holds the contamination being traced); any other
                # segment's is its mass now: segments differ in mass per row (purchases of an
                # amount feature; long-tenured customers reach the top of a 30-day sum first),
                # and carrying the mass they hold anyway is not special.
                deltas[value], sizes[value] = c.get(OUT, 0.0), (rows if dim == "source_file" else mass)
                units += c.get(OUT_SQUARES, 0.0)
            elif t.mode == "missing":
                if dim == "source_file":
                    rate = b_miss / b_rows if b_rows else 0.0
                else:
                    rate = bs[MISSING] / bs[ROWS] if bs[ROWS] else 0.0
                deltas[value], sizes[value] = c.get(MISSING, 0.0) - rows * rate, rows
                units += c.get(MISSING, 0.0)
            elif dim == "source_file":
                # A file's size: the rows that can carry the feature's mass. For a value feature
                # its input rows (a file holding more purchases than average is not special for
                # carrying more of a purchase-amount change); for a count, whose mass is its rows,
                # every row (else a change in the rows themselves could never stand out).
                carry = rows if t.spec.value_sql else c.get(EVENTS, 0.0)
                base_carry = b_rows if t.spec.value_sql else b_all
                per_row = b_mass / base_carry if base_carry else 0.0
                deltas[value], sizes[value] = mass - carry * per_row, carry
                noise += c.get(SQUARES, 0.0)
            elif dim in AGE_DIMENSIONS:
                # Like for like (module docstring): the mass the segment's rows now would carry at
                # its own baseline value per row, not its baseline mass (early in a history every
                # customer was "new" in the baseline window; their ageing is no change). A count's
                # mass is its rows: its rate is per event row of the window (its `carry`, every
                # event of the segment in the baseline), so more events of an ageing cohort are
                # no change, more of them passing the filter are.
                if t.spec.value_sql:
                    carry, base_carry, overall = rows, bs[ROWS], (b_mass / b_rows if b_rows else 0.0)
                else:
                    carry, base_carry, overall = c.get(CARRY, c.get(EVENTS, 0.0)), bs[EVENTS], (b_mass / b_all if b_all else 0.0)
                expected = carry * _rate(bs[MASS], base_carry, overall)
                deltas[value], sizes[value] = mass - expected, expected
                noise += c.get(SQUARES, 0.0)
                if SAME_DAY in c:  # and against the other rows of its own days (a change all rows share is none of its own)
                    same_day[value] = (mass - c[SAME_DAY], math.sqrt(c.get(SQUARES, 0.0)))
            else:
                deltas[value] = mass / k - bs[MASS] / base_days
                sizes[value] = bs[MASS] if b_mass else mass
                noise += c.get(SQUARES, 0.0) / (k * k) + bs[SQUARES] / (base_days * base_days)
        if t.mode == "shift":
            weight = {v: abs(d) for v, d in deltas.items()}
        else:
            weight = {v: max(d, 0.0) for v, d in deltas.items()}
        total, size = sum(weight.values()), sum(sizes.values())
        if total <= 0 or size <= 0:
            continue
        # Effective number of independent units behind the shares (module docstring).
        if t.mode == "tail":
            n_eff = (sum(c.get(OUT, 0.0) for (d, _), c in cur.items() if d == dim) ** 2 / units) if units else 0.0
            customers = (units_cap or {}).get(t.spec.name)
            if customers:  # a customer's rows are out of range together: at most one unit each
                n_eff = min(n_eff, customers)
        elif t.mode == "missing":
            n_eff = units
        else:
            n_eff = total * total / noise if noise > 0 else float("inf")
        z = band_z(len(keys))
        for value in keys:
            share, expected = weight[value] / total, sizes[value] / size
            if expected >= COVERAGE_MAX:
                if covering is not None:
                    covering.append(label({"dimension": dim, "value": value}))
                continue
            low = wilson_low(share, n_eff, z) if math.isfinite(n_eff) else share
            if value in same_day and not _own_change(deltas[value], *same_day[value], z):
                continue
            if share - expected > MARGIN and low > expected:
                out.append({"dimension": dim, "value": value, "share": round(share, 4),
                            "expected": round(expected, 4), "delta": round(deltas[value], 4),
                            "low": round(low, 4),
                            "lift": round(low / expected, 2) if expected > 0 else None})
    return rank(out)


def _own_change(delta: float, beyond_days: float, noise: float, z: float) -> bool:
    """An age segment's change is its own when its mass also departs from the mean of its own days
    (`beyond_days`) beyond `z` times the noise of its sum, in the direction of its change: a
    uniform change, gradual or not, moves every row of a day alike and leaves nothing beyond it."""
    return abs(beyond_days) > z * noise and (beyond_days > 0) == (delta > 0)


def _rate(mass: float, rows: float, overall: float) -> float:
    """A segment's baseline mass per row, shrunk towards the `overall` rate by `PRIOR_ROWS` rows:
    a cohort the baseline barely holds (returning customers early in a history) takes the overall
    rate instead of the noise of its few rows."""
    return (mass + PRIOR_ROWS * overall) / (rows + PRIOR_ROWS)


def rank(found: list[dict]) -> list[dict]:
    """Best first: a landing file carrying most of the change (>= FILE_CARRIES of its dimension)
    leads (one file explains the other dimensions' concentration: its rows are one event type and
    some customers); then by share beyond size (`share - expected`), which stays bounded where
    lift does not (a segment the baseline lacks, expected 0: mobile revenue after a channel switch)."""
    def key(c: dict):
        carries = c["dimension"] == "source_file" and c["share"] >= FILE_CARRIES
        return (not carries, -(c["share"] - c["expected"]), c["dimension"], c["value"])
    return sorted(found, key=key)[:TOP_PER_FEATURE]


def headline(feature: str, mode: str, contributors: Sequence[dict], files: Sequence[dict] = ()) -> str:
    """One line for a person: `max_amount_7d: 96% of out-of-range values from events_2024-03-22.csv`."""
    what = {"tail": "of out-of-range values", "missing": "of the missing inputs",
            "shift": "of the change"}[mode]
    parts = [f"{c['share']:.0%} {what} from {label(c)} (its size {c['expected']:.0%})" for c in contributors[:2]]
    if not parts:
        parts = ["no segment stands out (the change is spread like the data)"]
    named = {c["value"] for c in contributors[:2] if c["dimension"] == "source_file"}
    rest = [f for f in files if f["source_file"] not in named]
    if rest:
        parts.append("carried by " + ", ".join(f"{f['source_file']} ({f['share']:.0%})" for f in rest))
    return f"{feature}: " + "; ".join(parts)


def label(c: dict) -> str:
    """`events_2024-03-22.csv` for a file, `channel=mobile` for the other dimensions."""
    return c["value"] if c["dimension"] == "source_file" else f"{c['dimension']}={c['value']}"
