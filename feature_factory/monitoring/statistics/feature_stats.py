"""Per feature x day statistics of `customer_features` (or of another entity's feature table: the
`subject`, subject.py), as one SQL statement in the warehouse.

The wide table is unpivoted with a CROSS JOIN against the list of feature names (one scan of the
days asked for; `snapshot_date` is filtered first, so the cost does not depend on how many days are
stored), then aggregated per (feature, day): counts, null and zero rates, moments, min/max, exact
quantiles (`Dialect.quantiles`), distinct count, histogram counts over the baseline's frozen bin
edges (CASE bucketing, bin i = (edge[i-1], edge[i]], open at both ends) and the share outside the
baseline's [p01, p99]. A nearest-rank quantile grid (`grid_size` + 1 order statistics, see
metrics.py) is taken with one sorted-list aggregate where the backend has one
(`Dialect.quantile_grid`), else with ROW_NUMBER over the same rows; it is what KS and
Wasserstein use.

Sketch mode (`sketch_rows`, off by default; SQL in sketch.py): the grid and the p01..p99 quantiles
are taken from a deterministic uniform row sample of about `sketch_rows` rows per day (a hash of
customer and day below `sketch_rows / rows of the day`; a fixed-size uniform sample is a mergeable
sketch), the distinct count from HyperLogLog; counts, zeros, min/max, moments, histograms and tails
stay exact over all rows, taken column by column on the wide rows in one scan (no unpivot of the
day's rows; only the sample is unpivoted). By the Dvoretzky-Kiefer-Wolfowitz inequality the
sample's CDF is within eps = sqrt(ln(2 / SKETCH_ALPHA) / (2 k)) of the day's CDF (k sampled
values) with probability 1 - SKETCH_ALPHA; eps is stored per row (`grid_rank_error`, 0 when every
row was used) and widens the KS bound by eps_current + eps_baseline and the Wasserstein bound by
eps x range on each side (metrics.py). PSI, Jensen-Shannon and the tail shares come from exact
counts, so they carry no sampling error (docs/drift-sketch.md).

Features are read through the patch layer, so drift after a patch is measured on patched values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feature_factory import tables
from feature_factory.catalog import FeatureSpec
from feature_factory.dates import as_date
from feature_factory.features import patch_layer
from feature_factory.monitoring.inputs import Inputs, input_specs, inputs_cte
from feature_factory.monitoring.statistics.sketch import listed_grid, sketch_ctes
from feature_factory.monitoring.subject import CUSTOMER, Subject
from feature_factory.monitoring.statistics.summary import QUANTILE_COLUMNS
from feature_factory.warehouse.dialect import Dialect
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse

DEFAULT_GRID_SIZE = 100
DEFAULT_DAYS_PER_STATEMENT = 25  # see write_feature_stats
SKETCH_ALPHA = 0.001  # the DKW bound on a sketch's CDF holds with probability 1 - SKETCH_ALPHA
NUMERIC_TYPES = {"BIGINT", "DOUBLE", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "FLOAT", "REAL"}


class MonitoringError(RuntimeError):
    """Monitoring cannot run; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Binning:
    """What the stats need from the current baseline: frozen edges and the [p01, p99] range."""

    version: int | None = None
    edges: Mapping[str, Sequence[float]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)


def days_between(column: str, lo: str, hi: str, excluded: Sequence[str] = ()) -> str:
    """`column` in [lo, hi] (SQL date literals), except the `excluded` days (SQL date literals)."""
    skip = f" AND {column} NOT IN ({', '.join(excluded)})" if excluded else ""
    return f"{column} BETWEEN {lo} AND {hi}{skip}"


def resolve_features(features: Sequence[FeatureSpec]) -> list[FeatureSpec]:
    """The computed ones of `features` (the run's catalog's, handed in by the caller)."""
    return [f for f in features if f.computed]


def feature_columns(warehouse: Warehouse, subject: Subject = CUSTOMER) -> dict[str, str]:
    """customer_features (the subject's feature table) column -> portable type; a clear error when
    the table does not exist."""
    cols = dict(warehouse.columns(subject.features))
    if not cols:
        raise MonitoringError(
            f"table {subject.features} does not exist in {warehouse.describe()}: "
            f"materialize {subject.features} first"
        )
    return cols


def is_numeric(column_type: str) -> bool:
    t = column_type.upper()
    return t in NUMERIC_TYPES or t.startswith(("DECIMAL", "NUMBER"))


