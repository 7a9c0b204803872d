"""Churn models in plain scikit-learn: two Pipelines, an out-of-time holdout, time-ordered CV.

Pipelines carry their own imputation (and scaling for LR), so a model scores raw feature rows with
NULLs exactly as it was evaluated. The holdout is the latest label dates (see `split`), never seen
in fitting or cross-validation, and separated from the training dates by a purge gap; its metrics
(with customer-bootstrap intervals) are what the gate starts from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from feature_factory.ml.split import SplitError, TimeSplit, bootstrap_ci, dates_of, purge_default, time_folds, time_split

MODEL_KINDS = ("logistic_regression", "random_forest")
# Metrics where smaller is better; every other metric is larger-is-better.
LOWER_IS_BETTER = frozenset({"brier"})
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier")


class ModelDataError(ValueError):
    """The training data cannot support a meaningful model; the message says what is lacking."""


class Hyperparams(BaseModel):
    """Split, CV and estimator settings: the one source of their defaults (no Dagster here;
    `configs.ModelConfig` inherits these fields for the Launchpad)."""

    model_config = ConfigDict(frozen=True)

    holdout_share: float = Field(
        default=0.2, description="Out-of-time holdout: the newest label dates holding this share of rows."
    )
    holdout_days: int | None = Field(
        default=None, description="Instead of holdout_share: hold out the label dates of the last N days."
    )
    purge_days: int | None = Field(
        default=None,
        description="Gap between the last training label date and the first holdout date, so no "
        "training outcome window overlaps a holdout label's (None = the labels' horizon_days).",
    )
    cv_folds: int = Field(default=5, description="Expanding-window time-CV folds over training label dates.")
    bootstrap_resamples: int = Field(
        default=200, description="Customer-bootstrap resamples for the holdout metrics' 95% intervals."
    )
    random_state: int = Field(default=42, description="Seed for the split, CV and forests.")
    threshold: float = Field(default=0.5, description="Probability at or above which churn is predicted.")
    min_rows: int = Field(default=40, description="Refuse to train on fewer labelled rows.")
    lr_c: float = Field(default=1.0, description="LogisticRegression inverse regularisation C.")
    lr_max_iter: int = Field(default=2000, description="LogisticRegression max iterations.")
    lr_class_weight: str | None = Field(
        default=None, description="LogisticRegression class_weight (None or 'balanced')."
    )
    rf_n_estimators: int = Field(default=200, description="RandomForest trees.")
    rf_max_depth: int | None = Field(default=8, description="RandomForest max depth (None = unlimited).")
    rf_min_samples_leaf: int = Field(default=5, description="RandomForest min samples per leaf.")
    n_jobs: int = Field(default=1, description="Parallel jobs for the forest.")

    @classmethod
    def from_config(cls, config: Any) -> "Hyperparams":
        """Just the hyperparameters of a config (or any object) carrying these fields."""
        return cls(**{k: getattr(config, k) for k in cls.model_fields if hasattr(config, k)})


@dataclass
class TrainedModel:
    kind: str
    pipeline: Any
    features: list[str]
    metrics: dict[str, float]
    cv: dict[str, dict[str, float]]
    holdout_scores: np.ndarray
    importances: dict[str, float]
    ci: dict[str, list[float]] = field(default_factory=dict)  # 95% bootstrap interval per metric


@dataclass
class TrainingResult:
    models: dict[str, TrainedModel]
    holdout: pd.DataFrame  # customer_id, label_date, churned (+ features) of the held-out rows
    n_train: int
    n_holdout: int
    positives: int
    params: Hyperparams
    features: list[str] = field(default_factory=list)
    split: TimeSplit | None = None
    n_purged: int = 0

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
    missing = [c for c in ("customer_id", "label_date", "churned", *features) if c not in df.columns]
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


def train_models(
    df: pd.DataFrame, features: Sequence[str], params: Hyperparams | None = None,
    kinds: Sequence[str] = MODEL_KINDS, horizon_days: int | None = None,
) -> TrainingResult:
    """Fit each model kind on the training dates, cross-validate it by time there, score the
    out-of-time holdout (with bootstrap intervals)."""
    from sklearn.model_selection import cross_validate

    params = params or Hyperparams()
    features = list(features)
    _validate(df, features, params)
    try:
        purge = purge_default(horizon_days, params.purge_days)
        split = time_split(df["label_date"], holdout_share=params.holdout_share,
                           holdout_days=params.holdout_days, purge_days=purge)
    except SplitError as exc:
        raise ModelDataError(str(exc)) from exc
    train = dates_of(df, split.train_dates).reset_index(drop=True)
    holdout = dates_of(df, split.holdout_dates).reset_index(drop=True)
    y_train = train["churned"].to_numpy().astype(int)
    y_hold = holdout["churned"].to_numpy().astype(int)
    for part, y in (("training", y_train), ("holdout", y_hold)):
        if len(np.unique(y)) < 2:
            raise ModelDataError(
                f"the out-of-time split ({split.describe()}) left the {part} part with one class "
                f"({np.bincount(y, minlength=2).tolist()} non-churned/churned); add label dates"
            )
    if len(train) < params.min_rows // 2:
        raise ModelDataError(
            f"only {len(train)} training rows after the out-of-time split ({split.describe()}); "
            "load more history, shorten horizon_days or purge_days, or hold out less"
        )
    X_train = train[features].astype(float).to_numpy()
    # Only folds whose training part has both classes can be fitted.
    folds = [(tr, te) for tr, te in time_folds(train["label_date"], params.cv_folds, purge)
             if len(np.unique(y_train[tr])) == 2 and len(np.unique(y_train[te])) == 2]
    scoring = {"roc_auc": "roc_auc", "pr_auc": "average_precision", "f1": "f1", "brier": "neg_brier_score"}
    models: dict[str, TrainedModel] = {}
    for kind in kinds:
        cv_summary = {}
        if folds:
            cv_res = cross_validate(build_pipeline(kind, params), X_train, y_train, cv=folds, scoring=scoring)
            for name in scoring:
                vals = cv_res[f"test_{name}"] * (-1 if name == "brier" else 1)
                cv_summary[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)),
                                    "folds": len(folds)}
        pipeline = build_pipeline(kind, params).fit(X_train, y_train)
        scores = predict_proba(pipeline, holdout, features)
        models[kind] = TrainedModel(
            kind=kind, pipeline=pipeline, features=features,
            metrics=evaluate(y_hold, scores, params.threshold), cv=cv_summary,
            holdout_scores=scores, importances=importances(pipeline, features),
            ci=bootstrap_ci(y_hold, scores, holdout["customer_id"].to_numpy(),
                            n_resamples=params.bootstrap_resamples, seed=params.random_state),
        )
    return TrainingResult(
        models=models, holdout=holdout, n_train=len(train), n_holdout=len(holdout),
        positives=int(df["churned"].sum()), params=params, features=features, split=split,
        n_purged=len(df) - len(train) - len(holdout),
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


SHORT = {"logistic_regression": "LR", "random_forest": "RF"}


def metrics_table(models: Mapping[str, TrainedModel], metric: str = "roc_auc") -> str:
    """Markdown table, one row per metric and one column per model, so it stays narrow: holdout
    value with its 95% bootstrap interval where there is one, then time-CV mean ± std. The
    promotion metric comes first and is marked."""
    kinds = list(models)
    head = "| metric | " + " | ".join(SHORT.get(k, k) for k in kinds) + " |"
    sep = "|---" * (len(kinds) + 1) + "|"
    order = [metric, *[m for m in METRICS if m != metric]]
    rows = []
    for name in order:
        cells = []
        for k in kinds:
            m = models[k]
            ci = m.ci.get(name)
            cells.append(f"{m.metrics[name]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
        label = f"**{name}** (gate)" if name == metric else name
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    for name in ("roc_auc", "pr_auc"):
        cells = [f"{models[k].cv[name]['mean']:.3f} ± {models[k].cv[name]['std']:.3f}"
                 if name in models[k].cv else "n/a" for k in kinds]
        rows.append(f"| time-CV {name} | " + " | ".join(cells) + " |")
    legend = ", ".join(f"{SHORT[k]} = {k}" for k in kinds if k in SHORT)
    return "\n".join([head, sep, *rows]) + (f"\n\n{legend}; [95% customer-bootstrap interval]" if legend else "")
