"""Churn models in plain scikit-learn: two Pipelines, one stratified holdout, cross-validation.

Pipelines carry their own imputation (and scaling for LR), so a model scores raw feature rows with
NULLs exactly as it was evaluated. The holdout (default 20%, stratified) is never seen in fitting
or cross-validation; its metrics are what the registry's champion gate compares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MODEL_KINDS = ("logistic_regression", "random_forest")
# Metrics where smaller is better; every other metric is larger-is-better.
LOWER_IS_BETTER = frozenset({"brier"})
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier")


class ModelDataError(ValueError):
    """The training data cannot support a meaningful model; the message says what is lacking."""


@dataclass(frozen=True)
class Hyperparams:
    """Plain mirror of `configs.ModelConfig`, so this module needs no Dagster."""

    test_size: float = 0.2
    cv_folds: int = 5
    random_state: int = 42
    threshold: float = 0.5
    min_rows: int = 40
    lr_c: float = 1.0
    lr_max_iter: int = 2000
    lr_class_weight: str | None = None
    rf_n_estimators: int = 200
    rf_max_depth: int | None = 8
    rf_min_samples_leaf: int = 5
    n_jobs: int = 1

    @classmethod
    def from_config(cls, config: Any) -> "Hyperparams":
        names = cls.__dataclass_fields__
        return cls(**{k: getattr(config, k) for k in names if hasattr(config, k)})


@dataclass
class TrainedModel:
    kind: str
    pipeline: Any
    features: list[str]
    metrics: dict[str, float]
    cv: dict[str, dict[str, float]]
    holdout_scores: np.ndarray
    importances: dict[str, float]


@dataclass
class TrainingResult:
    models: dict[str, TrainedModel]
    holdout: pd.DataFrame  # customer_id, label_date, churned (+ features) of the held-out rows
    n_train: int
    n_holdout: int
    positives: int
    params: Hyperparams
    features: list[str] = field(default_factory=list)

    def best(self, metric: str = "roc_auc") -> TrainedModel:
        signed(metric, 0.0)  # validates the name before indexing
        return max(self.models.values(), key=lambda m: signed(metric, m.metrics[metric]))


def signed(metric: str, value: float) -> float:
    """The metric oriented so that larger is better."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    return -value if metric in LOWER_IS_BETTER else value