def read_expressions(warehouse: Warehouse, features: Sequence[FeatureSpec],
                     subject: Subject = CUSTOMER) -> dict[str, str]:
    """Feature -> SQL expression through the patch layer, for features present as numeric columns
    (a column that vanished or turned into text is a SCHEMA_CHANGE for drift, not a SQL error)."""
    present = feature_columns(warehouse, subject)
    specs = [f for f in features if f.name in present and is_numeric(present[f.name])]
    exprs = patch_layer.patched_expressions(warehouse, specs, table=subject.patches)
    return {f.name: exprs.get(f.name, quote_ident(f.name)) for f in specs}


def stats_select_sql(
    dialect: Dialect,
    expressions: Mapping[str, str],
    start: dt.date | str,
    end: dt.date | str,
    *,
    by_day: bool = True,
    inputs: Inputs | None = None,
    binning: Binning | None = None,
    grid_size: int = DEFAULT_GRID_SIZE,
    with_grid: bool = True,
    computed_at: dt.datetime | None = None,
    sketch_rows: int | None = None,
    moments: bool = True,
    pooled_row: bool = False,
    subject: Subject = CUSTOMER,
    exclude_days: Sequence[dt.date] = (),
) -> str:
    """One SELECT over `customer_features` (the subject's feature table) rows with snapshot_date in [start, end]
    (without `exclude_days`: a baseline capture leaves out days with contamination findings).

    `by_day=False` pools the window into one row per feature (baseline capture). `inputs` adds
    the raw input null counts of those days (inputs.py). `sketch_rows` switches the grid,
    quantiles and distinct count to the sketch and the rest to one scan of the wide rows
    (module docstring); with it, `moments=False` and `pooled_row=True` split a baseline capture's
    work between its two passes, and `with_grid=False` leaves p01..p99 NULL too (sketch.py). `dialect`
    is the engine's (`warehouse.dialect`): the statement is built without a connection."""
    if not expressions:
        raise MonitoringError("no feature columns to compute statistics for")
    if grid_size < 2:
        raise ValueError(f"grid_size={grid_size} must be at least 2")
    if sketch_rows is None and (not moments or pooled_row):
        raise ValueError("moments=False and pooled_row=True are sketch-mode options: set sketch_rows")
    if sketch_rows is not None and sketch_rows < 1000:
        raise ValueError(f"sketch_rows={sketch_rows} must be at least 1000 (or None for exact statistics): "
                         "fewer sampled rows make the rank error bound too wide to judge drift")
    names = [quote_ident(n) for n in expressions]
    lo, hi = sql_literal(as_date(start)), sql_literal(as_date(end))
    excluded = tuple(sql_literal(as_date(d)) for d in sorted(set(exclude_days)))
    keys = ["feature", "stats_date"] if by_day else ["feature"]
    key_list = ", ".join(keys)
    on = " AND ".join(f"a.{k} = g.{k}" for k in keys)
    binning = binning or Binning()
    nbins = max((len(binning.edges.get(n, ())) + 1 for n in names), default=1)

    sketch = sketch_rows is not None
    grid_agg = dialect.quantile_grid("v", grid_size) if with_grid else None
    if sketch and not listed_grid(dialect, grid_size):
        grid_agg = None  # the sketch's sample is ranked (a `long` CTE), as the portable path does
    if sketch:
        ctes = sketch_ctes(dialect, {n: expressions[n] for n in names}, lo, hi, by_day=by_day,
                           edges={n: list(binning.edges[n]) for n in names if n in binning.edges},
                           ranges={n: binning.ranges[n] for n in names if n in binning.ranges},
                           nbins=nbins, grid_size=grid_size, with_grid=with_grid, sketch_rows=sketch_rows,
                           moments=moments, pooled_row=pooled_row, table=subject.features, key=subject.key,
                           excluded=excluded)
    else:
        ctes = _exact_ctes(dialect, expressions, names, lo, hi, key_list, binning, nbins, grid_agg, subject.features,
                           grid_size, ranked_grid=with_grid and not grid_agg, excluded=excluded)
    if grid_agg:
        grid_json, from_clause = "a.grid_json", "agg a"
    elif with_grid:
        ks = ", ".join(f"({k})" for k in range(grid_size + 1))
        pivot = ", ".join(f"MAX(CASE WHEN k = {k} THEN v END) AS q{k}" for k in range(grid_size + 1))
        ctes += [
            f"ranked AS (SELECT {key_list}, v, ROW_NUMBER() OVER (PARTITION BY {key_list} ORDER BY v) "
            f"AS rn FROM long WHERE v IS NOT NULL{' AND in_sample = 1' if sketch else ''})",
            f"targets AS (SELECT {', '.join('a.' + k for k in keys)}, gk.k, CAST(CASE WHEN gk.k = 0 "
            f"THEN 1 ELSE CEIL(CAST(gk.k AS DOUBLE) * a.sample_count / {grid_size}) END AS BIGINT) AS rn "
            f"FROM agg a CROSS JOIN (VALUES {ks}) AS gk(k) WHERE a.sample_count > 0)",
            f"picked AS (SELECT {', '.join('t.' + k for k in keys)}, t.k, r.v FROM targets t JOIN ranked r "
            f"ON {' AND '.join(f't.{k} = r.{k}' for k in keys)} AND t.rn = r.rn)",
            f"grid AS (SELECT {key_list}, {pivot} FROM picked GROUP BY {key_list})",
        ]
        grid_json = ("CASE WHEN a.sample_count > 0 THEN " + _json_list(
            [f"g.q{k}" for k in range(grid_size + 1)]) + " END")
        from_clause = f"agg a LEFT JOIN grid g ON {on}"
    else:
        grid_json, from_clause = "CAST(NULL AS VARCHAR)", "agg a"
    inputs = {n: v for n, v in (inputs or {}).items() if n in names}
    if inputs:
        ctes.append(inputs_cte(inputs, lo, hi, by_day, excluded))
        from_clause += f" LEFT JOIN inp i ON {' AND '.join(f'a.{k} = i.{k}' for k in keys)}"
    stamp = computed_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    version = sql_literal(binning.version)
    select = [
        "a.feature",
        *(["a.stats_date"] if by_day else []),
        "CAST(a.row_count AS BIGINT) AS row_count",
        "CAST(a.value_count AS BIGINT) AS value_count",
        "CAST(a.row_count - a.value_count AS BIGINT) AS null_count",
        "CASE WHEN a.row_count > 0 THEN 1.0 - CAST(a.value_count AS DOUBLE) / a.row_count END AS null_rate",
        "CASE WHEN a.value_count > 0 THEN CAST(a.zero_count AS DOUBLE) / a.value_count END AS zero_rate",
        "CAST(a.mean AS DOUBLE) AS mean",
        "CAST(a.stddev AS DOUBLE) AS stddev",
        "CAST(a.kurtosis AS DOUBLE) AS kurtosis",
        "CAST(a.min_value AS DOUBLE) AS min_value",
        "CAST(a.max_value AS DOUBLE) AS max_value",
        *(f"a.{name}" for name in QUANTILE_COLUMNS),
        "CAST(a.distinct_count AS BIGINT) AS distinct_count",
        f"CAST({'a.out_of_range_count' if binning.ranges else 'NULL'} AS BIGINT) AS out_of_range_count",
        f"CAST({'a.above_range_count' if binning.ranges else 'NULL'} AS BIGINT) AS above_range_count",
        f"CAST({_hist_json(names, binning)} AS VARCHAR) AS hist_counts",
        f"CAST({grid_json} AS VARCHAR) AS quantile_grid",
        f"CAST({grid_size if with_grid else 'NULL'} AS BIGINT) AS grid_size",
        # DKW rank error of the sketch's grid and quantiles (0: every value was used).
        f"CAST(CASE WHEN a.sample_count = 0 AND a.value_count > 0 THEN NULL WHEN a.sample_count < a.value_count "
        f"THEN SQRT(LN({2 / SKETCH_ALPHA!r}) / (2.0 * a.sample_count)) ELSE 0.0 END AS DOUBLE) AS grid_rank_error",
        f"CAST({'i.input_rows' if inputs else 'NULL'} AS BIGINT) AS input_rows",
        f"CAST({'i.input_nulls' if inputs else 'NULL'} AS BIGINT) AS input_nulls",
        f"CAST({version} AS BIGINT) AS baseline_version",
        f"CAST({sql_literal(stamp)} AS TIMESTAMP) AS computed_at",
    ]
    return f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM {from_clause}"


