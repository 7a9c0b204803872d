"""One training round: read the training set, fit both models out of time, register them
(idempotently), pick the challenger and record its promotion gate against the current champion.

The gate compares champion and challenger on the SAME rows that NEITHER trained on: the challenger's
out-of-time holdout restricted to label dates at least the purge gap after the champion's last
training label date. A random holdout would be made of rows the champion trained on, inflating the
champion and making a retrain almost never win. With no such rows (the champion was trained on
data at least as recent, or its features are gone), the gate falls back to comparing each model's
own out-of-time holdout metric and says so in `champion_scored_on`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from feature_factory import tables
from feature_factory.ml import models, plots
from feature_factory.ml.registry import ModelRegistry, ModelVersion, gate_decision
from feature_factory.ml.training_set import feature_columns, load_training_frame

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse


@dataclass
class TrainingRound:
    result: models.TrainingResult
    versions: dict[str, ModelVersion]  # model kind -> registered version
    challenger: ModelVersion
    gate: dict[str, Any]
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


def horizon_of_labels(warehouse: Warehouse) -> int | None:
    """The outcome window the churn labels were built with (the default purge gap)."""
    if not warehouse.table_exists(tables.CHURN_LABELS.name):
        return None
    if "horizon_days" not in {c for c, _ in warehouse.columns(tables.CHURN_LABELS.name)}:
        return None
    row = warehouse.fetch_one(f"SELECT MAX(horizon_days) FROM {tables.CHURN_LABELS.name}")
    return int(row[0]) if row and row[0] is not None else None


def champion_train_end(champ: ModelVersion) -> dt.date | None:
    """The last label date the champion was FIT on (older records only know their whole window)."""
    w = champ.training_window or {}
    last = w.get("train_last_label_date") or w.get("last_label_date")
    return dt.date.fromisoformat(str(last)[:10]) if last else None


def fair_rows(holdout: pd.DataFrame, champ: ModelVersion, purge_days: int) -> tuple[pd.DataFrame, str]:
    """The challenger's holdout rows the champion never trained on: label dates at least
    `purge_days` after the champion's last training label date, so not even an outcome window is
    shared. Empty (with the reason) when there are none or the champion's features are gone."""
    if not set(champ.features) <= set(holdout.columns):
        gone = sorted(set(champ.features) - set(holdout.columns))
        return holdout.iloc[0:0], f"the champion's feature(s) {gone} are no longer in the training set"
    champ_end = champion_train_end(champ)
    if champ_end is None:
        return holdout.iloc[0:0], "the champion's training window is not recorded"
    first_ok = champ_end + dt.timedelta(days=purge_days)
    rows = holdout[holdout["label_date"] >= first_ok]
    if rows.empty:
        return rows, (f"the champion trained through {champ_end}; no holdout label date is on or after "
                      f"{first_ok} (purge {purge_days} days)")
    if rows["churned"].nunique() < 2:
        return rows.iloc[0:0], f"the {len(rows)} rows after the champion's training window hold one class"
    return rows, ""


def gate_round(
    registry: ModelRegistry, best: models.TrainedModel, holdout: pd.DataFrame, *, metric: str,
    margin: float, min_score: float | None, purge_days: int, threshold: float,
) -> dict[str, Any]:
    """The gate record: champion and challenger scored on the same rows neither trained on; when
    there are none, each model's own out-of-time holdout metric, said so in `scored_on`."""
    champ = registry.champion()
    challenger_value = best.metrics[metric]
    champion_value, scored_on, fair, rows_n = None, "", False, len(holdout)
    if champ is not None:
        rows, why_not = fair_rows(holdout, champ, purge_days)
        if not rows.empty:
            pipeline, _ = registry.load(champ.version)
            y = rows["churned"].to_numpy()
            champion_value = models.evaluate(y, models.predict_proba(pipeline, rows, champ.features), threshold)[metric]
            challenger_value = models.evaluate(y, models.predict_proba(best.pipeline, rows, best.features), threshold)[metric]
            fair, rows_n = True, len(rows)
            scored_on = (f"the same {len(rows)} holdout rows (label dates {min(rows['label_date'])}.."
                         f"{max(rows['label_date'])}) that neither model trained on")
        else:
            # Explicit fallback: not the same rows, so weaker evidence; the record says so.
            champion_value = champ.metrics.get(metric)
            scored_on = (f"each model's own out-of-time holdout, NOT the same rows ({why_not})")
    passed, reason = gate_decision(
        metric, models.signed(metric, challenger_value),
        None if champion_value is None else models.signed(metric, champion_value), margin,
        None if metric in models.LOWER_IS_BETTER else min_score,
    )
    if champ is None:
        reason = f"first model: {metric} {challenger_value:.4f} on its out-of-time holdout" + (
            f" (minimum {min_score:g})" if min_score is not None and metric not in models.LOWER_IS_BETTER else "")
        scored_on = "its own out-of-time holdout (no champion to compare with)"
        if not passed:
            reason += ": below the minimum"
    return {
        "metric": metric, "margin": margin, "min_score": min_score,
        "challenger_score": challenger_value,
        "champion_version": champ.version if champ else None,
        "champion_score": champion_value, "champion_scored_on": scored_on,
        "same_rows": fair, "rows": rows_n, "passed": passed, "reason": reason,
    }


