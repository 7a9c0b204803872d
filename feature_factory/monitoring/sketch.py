"""Sketch mode of the feature_stats SQL (`sketch_rows`): exact cheap aggregates over every row, the
order statistics from a row sample, and no unpivot of the day's rows.

The exact statement (stats.py) unpivots every value into (feature, value) rows before aggregating:
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

Only then are the sampled rows (a hash of customer and day below `sketch_rows / rows of the day`, the
same rows as before) unpivoted, about `sketch_rows` x features values, for the quantile grid and
p01..p99: the only statistics that need a sort, and the only ones with a rank error
(`grid_rank_error`, stats.py). The statement ends in a CTE `agg` with the exact statement's `agg`
columns, so stats.py's grid fallback, inputs join and final SELECT are shared.
"""

from __future__ import annotations

from collections.abc import Mapping

from feature_factory import tables
from feature_factory.monitoring.summary import QUANTILE_COLUMNS
from feature_factory.warehouse.base import Warehouse, sql_literal

_HASH_MOD = 2147483647  # resolution of the sampling hash (warehouse.unit_hash)


def sketch_ctes(
    warehouse: Warehouse,
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
) -> list[str]:
    """CTEs src, wide, wl, long (the sampled values, `in_sample` = 1), sk and agg (see the module
    doc); `lo` / `hi` are SQL date literals, `expressions` feature -> SQL over customer_features."""
    names = list(expressions)
    day = "stats_date" if by_day else None
    group = f" GROUP BY {day}" if day else ""
    centers = {n: (float(a) + float(b)) / 2 for n, (a, b) in ranges.items()}
    aggs = ["COUNT(*) AS n_rows"]
    for i, n in enumerate(names):
        x, d, q = f"x{i}", f"d{i}", f"q{i}"  # q = d^2
        aggs += [f"COUNT({x}) AS c{i}", f"COUNT_IF({x} = 0) AS z{i}", f"MIN({x}) AS mn{i}", f"MAX({x}) AS mx{i}",
                 f"{warehouse.approx_count_distinct(x)} AS nd{i}", f"SUM({d}) AS s1_{i}",
                 f"SUM({q}) AS s2_{i}", f"SUM({q} * {d}) AS s3_{i}", f"SUM({q} * {q}) AS s4_{i}"]
        aggs += [f"COUNT_IF({x} <= {sql_literal(float(e))}) AS le{i}_{j}" for j, e in enumerate(edges.get(n, ()))]
        if n in ranges:
            aggs += [f"COUNT_IF({x} < {sql_literal(float(ranges[n][0]))}) AS lt{i}",
                     f"COUNT_IF({x} > {sql_literal(float(ranges[n][1]))}) AS gt{i}"]
    hashed = warehouse.unit_hash(["customer_id", "snapshot_date"], _HASH_MOD)
    src = ", ".join(f"CAST({expressions[n]} AS DOUBLE) AS x{i}" for i, n in enumerate(names))
    # d = x - c and its square, once per value (the sums of powers reuse them).
    centred = ", ".join(f"x{i} - {sql_literal(centers.get(n, 0.0))} AS d{i}" for i, n in enumerate(names))
    squared = ", ".join(f"d{i} * d{i} AS q{i}" for i in range(len(names)))
    xs = ", ".join(f"x{i}" for i in range(len(names)))
    ds = ", ".join(f"d{i}" for i in range(len(names)))
    feats = ", ".join(f"({sql_literal(n)})" for n in names)

    def pick(alias: str, per_feature) -> str:
        """One column of the unpivoted aggregate row: `per_feature(i, name)` for each feature."""
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

    unpivoted = [
        pick("value_count", lambda i, n: f"w.c{i}"), pick("zero_count", lambda i, n: f"w.z{i}"),
        pick("min_value", lambda i, n: f"w.mn{i}"), pick("max_value", lambda i, n: f"w.mx{i}"),
        pick("distinct_count", lambda i, n: f"w.nd{i}"),
        pick("center", lambda i, n: sql_literal(centers.get(n, 0.0))),
        *(pick(f"s{k}", lambda i, n, k=k: f"w.s{k}_{i}") for k in range(1, 5)),
        pick("below_count", lambda i, n: f"w.lt{i}" if n in ranges else "0"),
        pick("above_count", lambda i, n: f"w.gt{i}" if n in ranges else "0"),
        *(pick(f"h{b}", bin_count(b)) for b in range(nbins)),
    ]
    value = "CASE fl.feature " + " ".join(f"WHEN {sql_literal(n)} THEN s.x{i}" for i, n in enumerate(names)) + " END"
    quantiles = warehouse.quantiles("v", list(QUANTILE_COLUMNS.values()))
    q_cols = ", ".join(f"CAST({q} AS DOUBLE) AS {name}" for q, name in zip(quantiles, QUANTILE_COLUMNS))
    grid_agg = warehouse.quantile_grid("v", grid_size) if with_grid else None
    keys = "feature, stats_date" if by_day else "feature"
    on = "w.stats_date = s.stats_date" if by_day else "1 = 1"
    joined = "k.feature = l.feature" + (" AND k.stats_date = l.stats_date" if by_day else "")
    # Moments from the power sums about c: a = S1/n, M2 = S2 - n a^2, M4 = S4 - 4a S3 + 6a^2 S2 - 3n a^4.
    n, a = "CAST(l.value_count AS DOUBLE)", "(l.s1 / l.value_count)"
    m2 = f"(l.s2 - l.s1 * l.s1 / {n})"
    m4 = f"(l.s4 - 4 * {a} * l.s3 + 6 * {a} * {a} * l.s2 - 3 * {n} * {a} * {a} * {a} * {a})"
    kurtosis = (f"CASE WHEN l.value_count > 3 AND {m2} > 1e-12 * l.s2 THEN ({n} - 1) * (({n} + 1) * {n} * {m4} / ({m2} * {m2}) "
                f"- 3 * ({n} - 1)) / (({n} - 2) * ({n} - 3)) END")
    return [
        f"raw AS (SELECT snapshot_date AS stats_date, {src} FROM {tables.CUSTOMER_FEATURES} "
        f"WHERE snapshot_date BETWEEN {lo} AND {hi})",
        f"src AS (SELECT stats_date, {xs}, {ds}, {squared} FROM (SELECT stats_date, {xs}, {centred} FROM raw) c)",
        f"wide AS (SELECT {day + ', ' if day else ''}{', '.join(aggs)} FROM src{group})",
        # A second scan for the sample (not a join with src: DuckDB would materialize src's rows).
        f"smp AS (SELECT s.stats_date, {', '.join(f's.x{i}' for i in range(len(names)))} FROM (SELECT snapshot_date AS stats_date, "
        f"{hashed} AS u, {src} FROM {tables.CUSTOMER_FEATURES} WHERE snapshot_date BETWEEN {lo} AND {hi}) s "
        f"JOIN wide w ON {on} WHERE s.u * w.n_rows < {int(sketch_rows)})",
        f"wl AS (SELECT {'w.stats_date, ' if day else ''}fl.feature, w.n_rows AS row_count, {', '.join(unpivoted)} "
        f"FROM wide w CROSS JOIN (VALUES {feats}) AS fl(feature))",
        f"long AS (SELECT s.stats_date, 1 AS in_sample, fl.feature, {value} AS v FROM smp s "
        f"CROSS JOIN (VALUES {feats}) AS fl(feature))",
        f"sk AS (SELECT {keys}, COUNT(v) AS sample_count, {q_cols}{f', {grid_agg} AS grid_json' if grid_agg else ''} "
        f"FROM long GROUP BY {keys})",
        f"agg AS (SELECT l.feature, {'l.stats_date, ' if by_day else ''}l.row_count, l.value_count, "
        "COALESCE(k.sample_count, 0) AS sample_count, l.zero_count, "
        f"CASE WHEN l.value_count > 0 THEN l.center + {a} END AS mean, "
        f"CASE WHEN l.value_count > 1 THEN SQRT(GREATEST({m2}, 0) / ({n} - 1)) END AS stddev, "
        f"{kurtosis} AS kurtosis, l.min_value, l.max_value, "
        + ", ".join(f"k.{q}" for q in QUANTILE_COLUMNS)
        + ", l.distinct_count, l.below_count + l.above_count AS out_of_range_count, l.above_count AS above_range_count, "
        + ", ".join(f"l.h{b}" for b in range(nbins))
        + (", k.grid_json" if grid_agg else "")
        + f" FROM wl l LEFT JOIN sk k ON {joined})",
    ]