def build_pipeline(kind: str, params: Hyperparams):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    # keep_empty_features: an all-NULL column must not silently shift the feature positions.
    impute = SimpleImputer(strategy="median", keep_empty_features=True)
    if kind == "logistic_regression":
        return Pipeline([
            ("impute", impute),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(
                C=params.lr_c, max_iter=params.lr_max_iter, class_weight=params.lr_class_weight,
                random_state=params.random_state,
            )),
        ])
    if kind == "random_forest":
        return Pipeline([
            ("impute", impute),
            ("model", RandomForestClassifier(
                n_estimators=params.rf_n_estimators, max_depth=params.rf_max_depth,
                min_samples_leaf=params.rf_min_samples_leaf, random_state=params.random_state,
                n_jobs=params.n_jobs,
            )),
        ])
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def evaluate(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Holdout metrics from true labels and churn probabilities."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true).astype(int)
    pred = (np.asarray(scores) >= threshold).astype(int)
    return {
        "accuracy": float(m.accuracy_score(y_true, pred)),
        "precision": float(m.precision_score(y_true, pred, zero_division=0)),
        "recall": float(m.recall_score(y_true, pred, zero_division=0)),
        "f1": float(m.f1_score(y_true, pred, zero_division=0)),
        "roc_auc": float(m.roc_auc_score(y_true, scores)),
        "pr_auc": float(m.average_precision_score(y_true, scores)),
        "brier": float(m.brier_score_loss(y_true, scores)),
    }


def predict_proba(pipeline: Any, frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Churn probability (class 1) for each row; features are taken by name, in model order."""
    X = frame.loc[:, list(features)].astype(float).to_numpy()
    return pipeline.predict_proba(X)[:, 1]


def _validate(df: pd.DataFrame, features: Sequence[str], params: Hyperparams) -> None:
    if not features:
        raise ModelDataError("no features to train on: the catalog has no trainable features")
    missing = [c for c in ("churned", *features) if c not in df.columns]
    if missing:
        raise ModelDataError(f"training data lacks column(s) {missing}")
    n = len(df)
    counts = df["churned"].value_counts().to_dict()
    if n < params.min_rows:
        raise ModelDataError(
            f"only {n} labelled rows; at least min_rows={params.min_rows} are needed to train and "
            "evaluate a model (add label dates or load more events)"
        )
    if len(counts) < 2:
        only = next(iter(counts), None)
        raise ModelDataError(
            f"all {n} labels have churned={only}: a classifier needs both churners and non-churners "
            "(check the horizon and label dates)"
        )
    minority = min(counts.values())
    # Each class needs >= cv_folds rows in the 80% training part and >= 1 in the holdout.
    needed = int(np.ceil(params.cv_folds / (1 - params.test_size))) + 1
    if minority < needed:
        raise ModelDataError(
            f"the rarer class has only {minority} rows (churned counts {counts}); stratified "
            f"{params.cv_folds}-fold CV with a {params.test_size:.0%} holdout needs at least {needed}"
        )


def train_models(
    df: pd.DataFrame, features: Sequence[str], params: Hyperparams | None = None,
    kinds: Sequence[str] = MODEL_KINDS,
) -> TrainingResult:
    """Fit each model kind on the training part, cross-validate it there, score the holdout."""
    from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split

    params = params or Hyperparams()
    features = list(features)
    _validate(df, features, params)
    train, holdout = train_test_split(
        df, test_size=params.test_size, stratify=df["churned"], random_state=params.random_state
    )
    X_train = train[features].astype(float).to_numpy()
    y_train = train["churned"].to_numpy().astype(int)
    y_hold = holdout["churned"].to_numpy().astype(int)
    if len(np.unique(y_hold)) < 2 or len(np.unique(y_train)) < 2:
        raise ModelDataError(
            f"the stratified split left a part with one class (holdout {np.bincount(y_hold).tolist()}); "
            "add labelled rows"
        )
    cv = StratifiedKFold(n_splits=params.cv_folds, shuffle=True, random_state=params.random_state)
    scoring = {"roc_auc": "roc_auc", "pr_auc": "average_precision", "f1": "f1", "brier": "neg_brier_score"}
    models: dict[str, TrainedModel] = {}
    for kind in kinds:
        cv_res = cross_validate(build_pipeline(kind, params), X_train, y_train, cv=cv, scoring=scoring)
        cv_summary = {}
        for name in scoring:
            vals = cv_res[f"test_{name}"] * (-1 if name == "brier" else 1)
            cv_summary[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals))}
        pipeline = build_pipeline(kind, params).fit(X_train, y_train)
        scores = predict_proba(pipeline, holdout, features)
        models[kind] = TrainedModel(
            kind=kind, pipeline=pipeline, features=features,
            metrics=evaluate(y_hold, scores, params.threshold), cv=cv_summary,
            holdout_scores=scores, importances=importances(pipeline, features),
        )
    return TrainingResult(
        models=models, holdout=holdout.reset_index(drop=True), n_train=len(train),
        n_holdout=len(holdout), positives=int(df["churned"].sum()), params=params, features=features,
    )


def importances(pipeline: Any, features: Sequence[str]) -> dict[str, float]:
    """RF impurity importance, or |coefficient| on standardised inputs for LR, normalised to sum 1."""
    est = pipeline.named_steps["model"]
    raw = est.feature_importances_ if hasattr(est, "feature_importances_") else np.abs(est.coef_[0])
    total = float(np.sum(raw)) or 1.0
    return {f: float(v) / total for f, v in zip(features, raw)}


def score_reference(scores: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Decile cut points of holdout scores and the holdout share in each bin: the reference that
    inference compares its score distribution with (prediction drift)."""
    scores = np.asarray(scores, dtype=float)
    cuts = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(cuts, scores, side="right"), minlength=len(cuts) + 1)
    return {"cuts": cuts.tolist(), "shares": (counts / counts.sum()).tolist(), "mean": float(scores.mean())}


def psi(reference_shares: Sequence[float], counts: Sequence[float], eps: float = 1e-4) -> float:
    """Population stability index of observed bin `counts` against reference bin shares."""
    ref = np.clip(np.asarray(reference_shares, dtype=float), eps, None)
    cur = np.asarray(counts, dtype=float)
    cur = np.clip(cur / cur.sum(), eps, None) if cur.sum() else np.full_like(ref, eps)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def metrics_table(models: Mapping[str, TrainedModel]) -> str:
    """Markdown table of holdout metrics and CV mean/std, one row per model."""
    head = "| model | " + " | ".join(METRICS) + " | cv roc_auc | cv pr_auc |"
    sep = "|---" * (len(METRICS) + 3) + "|"
    rows = []
    for kind, m in models.items():
        cells = " | ".join(f"{m.metrics[k]:.4f}" for k in METRICS)
        cv = " | ".join(f"{m.cv[k]['mean']:.4f} ± {m.cv[k]['std']:.4f}" for k in ("roc_auc", "pr_auc"))
        rows.append(f"| {kind} | {cells} | {cv} |")
    return "\n".join([head, sep, *rows])
