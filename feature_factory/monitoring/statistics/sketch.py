"""Sketch mode of the feature_stats SQL (`sketch_rows`): exact cheap aggregates over every row, the
order statistics from a row sample, and no unpivot of the day's rows.

The exact statement (feature_stats.py) unpivots every value into (feature, value) rows before aggregating:
at 1M rows x 13 features that is 13M rows through a CASE, which cost more than the sketch saved.
Here every aggregate that streams is taken on the wide rows, one column at a time, in one scan:

- counts, zeros, MIN / MAX, `APPROX_COUNT_DISTINCT` (HyperLogLog, as before);
- the moments from the power sums S_k = sum (x - c)^k, k = 1..4, about a centre c (the baseline's
  [p01, p99] midpoint when one is known, else 0): mean, sample stddev and the sample excess kurtosis
  with DuckDB's own formula (DuckDB's KURTOSIS sums raw powers itself; the centre keeps the
  cancellation small). Four SUMs cost a third of AVG + STDDEV_SAMP + KURTOSIS here;
- the histogram over the baseline's bins as cumulative counts `COUNT_IF(x <= edge)` (bin i is
  (edge[i-1], edge[i]], as the exact CASE bucketing), and the tails `COUNT_IF(x < p01)`,
  `COUNT_IF(x > p99)`: exact, so PSI, Jensen-Shannon and OUT_OF_RANGE carry no sampling error.

A second scan keeps only the sampled rows (a hash of customer and day below `sketch_rows / rows of
the day`, the same rows as before), about `sketch_rows` a day, for the quantile grid and p01..p99:
the only statistics that need a sort, and the only ones with a rank error (`grid_rank_error`,
feature_stats.py). On DuckDB one sort per column gives both (`Dialect.order_statistics`); elsewhere the
sample alone is unpivoted for feature_stats.py's ranked grid. The statement ends in a CTE `agg` with the
exact statement's `agg` columns, so feature_stats.py's grid fallback, inputs join and final SELECT are
shared. Error bounds of each statistic: docs/drift-sketch.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from feature_factory import tables
from feature_factory.monitoring.statistics.summary import QUANTILE_COLUMNS
from feature_factory.warehouse.dialect import Dialect
from feature_factory.warehouse.sql import sql_literal

_HASH_MOD = 2147483647  # resolution of the sampling hash (warehouse.unit_hash)


def listed_grid(dialect: Dialect, grid_size: int) -> bool:
    """Whether the sketch's grid comes from list aggregates (else feature_stats.py ranks the sample)."""
    return (dialect.quantile_grid("v", grid_size) is not None
            and dialect.order_statistics("v", grid_size, [50]) is not None)