def write_feature_stats(
    warehouse: Warehouse,
    start: dt.date | str,
    end: dt.date | str,
    features: Sequence[FeatureSpec],
    binning: Binning | None = None,
    grid_size: int = DEFAULT_GRID_SIZE,
    days_per_statement: int = DEFAULT_DAYS_PER_STATEMENT,
    sketch_rows: int | None = None,
    older_sketch_rows: int | None = None,
    subject: Subject = CUSTOMER,
) -> int:
    """Replace `feature_stats` (the subject's stats table) rows for stats_date in [start, end]; returns rows written.

    A long range (a backfill) is written `days_per_statement` days at a time: the order statistics
    hold every value of the statement's days in sorted lists, so one statement over 100 days of
    108k customers would hold ~230M values (several GB). 25 days (4 statements for 100 days) held
    2.2 GB peak RSS there and took 41 CPU-s where 7 days took 56 CPU-s (each statement scans and
    groups its days once per feature).
    `older_sketch_rows`: the days before `end` take the sketch with that many rows (a backfill's
    history, where exactness is not asked for: ~3x less CPU at 100k rows a day); `end` itself,
    the day a daily run alerts on, keeps `sketch_rows`."""
    if days_per_statement < 1:
        raise ValueError(f"days_per_statement={days_per_statement} must be at least 1")
    specs = resolve_features(features)
    first, last = as_date(start), as_date(end)
    # (first day, last day, sketch_rows) of each part of the range.
    parts = [(first, last - dt.timedelta(days=1), older_sketch_rows), (last, last, sketch_rows)] \
        if older_sketch_rows is not None and first < last else [(first, last, sketch_rows)]
    rows = 0
    with warehouse.held():
        exprs = read_expressions(warehouse, specs, subject)
        inputs = input_specs(warehouse, specs)  # features over raw_events only
        for day, until, sketch in parts:
            while day <= until:
                upto = min(until, day + dt.timedelta(days=days_per_statement - 1))
                sql = stats_select_sql(warehouse.dialect, exprs, day, upto, binning=binning, grid_size=grid_size,
                                       inputs=inputs, sketch_rows=sketch, subject=subject)
                rows += warehouse.replace_where(
                    subject.stats.name, "stats_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)", sql,
                    where_params=[str(day), str(upto)],
                )
                day = upto + dt.timedelta(days=1)
    return rows