def brier_gate(gate: dict[str, Any], brier: float, constant: float, base_rate: float) -> dict[str, Any]:
    """The gate record, refused when the challenger's holdout Brier score is not below that of a
    constant predictor at the training base rate: such probabilities are worse than knowing only
    the churn rate, whatever the ranking metric says."""
    gate = {**gate, "brier": brier, "brier_constant": constant}
    if brier < constant:
        return gate
    why = (f"Brier {brier:.4f} is not below the constant predictor's {constant:.4f} (the training "
           f"churn rate {base_rate:.3f} for every holdout row): its probabilities are worse than the base rate")
    return {**gate, "passed": False, "brier_refused": True, "reason": f"{why}; {gate['reason']}"}


def train_round(
    warehouse: Warehouse,
    params: models.Hyperparams,
    *,
    metric: str = "roc_auc",
    margin: float = 0.005,
    min_score: float | None = 0.5,
    features: list[str] | None = None,
    registry: ModelRegistry | None = None,
    keep_archived: int | None = None,
    kinds: tuple[str, ...] | None = None,
    horizon_days: int | None = None,
    brier_below_constant: bool = True,
    training_snapshot: str = "",
) -> TrainingRound:
    models.signed(metric, 0.0)  # unknown metric: fail before any work
    registry = registry or ModelRegistry()
    # The training set fixes the features (built from the catalog's trainable ones), so a catalog
    # edit between the two steps cannot make them disagree.
    features = features if features is not None else feature_columns(warehouse)
    df = load_training_frame(warehouse, features)
    horizon = horizon_days if horizon_days is not None else horizon_of_labels(warehouse)
    return train_frame(df, features, params, registry, metric=metric, margin=margin,
                       min_score=min_score, keep_archived=keep_archived, kinds=kinds, horizon_days=horizon,
                       brier_below_constant=brier_below_constant, training_snapshot=training_snapshot)


def train_frame(
    df: pd.DataFrame, features: list[str], params: models.Hyperparams, registry: ModelRegistry, *,
    metric: str = "roc_auc", margin: float = 0.005, min_score: float | None = 0.5,
    keep_archived: int | None = None, kinds: tuple[str, ...] | None = None,
    horizon_days: int | None = None, render: bool = True, brier_below_constant: bool = True,
    training_snapshot: str = "",
) -> TrainingRound:
    """The round on an already loaded training frame (what train_round does after reading it);
    `render=False` skips the plots (measurements over many rounds)."""
    result = models.train_models(df, features, params, kinds=kinds, horizon_days=horizon_days)
    split = result.split
    assert split is not None
    version = data_version(df, features)
    window = {
        "first_label_date": str(min(df["label_date"])),
        "last_label_date": str(max(df["label_date"])),
        "train_last_label_date": str(split.train_last),
        "holdout_first_label_date": str(split.holdout_first),
        "purge_days": split.purge_days,
        "rows": len(df),
        "n_train": result.n_train,
        "n_purged": result.n_purged,
        "n_holdout": result.n_holdout,
        "positives": result.positives,
        "base_rate": result.base_rate,
    }
    params_dict = params.model_dump()
    registered = {
        kind: registry.register(
            m.pipeline, model_type=kind, features=m.features, training_window=window,
            metrics={**m.metrics, "brier_constant": result.constant_brier}, cv=m.cv, ci=m.ci,
            data_version=version, params=params_dict,
            threshold=params.threshold, score_reference=models.score_reference(m.holdout_scores),
            dropped_features=result.dropped_features, calibration=result.calibration,
            training_snapshot=training_snapshot,
        )
        for kind, m in result.models.items()
    }
    best = result.best(metric)
    chosen = registered[best.kind]
    champ = registry.champion()
    if champ is not None and chosen.version == champ.version:
        # Same data, params and code as the champion: nothing new to gate or promote.
        gate = {"metric": metric, "margin": margin, "min_score": min_score,
                "challenger_score": best.metrics[metric], "champion_version": champ.version,
                "champion_score": champ.metrics.get(metric), "champion_scored_on": "not scored: the same model",
                "same_rows": True, "rows": result.n_holdout, "passed": True, "identical": True,
                "reason": f"identical to champion v{champ.version} (same data, params and code): kept"}
        registry.record_round(chosen.version, gate)
    else:
        gate = gate_round(registry, best, result.holdout, metric=metric, margin=margin,
                          min_score=min_score, purge_days=split.purge_days, threshold=params.threshold)
        if brier_below_constant:
            gate = brier_gate(gate, best.metrics["brier"], result.constant_brier, result.base_rate)
    for kind, v in registered.items():
        if kind != best.kind and registry.get(v.version).status != "champion":
            registry.archive(v.version, f"lost to {best.kind} on {metric}")
    challenger = chosen if gate.get("identical") else registry.mark_challenger(chosen.version, gate)
    if keep_archived is not None:
        registry.prune(keep_archived)
    rendered = plots.render_plots(
        result.holdout["churned"].to_numpy(),
        {k: m.holdout_scores for k, m in result.models.items()},
        {k: m.importances for k, m in result.models.items()},
        threshold=params.threshold, base_rate=result.base_rate,
    ) if render else {}
    return TrainingRound(
        result, {k: registry.get(v.version) for k, v in registered.items()}, registry.get(challenger.version),
        gate, rendered, version,
    )
