"""Missing values in the raw inputs of each feature, per day (bounded SQL over raw_events).

Sums and averages skip NULL amounts, so a feed that starts losing amounts leaves the features'
own null rates almost unchanged while revenue quietly drops. For each feature that aggregates a
value (`FeatureSpec.value_sql`, over the rows of `filter_sql`), we therefore also count, per event
day, the rows it aggregates and how many of them have that value missing. Drift compares that
input null rate with the baseline's (NULL_SPIKE, noted as an input spike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from feature_factory.catalog import FeatureSpec
from feature_factory.warehouse.base import Warehouse, sql_literal

EVENTS_TABLE = "raw_events"

Inputs = Mapping[str, tuple[str, str | None]]  # feature -> (value_sql, filter_sql)


def input_specs(warehouse: Warehouse, features: Sequence[FeatureSpec]) -> dict[str, tuple[str, str | None]]:
    """Features whose raw input can be missing; empty when raw_events is not there."""
    columns = {c for c, _ in warehouse.columns(EVENTS_TABLE)}
    if "event_date" not in columns:
        return {}
    return {f.name: (f.value_sql, f.filter_sql) for f in features
            if getattr(f, "value_sql", None) and set(f.source_columns) <= columns}


def inputs_cte(inputs: Inputs, start_sql: str, end_sql: str, by_day: bool) -> str:
    """CTE `inp` (feature[, stats_date], input_rows, input_nulls) over raw_events days [start, end]."""
    names = list(inputs)
    aggs = []
    for i, n in enumerate(names):
        value, where = inputs[n]
        cond = f"({where})" if where else "1 = 1"
        aggs.append(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS r{i}, "
                    f"SUM(CASE WHEN {cond} AND ({value}) IS NULL THEN 1 ELSE 0 END) AS n{i}")
    day = "event_date AS stats_date, " if by_day else ""
    group = " GROUP BY event_date" if by_day else ""
    feats = ", ".join(f"({sql_literal(n)})" for n in names)
    pick = lambda p: "CASE fl.feature " + " ".join(  # noqa: E731
        f"WHEN {sql_literal(n)} THEN w.{p}{i}" for i, n in enumerate(names)) + " END"
    return (
        f"inp_wide AS (SELECT {day}{', '.join(aggs)} FROM {EVENTS_TABLE} "
        f"WHERE event_date BETWEEN {start_sql} AND {end_sql}{group}), "
        f"inp AS (SELECT {'w.stats_date, ' if by_day else ''}fl.feature, "
        f"CAST({pick('r')} AS BIGINT) AS input_rows, CAST({pick('n')} AS BIGINT) AS input_nulls "
        f"FROM inp_wide w CROSS JOIN (VALUES {feats}) AS fl(feature))"
    )