def sketch_ctes(
    dialect: Dialect,
    expressions: Mapping[str, str],
    lo: str,
    hi: str,
    *,
    by_day: bool,
    edges: Mapping[str, list[float]],
    ranges: Mapping[str, tuple[float, float]],
    nbins: int,
    grid_size: int,
    with_grid: bool,
    sketch_rows: int,
    moments: bool = True,
    pooled_row: bool = False,
    table: str = tables.CUSTOMER_FEATURES.name,
    key: str = "customer_id",
    excluded: Sequence[str] = (),
) -> list[str]:
    """CTEs ending in `agg` (see the module doc), in `dialect`'s SQL and, where the backend has no list aggregate for
    the grid, `long` (the sampled values, `in_sample` = 1) for feature_stats.py's ranked grid. `lo` / `hi`
    are SQL date literals, `expressions` feature -> SQL over `table` (customer_features; another
    entity's feature table, whose `key` column the sampling hash reads).

    `with_grid=False` draws no sample: grid, p01..p99 NULL (a baseline capture's one-day by-day pass
    needs only the counts, histograms and tails). `moments=False` leaves zeros, moments and min/max NULL (a baseline capture's pooled pass, which
    needs only the sample's order statistics, counts and distinct counts); `pooled_row=True` (by
    day) adds a row per feature with stats_date NULL that merges the days' counts, power sums,
    min/max, histogram and tails (exactly: the sums are about one centre), so the capture gets the
    window's moments from its by-day pass instead of a second full scan."""
    names = list(expressions)
    idx = range(len(names))
    day = "stats_date" if by_day else None
    group = f" GROUP BY {day}" if day else ""
    centers = {n: (float(a) + float(b)) / 2 for n, (a, b) in ranges.items()}
    merged = ["CAST(NULL AS DATE) AS stats_date", "SUM(n_rows) AS n_rows"]  # the pooled row (pooled_row)
    aggs = ["COUNT(*) AS n_rows"]
    for i, n in enumerate(names):
        x, d, q = f"x{i}", f"d{i}", f"q{i}"  # d = x - centre, q = d^2 (src)
        # (alias, aggregate) pairs: the pooled row re-aggregates each column by its alias.
        sums = [(f"c{i}", f"COUNT({x})")]
        if moments:
            sums += [(f"z{i}", f"COUNT_IF({x} = 0)"), (f"s1_{i}", f"SUM({d})"), (f"s2_{i}", f"SUM({q})"),
                     (f"s3_{i}", f"SUM({q} * {d})"), (f"s4_{i}", f"SUM({q} * {q})")]
        sums += [(f"le{i}_{j}", f"COUNT_IF({x} <= {sql_literal(float(e))})") for j, e in enumerate(edges.get(n, ()))]
        if n in ranges:
            sums += [(f"lt{i}", f"COUNT_IF({x} < {sql_literal(float(ranges[n][0]))})"),
                     (f"gt{i}", f"COUNT_IF({x} > {sql_literal(float(ranges[n][1]))})")]
        extremes = [("MIN", f"mn{i}"), ("MAX", f"mx{i}")] if moments else []  # (aggregate, alias)
        aggs += [f"{agg} AS {alias}" for alias, agg in sums]
        aggs += [f"{fn}({x}) AS {alias}" for fn, alias in extremes]
        aggs += [f"{dialect.approx_count_distinct(x)} AS nd{i}"]
        merged += [f"SUM({alias}) AS {alias}" for alias, _ in sums]
        merged += [f"{fn}({alias}) AS {alias}" for fn, alias in extremes]
        merged += [f"CAST(NULL AS BIGINT) AS nd{i}"]  # HyperLogLog counts do not add up
    src = ", ".join(f"CAST({expressions[n]} AS DOUBLE) AS x{i}" for i, n in enumerate(names))
    xs = ", ".join(f"x{i}" for i in idx)
    centred = ", ".join(f"x{i} - {sql_literal(centers.get(n, 0.0))} AS d{i}" for i, n in enumerate(names))
    powers = ", ".join(f"d{i}, d{i} * d{i} AS q{i}" for i in idx)
    feats = ", ".join(f"({sql_literal(n)})" for n in names)

    def pick(alias: str, per_feature) -> str:
        """One column of an unpivoted aggregate row: `per_feature(i, name)` for each feature."""
        arms = " ".join(f"WHEN {sql_literal(n)} THEN {per_feature(i, n)}" for i, n in enumerate(names))
        return f"CASE fl.feature {arms} END AS {alias}"

    def bin_count(b: int):
        def count(i: int, n: str) -> str:
            k = len(edges.get(n, ()))
            if n not in edges or b > k:
                return "NULL"
            upper = f"w.le{i}_{b}" if b < k else f"w.c{i}"
            return upper if b == 0 else f"{upper} - w.le{i}_{b - 1}"
        return count

    null = lambda i, n: "NULL"  # noqa: E731
    unpivoted = [
        pick("value_count", lambda i, n: f"w.c{i}"),
        pick("zero_count", (lambda i, n: f"w.z{i}") if moments else null),
        pick("min_value", (lambda i, n: f"w.mn{i}") if moments else null),
        pick("max_value", (lambda i, n: f"w.mx{i}") if moments else null),
        pick("distinct_count", lambda i, n: f"w.nd{i}"),
        pick("center", lambda i, n: sql_literal(centers.get(n, 0.0))),
        *(pick(f"s{k}", (lambda i, n, k=k: f"w.s{k}_{i}") if moments else null) for k in range(1, 5)),
        pick("below_count", lambda i, n: f"w.lt{i}" if n in ranges else "0"),
        pick("above_count", lambda i, n: f"w.gt{i}" if n in ranges else "0"),
        *(pick(f"h{b}", bin_count(b)) for b in range(nbins)),
    ]
    # The sample's order statistics column by column (no unpivot): where the backend has list
    # aggregates, the grid and p01..p99 at nearest ranks from one sort per column; else
    # PERCENTILE_CONT per column and the sample unpivoted into `long` for feature_stats.py's ranked grid.
    percents = [round(q * 100) for q in QUANTILE_COLUMNS.values()]
    listed = listed_grid(dialect, grid_size)
    grid_agg = with_grid and listed
    per_col = []
    for i in idx:
        per_col.append(f"COUNT(x{i}) AS k{i}")
        if listed:
            per_col.append(f"{dialect.order_statistics(f'x{i}', grid_size, percents)} AS o{i}")
        else:
            per_col += [f"CAST({q} AS DOUBLE) AS {name}_{i}" for q, name in
                        zip(dialect.quantiles(f"x{i}", list(QUANTILE_COLUMNS.values())), QUANTILE_COLUMNS)]
    quantile_of = ((lambda j: lambda i, n: f"CAST(w.o{i}[{grid_size + 2 + j}] AS DOUBLE)") if listed
                   else (lambda j: lambda i, n: f"w.{list(QUANTILE_COLUMNS)[j]}_{i}"))
    sampled = [pick("sample_count", lambda i, n: f"w.k{i}"),
               *(pick(name, quantile_of(j)) for j, name in enumerate(QUANTILE_COLUMNS)),
               *([pick("grid_json", lambda i, n: f"CAST(w.o{i}[1:{grid_size + 1}] AS VARCHAR)")] if grid_agg else [])]
    # The days read (a baseline capture may leave some out: `excluded`, SQL date literals).
    days = f"snapshot_date BETWEEN {lo} AND {hi}" + (f" AND snapshot_date NOT IN ({', '.join(excluded)})" if excluded else "")
    on = "w.stats_date = s.stats_date" if by_day else "1 = 1"
    joined = "k.feature = l.feature" + (" AND k.stats_date = l.stats_date" if by_day else "")
    # Moments from the power sums about c: a = S1/n, M2 = S2 - n a^2, M4 = S4 - 4a S3 + 6a^2 S2 - 3n a^4.
    n, a = "CAST(l.value_count AS DOUBLE)", "(l.s1 / l.value_count)"
    m2 = f"(l.s2 - l.s1 * l.s1 / {n})"
    m4 = f"(l.s4 - 4 * {a} * l.s3 + 6 * {a} * {a} * l.s2 - 3 * {n} * {a} * {a} * {a} * {a})"
    # DuckDB's KURTOSIS (sample excess kurtosis); NULL below 4 values or without spread.
    kurtosis = (f"CASE WHEN l.value_count > 3 AND {m2} > 1e-12 * l.s2 THEN ({n} - 1) * (({n} + 1) * {n} * {m4} "
                f"/ ({m2} * {m2}) - 3 * ({n} - 1)) / (({n} - 2) * ({n} - 3)) END")
    value = "CASE fl.feature " + " ".join(f"WHEN {sql_literal(n)} THEN s.x{i}" for i, n in enumerate(names)) + " END"
    rows = "wide" if not (pooled_row and by_day) else f"(SELECT * FROM wide UNION ALL SELECT {', '.join(merged)} FROM wide)"
    ctes = [
        ("src", f"SELECT stats_date, {xs}, {powers} FROM (SELECT stats_date, {xs}, {centred} FROM (SELECT "
                f"snapshot_date AS stats_date, {src} FROM {table} WHERE {days}) r) c"),
        ("wide", f"SELECT {day + ', ' if day else ''}{', '.join(aggs)} FROM src{group}"),
        # A second scan for the sample (a join with src would make DuckDB materialize src's rows).
        ("smp", f"SELECT s.stats_date, {', '.join(f's.x{i}' for i in idx)} FROM (SELECT snapshot_date AS stats_date, "
                f"{dialect.unit_hash([key, 'snapshot_date'], _HASH_MOD)} AS u, {src} FROM {table} "
                f"WHERE {days}) s JOIN wide w ON {on} "
                f"WHERE s.u * w.n_rows < {int(sketch_rows)}"),
        ("wl", f"SELECT {'w.stats_date, ' if day else ''}fl.feature, w.n_rows AS row_count, {', '.join(unpivoted)} "
               f"FROM {rows} w CROSS JOIN (VALUES {feats}) AS fl(feature)"),
        ("sw", f"SELECT {day + ', ' if day else ''}{', '.join(per_col)} FROM smp{group}"),
        ("sk", f"SELECT {'w.stats_date, ' if day else ''}fl.feature, {', '.join(sampled)} "
               f"FROM sw w CROSS JOIN (VALUES {feats}) AS fl(feature)"),
        ("agg", f"SELECT l.feature, {'l.stats_date, ' if by_day else ''}l.row_count, l.value_count, "
                f"{'COALESCE(k.sample_count, 0)' if with_grid else '0'} AS sample_count, l.zero_count, "
                f"CASE WHEN l.value_count > 0 THEN l.center + {a} END AS mean, "
                f"CASE WHEN l.value_count > 1 THEN SQRT(CASE WHEN {m2} < 0 THEN 0 ELSE {m2} END / ({n} - 1)) "
                f"END AS stddev, "
                f"{kurtosis} AS kurtosis, l.min_value, l.max_value, "
                + ", ".join(f"{'k.' + q if with_grid else 'CAST(NULL AS DOUBLE) AS ' + q}" for q in QUANTILE_COLUMNS)
                + ", l.distinct_count, l.below_count + l.above_count AS out_of_range_count, "
                  "l.above_count AS above_range_count, "
                + ", ".join(f"l.h{b}" for b in range(nbins))
                + (", k.grid_json" if grid_agg else "")
                + f" FROM wl l{f' LEFT JOIN sk k ON {joined}' if with_grid else ''}"),
    ]
    if not with_grid:  # no order statistic asked for: no sample drawn (module doc)
        ctes = [(name, body) for name, body in ctes if name not in ("smp", "sw", "sk")]
    if with_grid and not grid_agg:
        ctes.append(("long", f"SELECT s.stats_date, 1 AS in_sample, fl.feature, {value} AS v FROM smp s "
                             f"CROSS JOIN (VALUES {feats}) AS fl(feature)"))
    return [f"{name} AS ({body})" for name, body in ctes]
