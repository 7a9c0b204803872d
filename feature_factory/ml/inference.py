"""Batch inference: the champion scores every customer in `customer_features_online`, and the
current challenger (if any) scores the same customers in shadow (`role` = champion | shadow).

The online table already holds served, patched values (the features module builds it through the
patch layer), so scoring reads it as-is; applying patches a second time would double-apply any
non-idempotent patch. Scoring is O(customers), not O(events): rows are pulled in bounded chunks by
customer_id (keyset pagination, `chunk_rows` per chunk), scored, and written to a per-run staging
table; one transactional `replace_where` on `run_id` then publishes the run, so a re-run of the same
run replaces its rows instead of appending them twice, and a crash publishes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from feature_factory import tables
from feature_factory.catalog import FeatureSpec
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.ml import models
from feature_factory.ml.registry import ModelRegistry, ModelVersion
from feature_factory.ml.training_set import feature_expressions
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse



class InferenceError(RuntimeError):
    """Scoring cannot run; the message says what is missing."""


@dataclass
class ScoringSummary:
    run_id: str
    model_version: int
    model_type: str
    customers: int
    predicted_churners: int
    mean_score: float
    reference_mean: float | None
    psi: float | None
    bin_counts: list[int]
    reference_shares: list[float]
    chunks: int
    scored_at: dt.datetime
    threshold: float
    missing_features: list[str] = field(default_factory=list)
    role: str = "champion"
    reference_cuts: list[float] = field(default_factory=list)
    shadow: "ScoringSummary | None" = None  # the challenger's scores of the same customers


class _Scorer:
    """One model's pass over the chunks: its scores, bins and totals."""

    def __init__(self, role: str, pipeline, info: ModelVersion, threshold: float | None, cols: set[str]):
        self.role, self.pipeline, self.info = role, pipeline, info
        self.threshold = info.threshold if threshold is None else threshold
        self.cuts = np.asarray((info.score_reference or {}).get("cuts", []), dtype=float)
        self.bins = np.zeros(len(self.cuts) + 1, dtype=np.int64)
        self.missing = [f for f in info.features if f not in cols]
        self.total = self.positives = 0
        self.score_sum = 0.0

    def score(self, chunk: pd.DataFrame) -> pd.DataFrame:
        # A feature no longer served (e.g. disabled by remediation) is scored as missing: the
        # pipeline imputes it, exactly as it treats a NULL at training time.
        frame = chunk.reindex(columns=["customer_id", *self.info.features])
        scores = models.predict_proba(self.pipeline, frame, self.info.features)
        predicted = (scores >= self.threshold).astype(np.int64)
        self.bins += np.bincount(np.searchsorted(self.cuts, scores, side="right"), minlength=len(self.cuts) + 1)
        self.total += len(scores)
        self.positives += int(predicted.sum())
        self.score_sum += float(scores.sum())
        return pd.DataFrame({
            "customer_id": chunk["customer_id"].astype(str),
            "churn_probability": scores.astype(float),
            "predicted_churn": predicted,
            "model_version": np.full(len(scores), int(self.info.version), dtype=np.int64),
            "role": self.role,
            "threshold": float(self.threshold),
        })

    def summary(self, run_id: str, chunks: int, scored_at: dt.datetime) -> ScoringSummary:
        ref = self.info.score_reference or {}
        shares = list(ref.get("shares", []))
        return ScoringSummary(
            run_id=run_id, model_version=self.info.version, model_type=self.info.model_type,
            customers=self.total, predicted_churners=self.positives,
            mean_score=self.score_sum / self.total if self.total else float("nan"),
            reference_mean=ref.get("mean"), psi=models.psi(shares, self.bins) if shares else None,
            bin_counts=self.bins.tolist(), reference_shares=shares, chunks=chunks,
            scored_at=scored_at, threshold=float(self.threshold), missing_features=self.missing,
            role=self.role, reference_cuts=self.cuts.tolist(),
        )


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise InferenceError(f"inference_results as_of={value!r} is not a date in YYYY-MM-DD form") from exc


def _snapshot_source(warehouse: Warehouse, as_of: dt.date, features: Sequence[FeatureSpec] | None,
                     entity: Entity = CUSTOMER_TABLES) -> tuple[str, set[str]]:
    """The entity's feature table (customer_features) on one snapshot day, patched like the training
    set (a subquery); `features`: the trainable ones (default: the catalog file in force)."""
    from feature_factory.catalog import load_catalog

    table = entity.features_table
    if not warehouse.table_exists(table):
        raise InferenceError(f"table {table} does not exist: materialize {table} first")
    present = {c for c, _ in warehouse.columns(table)}
    specs = [f for f in (load_catalog().trainable() if features is None else features) if f.name in present]
    exprs = feature_expressions(warehouse, specs, entity=entity)
    cols = ", ".join(f"{exprs[f.name]} AS {quote_ident(f.name)}" for f in specs)
    return (f"(SELECT {quote_ident(entity.key)} AS customer_id{', ' + cols if cols else ''} FROM {quote_ident(table)} "
            f"WHERE snapshot_date = {sql_literal(as_of)}) snap"), {f.name for f in specs}