def _exact_ctes(dialect: Dialect, expressions: Mapping[str, str], names: list[str], lo: str, hi: str,
                key_list: str, binning: Binning, nbins: int, grid_agg: str | None,
                table: str = tables.CUSTOMER_FEATURES.name, grid_size: int = DEFAULT_GRID_SIZE,
                ranked_grid: bool = False, excluded: Sequence[str] = ()) -> list[str]:
    """Every value aggregated per (feature[, day]) (module doc).

    Where the backend sorts a group's values into one list (`Dialect.sorted_values`, DuckDB), each
    feature is aggregated from its own column (a UNION ALL, one branch per feature: no unpivot of
    the wide rows through a CASE) and the quantiles, the grid and the distinct count all come from
    that one sort: gathering the values three times (quantile_cont, the grid's list, COUNT(DISTINCT))
    and the unpivot were ~70% of the statement. Elsewhere the wide rows are unpivoted into
    (feature, v) rows (`long`, which the portable ranked grid also reads: `ranked_grid`)."""
    hists = ", ".join(f"SUM(CASE WHEN b = {i} THEN 1 ELSE 0 END) AS h{i}" for i in range(nbins))
    streaming = ("COUNT(*) AS row_count, COUNT(v) AS value_count, COUNT(v) AS sample_count, "
                 "SUM(CASE WHEN v = 0 THEN 1 ELSE 0 END) AS zero_count, AVG(v) AS mean, "
                 "STDDEV_SAMP(v) AS stddev, KURTOSIS(v) AS kurtosis, MIN(v) AS min_value, MAX(v) AS max_value, "
                 "SUM(CASE WHEN oor > 0 THEN 1 ELSE 0 END) AS out_of_range_count, "
                 f"SUM(CASE WHEN oor = 2 THEN 1 ELSE 0 END) AS above_range_count, {hists}")
    sorted_values = None if ranked_grid else dialect.sorted_values("v")
    if sorted_values is None:
        src = ", ".join(f"{expressions[n]} AS {n}" for n in names)
        feats = ", ".join(f"({sql_literal(n)})" for n in names)
        value = "CASE fl.feature " + " ".join(f"WHEN {sql_literal(n)} THEN s.{n}" for n in names) + " END"
        quantiles = dialect.quantiles("v", list(QUANTILE_COLUMNS.values()))
        q_cols = ", ".join(f"CAST({q} AS DOUBLE) AS {name}" for q, name in zip(quantiles, QUANTILE_COLUMNS))
        return [
            f"src AS (SELECT snapshot_date AS stats_date, 0 AS in_sample, {src} FROM {table} "
            f"WHERE {days_between('snapshot_date', lo, hi, excluded)})",
            f"long AS (SELECT s.stats_date, s.in_sample, fl.feature, CAST({value} AS DOUBLE) AS v "
            f"FROM src s CROSS JOIN (VALUES {feats}) AS fl(feature))",
            f"binned AS (SELECT {key_list}, v, in_sample, {_bucket_sql(names, binning)} AS b, "
            f"{_out_of_range_sql(names, binning)} AS oor FROM long)",
            f"agg AS (SELECT {key_list}, {streaming}, {q_cols}, COUNT(DISTINCT v) AS distinct_count"
            f"{f', {grid_agg} AS grid_json' if grid_agg else ''} FROM binned GROUP BY {key_list})",
        ]
    d = dialect
    by_day = "stats_date" in key_list
    day, group = (", stats_date", " GROUP BY stats_date") if by_day else ("", "")
    branches = [
        f"SELECT {sql_literal(n)} AS feature{day}, {streaming}, {sorted_values} AS ff_sorted "
        f"FROM (SELECT stats_date, v, {_bucket_sql([n], binning, 'v', single=True)} AS b, "
        f"{_out_of_range_sql([n], binning, single=True)} AS oor FROM (SELECT snapshot_date AS stats_date, "
        f"CAST({expressions[n]} AS DOUBLE) AS v FROM {table} WHERE {days_between('snapshot_date', lo, hi, excluded)}) ff_v) ff_b"
        f"{group}" for n in names]
    kept = ("row_count, value_count, sample_count, zero_count, mean, stddev, kurtosis, min_value, max_value, "
            "out_of_range_count, above_range_count, " + ", ".join(f"h{i}" for i in range(nbins)))
    grid = f", {d.sorted_grid('ff_sorted', 'value_count', grid_size)} AS grid_json" if grid_agg else ""
    q_cols = ", ".join(f"CAST(ff_q[{i}] AS DOUBLE) AS {name}" for i, name in enumerate(QUANTILE_COLUMNS, start=1))
    return [
        f"agg_sorted AS ({' UNION ALL '.join(branches)})",
        f"agg_lists AS (SELECT {key_list}, {kept}, "
        f"{d.sorted_quantiles('ff_sorted', list(QUANTILE_COLUMNS.values()))} AS ff_q, "
        f"{d.sorted_distinct_count('ff_sorted')} AS distinct_count{grid} FROM agg_sorted)",
        f"agg AS (SELECT {key_list}, {kept}, {q_cols}, distinct_count{', grid_json' if grid_agg else ''} "
        "FROM agg_lists)",
    ]


