"""One training round: read the training set, fit both models, register them, pick the challenger
and record its promotion gate against the current champion, scored on the SAME holdout (so the
comparison is between models, not between data sets)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from feature_factory.ml import models, plots
from feature_factory.ml.oracle import Oracle, oracle_on_holdout
from feature_factory.ml.registry import ModelRegistry, ModelVersion, gate_decision
from feature_factory.ml.training_set import feature_columns, load_training_frame
from feature_factory.warehouse.base import Warehouse


@dataclass
class TrainingRound:
    result: models.TrainingResult
    versions: dict[str, ModelVersion]  # model kind -> registered version
    challenger: ModelVersion
    gate: dict[str, Any]
    oracle: Oracle | None
    plots: dict[str, bytes]
    data_version: str


def data_version(df: pd.DataFrame, features: list[str]) -> str:
    """Hash of a summary of the training set: shape, label balance, label window and each feature's
    count/sum, so the same data (on any backend) gives the same version."""
    summary = {
        "rows": len(df),
        "churned": int(df["churned"].sum()),
        "label_dates": sorted({str(d) for d in df["label_date"]}),
        "customers": int(df["customer_id"].nunique()),
        "features": {f: [int(df[f].notna().sum()), round(float(df[f].sum()), 6)] for f in features},
    }
    return hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()[:16]


def champion_on_holdout(
    registry: ModelRegistry, holdout: pd.DataFrame
) -> tuple[ModelVersion | None, dict[str, float] | None, str]:
    champ = registry.champion()
    if champ is None:
        return None, None, ""
    if set(champ.features) <= set(holdout.columns):
        pipeline, _ = registry.load(champ.version)
        scores = models.predict_proba(pipeline, holdout, champ.features)
        return champ, models.evaluate(holdout["churned"].to_numpy(), scores, champ.threshold), "same holdout"
    # Its features are no longer all trainable: only its own recorded holdout metrics remain.
    return champ, dict(champ.metrics), "its own holdout (feature set changed)"


def train_round(
    warehouse: Warehouse,
    params: models.Hyperparams,
    *,
    metric: str = "roc_auc",
    margin: float = 0.005,
    min_score: float | None = 0.5,
    features: list[str] | None = None,
    registry: ModelRegistry | None = None,
) -> TrainingRound:
    models.signed(metric, 0.0)  # unknown metric: fail before any work
    registry = registry or ModelRegistry()
    # The training set fixes the features (built from the catalog's trainable ones), so a catalog
    # edit between the two steps cannot make them disagree.
    features = features if features is not None else feature_columns(warehouse)
    df = load_training_frame(warehouse, features)
    result = models.train_models(df, features, params)
    version = data_version(df, features)
    window = {
        "first_label_date": str(min(df["label_date"])),
        "last_label_date": str(max(df["label_date"])),
        "rows": len(df),
        "n_train": result.n_train,
        "n_holdout": result.n_holdout,
        "positives": result.positives,
    }
    params_dict = {k: getattr(params, k) for k in params.__dataclass_fields__}
    registered = {
        kind: registry.register(
            m.pipeline, model_type=kind, features=features, training_window=window,
            metrics=m.metrics, cv=m.cv, data_version=version, params=params_dict,
            threshold=params.threshold, score_reference=models.score_reference(m.holdout_scores),
        )
        for kind, m in result.models.items()
    }
    best = result.best(metric)
    champ, champ_metrics, scored_on = champion_on_holdout(registry, result.holdout)
    challenger_value = best.metrics[metric]
    champion_value = champ_metrics[metric] if champ_metrics else None
    passed, reason = gate_decision(
        metric,
        models.signed(metric, challenger_value),
        None if champion_value is None else models.signed(metric, champion_value),
        margin,
        None if metric in models.LOWER_IS_BETTER else min_score,
    )
    gate = {
        "metric": metric, "margin": margin, "min_score": min_score,
        "challenger_score": challenger_value,
        "champion_version": champ.version if champ else None,
        "champion_score": champion_value, "champion_scored_on": scored_on,
        "champion_metrics": champ_metrics, "passed": passed, "reason": reason,
    }
    for kind, v in registered.items():
        if kind != best.kind:
            registry.archive(v.version, f"lost to {best.kind} on {metric}")
    challenger = registry.mark_challenger(registered[best.kind].version, gate)
    oracle = oracle_on_holdout(result.holdout)
    rendered = plots.render_plots(
        result.holdout["churned"].to_numpy(),
        {k: m.holdout_scores for k, m in result.models.items()},
        {k: m.importances for k, m in result.models.items()},
        threshold=params.threshold,
        oracle_scores=oracle.scores if oracle and oracle.unmatched == 0 else None,
    )
    return TrainingRound(
        result, {k: registry.get(v.version) for k, v in registered.items()}, challenger, gate,
        oracle, rendered, version,
    )
