"""Batch inference: the champion scores every customer in `customer_features_online`.

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from feature_factory.ml import models
from feature_factory.ml.registry import ModelRegistry
from feature_factory.warehouse.base import Warehouse, quote_ident, sql_literal

ONLINE_TABLE = "customer_features_online"
RESULTS_TABLE = "inference_results"


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


def _staging_name(run_id: str) -> str:
    return quote_ident("inference_staging_" + hashlib.sha1(run_id.encode()).hexdigest()[:16])


def score_customers(
    warehouse: Warehouse,
    run_id: str,
    registry: ModelRegistry | None = None,
    chunk_rows: int = 50_000,
    threshold: float | None = None,
) -> ScoringSummary:
    if chunk_rows < 1:
        raise InferenceError(f"chunk_rows must be >= 1, got {chunk_rows}")
    registry = registry or ModelRegistry()
    champ = registry.champion()
    if champ is None:
        raise InferenceError(
            f"no champion model in the registry at {registry.root}: materialize churn_model and "
            "champion_model first"
        )
    pipeline, info = registry.load(champ.version)
    threshold = info.threshold if threshold is None else threshold
    cols = {c for c, _ in warehouse.columns(ONLINE_TABLE)}
    if not cols:
        raise InferenceError(f"table {ONLINE_TABLE} does not exist: materialize customer_features_online first")
    # A feature no longer served (e.g. disabled by remediation) is scored as missing: the pipeline
    # imputes it, exactly as it treats a NULL at training time.
    missing = [f for f in info.features if f not in cols]
    select = ", ".join(
        quote_ident(f) if f in cols else f"CAST(NULL AS DOUBLE) AS {quote_ident(f)}" for f in info.features
    )
    staging = _staging_name(run_id)
    cuts = np.asarray((info.score_reference or {}).get("cuts", []), dtype=float)
    bin_counts = np.zeros(len(cuts) + 1, dtype=np.int64)
    total = positives = chunks = 0
    score_sum = 0.0
    last_id = None
    try:
        while True:
            where, params = ("WHERE customer_id > ? ", [last_id]) if last_id is not None else ("", None)
            chunk = warehouse.fetch_df(
                f"SELECT customer_id, {select} FROM {ONLINE_TABLE} {where}"
                f"ORDER BY customer_id LIMIT {int(chunk_rows)}",
                params,
            )
            if chunk.empty:
                break
            scores = models.predict_proba(pipeline, chunk, info.features)
            predicted = (scores >= threshold).astype(np.int64)
            out = pd.DataFrame({
                "customer_id": chunk["customer_id"].astype(str),
                "churn_probability": scores.astype(float),
                "predicted_churn": predicted,
            })
            warehouse.write_df(staging, out, mode="replace" if chunks == 0 else "append")
            bin_counts += np.bincount(np.searchsorted(cuts, scores, side="right"), minlength=len(cuts) + 1)
            total += len(out)
            positives += int(predicted.sum())
            score_sum += float(scores.sum())
            chunks += 1
            last_id = str(chunk["customer_id"].iloc[-1])
        if total == 0:
            raise InferenceError(f"{ONLINE_TABLE} has no rows: nothing to score")
        scored_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        warehouse.replace_where(
            RESULTS_TABLE,
            "run_id = ?",
            f"""SELECT {sql_literal(run_id)} AS run_id, s.customer_id, o.snapshot_date,
                CAST(s.churn_probability AS DOUBLE) AS churn_probability,
                CAST(s.predicted_churn AS BIGINT) AS predicted_churn,
                CAST({int(info.version)} AS BIGINT) AS model_version,
                CAST({float(threshold)!r} AS DOUBLE) AS threshold,
                {sql_literal(scored_at)} AS scored_at
            FROM {staging} s LEFT JOIN {ONLINE_TABLE} o ON o.customer_id = s.customer_id""",
            where_params=[run_id],
        )
    finally:
        warehouse.execute(f"DROP TABLE IF EXISTS {staging}")
    ref = info.score_reference or {}
    shares = list(ref.get("shares", []))
    return ScoringSummary(
        run_id=run_id, model_version=info.version, model_type=info.model_type, customers=total,
        predicted_churners=positives, mean_score=score_sum / total,
        reference_mean=ref.get("mean"),
        psi=models.psi(shares, bin_counts) if shares else None,
        bin_counts=bin_counts.tolist(), reference_shares=shares, chunks=chunks,
        scored_at=scored_at, threshold=float(threshold), missing_features=missing,
    )