def _staging_name(run_id: str) -> str:
    return quote_ident("inference_staging_" + hashlib.sha1(run_id.encode()).hexdigest()[:16])


def score_customers(
    warehouse: Warehouse,
    run_id: str,
    registry: ModelRegistry | None = None,
    chunk_rows: int = 50_000,
    threshold: float | None = None,
    shadow: bool = True,
    as_of: dt.date | str | None = None,
    features: Sequence[FeatureSpec] | None = None,
    entity: Entity = CUSTOMER_TABLES,
) -> ScoringSummary:
    """Score every online customer with the champion and (with `shadow`) the current challenger:
    the challenger's scores are written beside the champion's with role 'shadow', so its realized
    performance can be measured on live customers before it serves (model_performance).

    `as_of` scores the `customer_features` snapshot of that day instead (read through the patch
    layer, like training): a backtest whose realized performance exists as soon as that day's
    outcome window has passed."""
    if chunk_rows < 1:
        raise InferenceError(f"chunk_rows must be >= 1, got {chunk_rows}")
    registry = registry or ModelRegistry()
    champ = registry.champion()
    if champ is None:
        raise InferenceError(
            f"no champion model in the registry at {registry.root}: materialize churn_model and "
            "champion_model first"
        )
    # The feature tables of the entity whose `model:` declares the model (the customer's).
    online, key = entity.online_table, quote_ident(entity.key)
    # Scores are keyed customer_id (inference_results' contract): another key column is read under that name.
    source = quote_ident(online) if entity.key == "customer_id" else f"(SELECT *, {key} AS customer_id FROM {quote_ident(online)}) o"
    snapshot = "o.snapshot_date"
    if as_of is not None:
        as_of = _as_date(as_of)
        source, cols = _snapshot_source(warehouse, as_of, features, entity)
        snapshot = sql_literal(as_of)
    else:
        cols = {c for c, _ in warehouse.columns(online)}
        if not cols:
            raise InferenceError(f"table {online} does not exist: materialize {online} first")
    pipeline, info = registry.load(champ.version)
    scorers = [_Scorer("champion", pipeline, info, threshold, cols)]
    challenger = registry.challenger() if shadow else None
    if challenger is not None and not challenger.artifact_removed:
        ch_pipeline, ch_info = registry.load(challenger.version)
        scorers.append(_Scorer("shadow", ch_pipeline, ch_info, None, cols))
    needed = sorted({f for sc in scorers for f in sc.info.features if f in cols})
    select = ", ".join(quote_ident(f) for f in needed)
    staging = _staging_name(run_id)
    chunks = 0
    last_id = None
    try:
        while True:
            where, params = ("WHERE customer_id > ? ", [last_id]) if last_id is not None else ("", None)
            chunk = warehouse.fetch_df(
                f"SELECT customer_id{', ' + select if select else ''} FROM {source} {where}"
                f"ORDER BY customer_id LIMIT {int(chunk_rows)}",
                params,
            )
            if chunk.empty:
                break
            out = pd.concat([sc.score(chunk) for sc in scorers], ignore_index=True)
            warehouse.write_df(staging, out, mode="replace" if chunks == 0 else "append")
            chunks += 1
            last_id = str(chunk["customer_id"].iloc[-1])
        if scorers[0].total == 0:
            where = f" for snapshot_date {as_of}" if as_of is not None else ""
            raise InferenceError(f"{entity.features_table if as_of is not None else online} has no rows{where}: nothing to score")
        scored_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        warehouse.replace_where(
            tables.INFERENCE_RESULTS.name,
            "run_id = ?",
            f"""SELECT {sql_literal(run_id)} AS run_id, s.customer_id, {snapshot} AS snapshot_date,
                CAST(s.churn_probability AS DOUBLE) AS churn_probability,
                CAST(s.predicted_churn AS BIGINT) AS predicted_churn,
                CAST(s.model_version AS BIGINT) AS model_version,
                CAST(s.threshold AS DOUBLE) AS threshold,
                {sql_literal(scored_at)} AS scored_at,
                CAST(s.role AS VARCHAR) AS role
            FROM {staging} s {"" if as_of is not None else f"LEFT JOIN {quote_ident(online)} o ON o.{key} = s.customer_id"}""",
            where_params=[run_id],
        )
    finally:
        warehouse.execute(f"DROP TABLE IF EXISTS {staging}")
    main, *rest = [sc.summary(run_id, chunks, scored_at) for sc in scorers]
    main.shadow = rest[0] if rest else None
    return main
