"""The point-in-time training set: each churn label joined, in the warehouse, to the latest
`customer_features` snapshot that was known at the label time.

A snapshot dated D holds features as of the END of day D, and a label at L is as of the START of day
L, so the usable snapshots are those dated [L - ttl_days, L - 1]; the newest wins. This is an as-of
join written as the backend's as-of join where it has one that runs everywhere it is tested (DuckDB's
ASOF LEFT JOIN, then the TTL as a CASE), otherwise as a range LEFT JOIN + `QUALIFY ROW_NUMBER()`
(portable: DuckDB, Snowflake and fakesnow all run it; fakesnow cannot run Snowflake's
`ASOF JOIN ... MATCH_CONDITION`). The LEFT JOIN means a
label is never dropped: a customer without a fresh enough snapshot gets NULL features, counted.
Features are read through the patch layer, so approved remediation patches apply to training too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from feature_factory import tables
from feature_factory.catalog.spec import FeatureSpec
from feature_factory.features import patch_layer
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse

KEY_COLUMNS = tables.TRAINING_SET.names  # the contract's fixed columns, in order


class TrainingSetError(ValueError):
    """The training set cannot be built; the message names the missing table or column."""


def default_features() -> list[FeatureSpec]:
    """The trainable features of the catalog file in force (runs pass their catalog resource's)."""
    from feature_factory.catalog import load_catalog

    return load_catalog().trainable()


def feature_expressions(warehouse: Warehouse, features: Sequence[FeatureSpec],
                        qualifier: str | None = None, entity: Entity = CUSTOMER_TABLES) -> dict[str, str]:
    """Each feature's SQL over the unpatched column of the entity's feature table (customer_features),
    from the patch layer (the entity's active patches)."""
    active = entity.patch_tables[2]
    # The patch layer's default table is the customer's (feature_patches_active): named only when it differs.
    extra = {} if active == tables.FEATURE_PATCHES_ACTIVE else {"table": active}
    exprs = patch_layer.patched_expressions(warehouse, list(features), qualifier, **extra)
    missing = [f.name for f in features if f.name not in exprs]
    if missing:
        raise TrainingSetError(f"patch layer returned no expression for feature(s) {missing}")
    return {f.name: exprs[f.name] for f in features}


def training_set_sql(
    warehouse: Warehouse,
    features: Sequence[FeatureSpec],
    ttl_days: int = 7,
    label_range: tuple[object, object] | None = None,
    entity: Entity = CUSTOMER_TABLES,
) -> str:
    """The as-of join of the labels to the feature table of `entity` (the entity whose `model:`
    declares the model; the customer's customer_features). `label_range` (first, last label date)
    lets the warehouse prune snapshot partitions no label can use."""
    if ttl_days < 1:
        raise TrainingSetError(f"ttl_days must be >= 1 (a snapshot dated L - 1 is needed), got {ttl_days}")
    if not features:
        raise TrainingSetError("no trainable features: the training set needs at least one")
    names = [quote_ident(f.name) for f in features]
    newest = warehouse.date_add_days("l.label_date", -1)
    oldest = warehouse.date_add_days("l.label_date", -int(ttl_days))
    age = warehouse.date_diff_days("f.snapshot_date", "l.label_date")
    prune = ""
    if label_range:
        lo = _date(label_range[0]) - dt.timedelta(days=int(ttl_days))
        hi = _date(label_range[1]) - dt.timedelta(days=1)
        prune = f"\n    WHERE snapshot_date >= {sql_literal(lo)} AND snapshot_date <= {sql_literal(hi)}"
    features_table, key = quote_ident(entity.features_table), quote_ident(entity.key)
    asof = warehouse.asof_left_join(f"{tables.CHURN_LABELS.name} l", f"(SELECT * FROM {features_table}{prune}) f",
                                    f"f.{key} = l.customer_id", "l.label_date", "f.snapshot_date")
    if asof:
        # The newest earlier snapshot, kept only when it is within the TTL (the same rows as below).
        fresh = f"f.snapshot_date >= {oldest}"
        exprs = feature_expressions(warehouse, features, qualifier="f", entity=entity)
        cols = ",\n    ".join(f"CASE WHEN {fresh} THEN {exprs[n]} END AS {n}" for n in names)
        return f"""
SELECT
    l.customer_id,
    l.label_date,
    l.churned,
    CASE WHEN {fresh} THEN f.snapshot_date END AS feature_snapshot_date,
    CAST(CASE WHEN {fresh} THEN {age} END AS BIGINT) AS feature_age_days,
    {cols}
FROM {asof}
"""
    exprs = feature_expressions(warehouse, features, entity=entity)
    patched = ",\n        ".join(f"{exprs[n]} AS {n}" for n in names)
    selected = ",\n    ".join(f"f.{n}" for n in names)
    return f"""
SELECT
    l.customer_id,
    l.label_date,
    l.churned,
    f.snapshot_date AS feature_snapshot_date,
    CAST({age} AS BIGINT) AS feature_age_days,
    {selected}
FROM {tables.CHURN_LABELS.name} l
LEFT JOIN (
    SELECT
        {key} AS customer_id,
        snapshot_date,
        {patched}
    FROM {features_table}{prune}
) f
  ON f.customer_id = l.customer_id
 AND f.snapshot_date <= {newest}
 AND f.snapshot_date >= {oldest}
QUALIFY ROW_NUMBER() OVER (
    PARTITION BY l.customer_id, l.label_date ORDER BY f.snapshot_date DESC
) = 1
"""


@dataclass(frozen=True)
class TrainingSetSummary:
    rows: int
    labels: int
    missing_features: int  # label rows with no snapshot inside the TTL
    churned: int
    age_min: float | None
    age_mean: float | None
    age_median: float | None
    age_max: float | None
    features: list[str]
    first_label_date: object
    last_label_date: object
    null_counts: dict[str, int]


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _check_inputs(warehouse: Warehouse, features: Sequence[FeatureSpec], entity: Entity = CUSTOMER_TABLES) -> None:
    for table in (tables.CHURN_LABELS.name, entity.features_table):
        if not warehouse.table_exists(table):
            raise TrainingSetError(f"table {table} does not exist: materialize {table} first")
    present = {c for c, _ in warehouse.columns(entity.features_table)}
    missing = [f.name for f in features if f.name not in present]
    if missing:
        raise TrainingSetError(
            f"{entity.features_table} has no column(s) {missing} for trainable feature(s); "
            f"materialize {entity.features_table} for the label period after adding them to the catalog"
        )


def build_training_set(
    warehouse: Warehouse, features: Sequence[FeatureSpec] | None = None, ttl_days: int = 7,
    entity: Entity = CUSTOMER_TABLES,
) -> TrainingSetSummary:
    """Replace `training_set` atomically, with exactly one row per label, its features from the
    feature table of `entity` (the entity whose `model:` declares the model)."""
    features = list(features) if features is not None else default_features()
    with warehouse.held():
        return _build(warehouse, features, ttl_days, entity)


def _build(warehouse: Warehouse, features: list[FeatureSpec], ttl_days: int,
           entity: Entity = CUSTOMER_TABLES) -> TrainingSetSummary:
    _check_inputs(warehouse, features, entity)
    # The as-of join keeps one row per (customer_id, label_date); duplicate label keys would
    # silently collapse, so they are refused before anything is published.
    dup = warehouse.fetch_one(
        f"SELECT customer_id, label_date, COUNT(*) FROM {tables.CHURN_LABELS.name} "
        "GROUP BY customer_id, label_date HAVING COUNT(*) > 1 ORDER BY customer_id, label_date LIMIT 1"
    )
    if dup:
        raise TrainingSetError(
            f"{tables.CHURN_LABELS.name} has duplicate labels, e.g. customer {dup[0]!r} on {dup[1]} ({dup[2]} rows)"
        )
    bounds = warehouse.fetch_one(f"SELECT MIN(label_date), MAX(label_date) FROM {tables.CHURN_LABELS.name}")
    if not bounds or bounds[0] is None:
        raise TrainingSetError(f"{tables.CHURN_LABELS.name} is empty: no labels to build a training set from")
    rows = warehouse.replace_table(
        tables.TRAINING_SET.name, training_set_sql(warehouse, features, ttl_days, (bounds[0], bounds[1]), entity)
    )
    labels = warehouse.row_count(tables.CHURN_LABELS.name)
    if rows != labels:  # labels changed while we built: say so rather than report wrong counts
        raise TrainingSetError(f"{tables.TRAINING_SET.name} has {rows} rows but {tables.CHURN_LABELS.name} now has {labels}")
    return summarize(warehouse, [f.name for f in features])


def summarize(warehouse: Warehouse, feature_names: Sequence[str]) -> TrainingSetSummary:
    """Aggregate statistics of the training set, one row from the warehouse."""
    median = warehouse.quantiles("feature_age_days", [0.5])[0]
    nulls = ", ".join(f"SUM(CASE WHEN {quote_ident(n)} IS NULL THEN 1 ELSE 0 END)" for n in feature_names)
    row = warehouse.fetch_one(
        f"SELECT COUNT(*), COUNT(DISTINCT customer_id), "
        f"SUM(CASE WHEN feature_snapshot_date IS NULL THEN 1 ELSE 0 END), SUM(churned), "
        f"MIN(feature_age_days), AVG(feature_age_days), {median}, MAX(feature_age_days), "
        f"MIN(label_date), MAX(label_date){', ' + nulls if nulls else ''} FROM {tables.TRAINING_SET.name}"
    )
    assert row is not None

    def num(v):
        return None if v is None else float(v)

    return TrainingSetSummary(
        rows=int(row[0]),
        labels=int(row[0]),
        missing_features=int(row[2] or 0),
        churned=int(row[3] or 0),
        age_min=num(row[4]),
        age_mean=num(row[5]),
        age_median=num(row[6]),
        age_max=num(row[7]),
        features=list(feature_names),
        first_label_date=row[8],
        last_label_date=row[9],
        null_counts={n: int(v or 0) for n, v in zip(feature_names, row[10:])},
    )


def feature_columns(warehouse: Warehouse) -> list[str]:
    """The feature columns the current training set was built with, in table order."""
    cols = [c for c, _ in warehouse.columns(tables.TRAINING_SET.name)]
    if not cols:
        raise TrainingSetError(f"table {tables.TRAINING_SET.name} does not exist: materialize training_set first")
    return [c for c in cols if c not in KEY_COLUMNS]


def load_training_frame(warehouse: Warehouse, feature_names: Sequence[str]) -> pd.DataFrame:
    """The training set as a DataFrame: one row per label, so bounded by the label count, not by
    events. Ordered, so the same table always yields the same split."""
    if not warehouse.table_exists(tables.TRAINING_SET.name):
        raise TrainingSetError(f"table {tables.TRAINING_SET.name} does not exist: materialize training_set first")
    present = {c for c, _ in warehouse.columns(tables.TRAINING_SET.name)}
    missing = [n for n in feature_names if n not in present]
    if missing:
        raise TrainingSetError(f"{tables.TRAINING_SET.name} has no column(s) {missing}: rebuild training_set")
    cols = ", ".join(quote_ident(c) for c in ("customer_id", "label_date", "churned", *feature_names))
    df = warehouse.fetch_df(f"SELECT {cols} FROM {tables.TRAINING_SET.name} ORDER BY label_date, customer_id")
    df["label_date"] = pd.to_datetime(df["label_date"]).dt.date
    df["churned"] = df["churned"].astype(int)
    for n in feature_names:
        df[n] = pd.to_numeric(df[n], errors="coerce").astype(float)
    return df
