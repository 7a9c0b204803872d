"""Missing values in the raw inputs of each feature, per day (bounded SQL over raw_events).

Sums and averages skip NULL amounts, so a feed that starts losing amounts leaves the features'
own null rates almost unchanged while revenue quietly drops. For each feature that aggregates a
value (`FeatureSpec.value_sql`, over the rows of `filter_sql`), we therefore also count, per event
day, the rows it would have aggregated and how many of them had that value missing. Drift compares
that input null rate with the baseline's (NULL_SPIKE, noted as an input spike).

What "would have read" means (what a user means by a missing input):
- a row with a value counts when the feature's `where` holds (the rows it did aggregate);
- a row with a blank value counts when the `where` holds on everything *except* the value itself:
  the conjuncts that mention the value's columns are dropped (`read_condition`), because with the
  value unknown they might have held. For `amount > 0` every blank amount might have been read;
  for `event_type = 'purchase'` only purchases' blanks;
- a blank where the contract expects no value (`NO_VALUE_EXPECTED`: a browse carries no amount)
  is not missing: the feature reads nothing there, with or without the blank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from feature_factory import tables
from feature_factory.catalog import FeatureSpec
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse

# raw_events column -> rows on which a blank is that row's normal value, not a lost one (the
# events contract allows a blank amount anywhere; on a browse there is no amount to lose).
NO_VALUE_EXPECTED = {"amount": "event_type = 'browse'"}

# feature -> (value_sql, filter_sql, rows where a blank value is expected or None)
Inputs = Mapping[str, tuple[str, str | None, str | None]]


def input_specs(warehouse: Warehouse, features: Sequence[FeatureSpec]) -> dict[str, tuple[str, str | None, str | None]]:
    """Features whose raw input can be missing; empty when raw_events is not there."""
    columns = {c.lower() for c, _ in warehouse.columns(tables.RAW_EVENTS.name)}
    if "event_date" not in columns:
        return {}
    out = {}
    for f in features:
        if (getattr(f, "value_sql", None) and getattr(f, "over_raw_events", True)  # read from raw_events
                and {c.lower() for c in f.source_columns} <= columns):
            expected = _blank_expected(f.value_sql)
            if expected and not _columns(expected) <= columns:
                expected = None  # a table without the column the rule needs: every blank counts
            out[f.name] = (f.value_sql, f.filter_sql, expected)
    return out


def _columns(sql: str) -> set[str]:
    return {c.name.lower() for c in sqlglot.parse_one(sql).find_all(exp.Column)}


def read_condition(where: str | None, value_sql: str) -> str | None:
    """`where` without the conjuncts that mention a column of `value_sql` (None: every row).

    Evaluated on a row whose value is blank, it says whether the feature might have read that
    row had the value been there: conditions on the value itself are unknown, the rest decide."""
    if not where:
        return None
    value_columns = _columns(value_sql)
    tree = sqlglot.parse_one(where)
    conjuncts = list(tree.flatten()) if isinstance(tree, exp.And) else [tree]
    kept = [c for c in conjuncts if not _columns(c.sql()) & value_columns]
    if len(kept) == len(conjuncts):
        return where
    return " AND ".join(f"({c.sql()})" for c in kept) or None


def _blank_expected(value_sql: str) -> str | None:
    """Rows on which a blank `value_sql` is expected (NO_VALUE_EXPECTED), for a bare column."""
    tree = sqlglot.parse_one(value_sql)
    return NO_VALUE_EXPECTED.get(tree.name.lower()) if isinstance(tree, exp.Column) else None


def inputs_cte(inputs: Inputs, start_sql: str, end_sql: str, by_day: bool, excluded: Sequence[str] = ()) -> str:
    """CTE `inp` (feature[, stats_date], input_rows, input_nulls) over raw_events days [start, end]:
    the rows each feature read or would have read, and the blanks among them (module doc)."""
    names = list(inputs)
    aggs = []
    for i, n in enumerate(names):
        value, where, expected = inputs[n]
        reads = f"({where})" if where else "1 = 1"
        might = read_condition(where, value)
        blank = f"({value}) IS NULL" + (f" AND ({might})" if might else "")
        if expected:
            blank += f" AND NOT COALESCE(({expected}), FALSE)"
        aggs.append(f"SUM(CASE WHEN ({value}) IS NOT NULL AND {reads} THEN 1 WHEN {blank} THEN 1 ELSE 0 END) "
                    f"AS r{i}, SUM(CASE WHEN {blank} THEN 1 ELSE 0 END) AS n{i}")
    day = "event_date AS stats_date, " if by_day else ""
    skip = f" AND event_date NOT IN ({', '.join(excluded)})" if excluded else ""
    group = " GROUP BY event_date" if by_day else ""
    feats = ", ".join(f"({sql_literal(n)})" for n in names)
    pick = lambda p: "CASE fl.feature " + " ".join(  # noqa: E731
        f"WHEN {sql_literal(n)} THEN w.{p}{i}" for i, n in enumerate(names)) + " END"
    return (
        f"inp_wide AS (SELECT {day}{', '.join(aggs)} FROM {tables.RAW_EVENTS} "
        f"WHERE event_date BETWEEN {start_sql} AND {end_sql}{skip}{group}), "
        f"inp AS (SELECT {'w.stats_date, ' if by_day else ''}fl.feature, "
        f"CAST({pick('r')} AS BIGINT) AS input_rows, CAST({pick('n')} AS BIGINT) AS input_nulls "
        f"FROM inp_wide w CROSS JOIN (VALUES {feats}) AS fl(feature))"
    )