def _bucket_sql(names: list[str], binning: Binning, v: str = "v", single: bool = False) -> str:
    """Bin index of `v` over each feature's frozen edges, dispatched on `feature`; `single`: the
    expression for `names[0]` alone (a branch that reads one feature)."""
    arms = []
    for n in names:
        edges = binning.edges.get(n)
        if edges is None:
            continue
        whens = " ".join(f"WHEN {v} <= {sql_literal(float(e))} THEN {i}" for i, e in enumerate(edges))
        arms.append((n, f"CASE WHEN {v} IS NULL THEN NULL {whens} ELSE {len(edges)} END"))
    if single:
        return arms[0][1] if arms else "CAST(NULL AS BIGINT)"
    return f"CASE feature {' '.join(f'WHEN {sql_literal(n)} THEN {a}' for n, a in arms)} END" if arms \
        else "CAST(NULL AS BIGINT)"


def _out_of_range_sql(names: list[str], binning: Binning, single: bool = False) -> str:
    """1 below the baseline's p01, 2 above its p99, else 0 (tails are tested separately);
    `single`: the expression for `names[0]` alone."""
    arms = [
        (n, f"CASE WHEN v < {sql_literal(float(lo))} THEN 1 WHEN v > {sql_literal(float(hi))} THEN 2 ELSE 0 END")
        for n, (lo, hi) in binning.ranges.items() if n in names
    ]
    if single:
        return arms[0][1] if arms else "0"
    return f"CASE feature {' '.join(f'WHEN {sql_literal(n)} THEN {a}' for n, a in arms)} ELSE 0 END" if arms else "0"


def _hist_json(names: list[str], binning: Binning) -> str:
    arms = [
        f"WHEN {sql_literal(n)} THEN {_json_list([f'a.h{i}' for i in range(len(binning.edges[n]) + 1)])}"
        for n in names if n in binning.edges
    ]
    return f"CASE a.feature {' '.join(arms)} END" if arms else "NULL"


def _json_list(exprs: list[str]) -> str:
    parts = " || ',' || ".join(f"COALESCE(CAST({e} AS VARCHAR), 'null')" for e in exprs)
    return f"'[' || {parts} || ']'"
