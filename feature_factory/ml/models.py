"""Churn models in plain scikit-learn: candidate Pipelines (logistic regression, random forest,
histogram gradient boosting), an out-of-time holdout, time-ordered CV, calibration on the newest
training dates.

Pipelines carry their own imputation (and scaling for LR; gradient boosting takes NULLs natively),
so a model scores raw feature rows with NULLs exactly as it was evaluated. Before fitting,
constant and (near-)identical features are dropped (`screening`), each with its reason. The holdout
is the latest label dates (see `split`), never seen in fitting, calibration or cross-validation,
and separated from the training dates by a purge gap; its metrics (with customer-bootstrap
intervals), beside those of a constant predictor at the training base rate, are what the gate
starts from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from feature_factory.ml import calibration as calib
from feature_factory.ml.screening import screen_features
from feature_factory.ml.split import (
    SplitError, TimeSplit, bootstrap_ci, dates_of, plan_time_folds, purge_default, time_split,
)

MODEL_KINDS = ("logistic_regression", "random_forest", "hist_gradient_boosting")
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
    candidates: list[str] = Field(
        default_factory=lambda: list(MODEL_KINDS),
        description="Model kinds trained each round; the best on the promotion metric becomes challenger "
        "(logistic_regression, random_forest, hist_gradient_boosting).",
    )
    hgb_max_iter: int = Field(default=200, description="HistGradientBoosting boosting iterations (trees).")
    hgb_learning_rate: float = Field(default=0.05, description="HistGradientBoosting learning rate.")
    hgb_max_leaf_nodes: int = Field(default=15, description="HistGradientBoosting leaves per tree.")
    hgb_min_samples_leaf: int = Field(
        default=40, description="HistGradientBoosting min rows per leaf (larger: smoother, less overfit)."
    )
    hgb_l2_regularization: float = Field(default=1.0, description="HistGradientBoosting L2 penalty on leaf values.")
    calibration: str = Field(
        default="auto",
        description="Probability calibration on the newest training label dates: auto (isotonic when the "
        "slice has isotonic_min_rows rows, else sigmoid), isotonic, sigmoid, or none.",
    )
    calibration_share: float = Field(
        default=0.2, description="Calibration slice: the newest training label dates holding this share "
        "of the training rows (the estimator is fitted on the earlier dates).",
    )
    calibration_purge_days: int | None = Field(
        default=0,
        description="Gap between the last date the estimator is fitted on and the calibration slice "
        "(None = the holdout's purge gap, i.e. the label horizon; 0 = none: more recent fitting data, "
        "at the cost of outcome windows shared between fitted and calibration labels).",
    )
    calibration_refit: bool = Field(
        default=True,
        description="After the calibration map is learned, refit the estimator on every training date (the "
        "newest included) and apply the map to it: the newest dates shape the ranking (after a shift they "
        "are the ones that know it), at the cost of a map learned on a fit without them.",
    )
    isotonic_min_rows: int = Field(
        default=1000, description="auto calibration: isotonic from this many calibration rows, sigmoid below."
    )
    drop_constant_features: bool = Field(
        default=True, description="Drop features with one value (or all NULL) on the training rows; listed "
        "in the model's metadata.",
    )
    max_feature_correlation: float | None = Field(
        default=0.995,
        description="Drop a feature whose |Pearson r| with an earlier kept feature reaches this (NULL on the "
        "same rows); exact copies are always dropped; None = only exact copies.",
    )

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
    calibration: str = "none"  # isotonic | sigmoid | none


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
    dropped_features: dict[str, str] = field(default_factory=dict)  # feature -> why it was not trained on
    cv_note: str = ""  # why fewer time-CV folds ran than asked (empty: all ran)
    calibration: str = ""  # how the probabilities were calibrated (calibration.CalibrationPlan.describe)
    constant_brier: float = float("nan")  # holdout Brier of predicting the training base rate everywhere
    base_rate: float = float("nan")  # churn rate of the training rows

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
    if kind == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        # No imputer: the trees route NULLs natively (a missing value can carry signal).
        # No early stopping: it would hold out a random, not time-ordered, slice.
        return Pipeline([("model", HistGradientBoostingClassifier(
            max_iter=params.hgb_max_iter, learning_rate=params.hgb_learning_rate,
            max_leaf_nodes=params.hgb_max_leaf_nodes, min_samples_leaf=params.hgb_min_samples_leaf,
            l2_regularization=params.hgb_l2_regularization, early_stopping=False,
            random_state=params.random_state,
        ))])
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


def threads(n: int):
    """Cap the OpenMP/BLAS threads of what runs inside (gradient boosting is OpenMP-parallel): on a
    shared or busy machine, threads spinning for cores held by other processes made one 200-tree
    fit on 1,200 rows take 27 s instead of 0.3 s."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, int(n)))


def predict_proba(pipeline: Any, frame: pd.DataFrame, features: Sequence[str], n_threads: int = 1) -> np.ndarray:
    """Churn probability (class 1) for each row; features are taken by name, in model order."""
    X = frame.loc[:, list(features)].astype(float).to_numpy()
    with threads(n_threads):
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
    kinds: Sequence[str] | None = None, horizon_days: int | None = None,
) -> TrainingResult:
    """Fit each candidate kind on the training dates (calibrated on the newest of them), cross-
    validate it by time there, score the out-of-time holdout (with bootstrap intervals)."""
    params = params or Hyperparams()
    kinds = list(kinds if kinds is not None else params.candidates)
    unknown = [k for k in kinds if k not in MODEL_KINDS]
    if unknown or not kinds:
        raise ValueError(f"candidates {unknown or kinds}: choose from {', '.join(MODEL_KINDS)}")
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
    screened = screen_features(train, features, drop_constant=params.drop_constant_features,
                               max_correlation=params.max_feature_correlation)
    used = screened.kept
    if not used:
        raise ModelDataError(
            f"every feature was dropped before training ({screened.dropped}): the training rows give the "
            "model nothing that varies; check the features' windows and the label dates")
    plan = plan_time_folds(train["label_date"], params.cv_folds, purge)
    # A fold with one class in either part cannot be scored: skipped, and said so.
    folds = [(tr, te) for tr, te in plan.folds
             if len(np.unique(y_train[tr])) == 2 and len(np.unique(y_train[te])) == 2]
    cv_note = plan.note
    if len(folds) < len(plan.folds):
        cv_note = "; ".join(filter(None, [cv_note, f"{len(plan.folds) - len(folds)} fold(s) skipped: one class "
                                          "in the fold's training or validation dates"]))
    cal = calib.plan_calibration(
        train, method=params.calibration, share=params.calibration_share,
        purge_days=purge if params.calibration_purge_days is None else params.calibration_purge_days,
        isotonic_min_rows=params.isotonic_min_rows)
    base_rate = float(y_train.mean())
    scoring = {"roc_auc": "roc_auc", "pr_auc": "average_precision", "f1": "f1", "brier": "neg_brier_score"}
    models: dict[str, TrainedModel] = {}
    for kind in kinds:
        with threads(params.n_jobs):
            models[kind] = _fit_kind(kind, params, train, holdout, used, folds, cal, scoring)
    return TrainingResult(
        models=models, holdout=holdout, n_train=len(train), n_holdout=len(holdout),
        positives=int(df["churned"].sum()), params=params, features=used, split=split,
        n_purged=len(df) - len(train) - len(holdout), dropped_features=screened.dropped,
        cv_note=cv_note, base_rate=base_rate,
        calibration=cal.describe() + ("; then refitted on every training date (calibration_refit)"
                                      if cal.method != "none" and params.calibration_refit else ""),
        constant_brier=float(np.mean((base_rate - y_hold) ** 2)),
    )


def _fit_kind(kind: str, params: Hyperparams, train: pd.DataFrame, holdout: pd.DataFrame, used: list[str],
              folds: list, cal: "calib.CalibrationPlan", scoring: dict[str, str]) -> TrainedModel:
    """One candidate: time CV (uncalibrated estimator), fit on the fitting dates, calibrate on the
    slice, score the holdout."""
    from sklearn.model_selection import cross_validate

    X_train = train[used].astype(float).to_numpy()
    y_train = train["churned"].to_numpy().astype(int)
    y_hold = holdout["churned"].to_numpy().astype(int)
    fit_rows = train["label_date"].isin(set(cal.fit_dates)).to_numpy()
    cal_rows = train["label_date"].isin(set(cal.calibration_dates)).to_numpy()
    cv_summary = {}
    if folds:
        cv_res = cross_validate(build_pipeline(kind, params), X_train, y_train, cv=folds, scoring=scoring)
        for name in scoring:
            vals = cv_res[f"test_{name}"] * (-1 if name == "brier" else 1)
            cv_summary[name] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)),
                                "folds": len(folds), "requested": params.cv_folds}
    pipeline = build_pipeline(kind, params).fit(X_train[fit_rows], y_train[fit_rows])
    model = pipeline
    if cal.method != "none":
        model = calib.calibrate(pipeline, X_train[cal_rows], y_train[cal_rows], cal.method)
        if params.calibration_refit:
            pipeline = build_pipeline(kind, params).fit(X_train, y_train)
            model = calib.swap_estimator(model, pipeline)
    scores = predict_proba(model, holdout, used, params.n_jobs)
    return TrainedModel(
        kind=kind, pipeline=model, features=used,
        metrics=evaluate(y_hold, scores, params.threshold), cv=cv_summary,
        holdout_scores=scores,
        importances=importances(pipeline, used, X_train, y_train, params.random_state),
        ci=bootstrap_ci(y_hold, scores, holdout["customer_id"].to_numpy(),
                        n_resamples=params.bootstrap_resamples, seed=params.random_state),
        calibration=cal.method,
    )


def importances(pipeline: Any, features: Sequence[str], X: np.ndarray | None = None,
                y: np.ndarray | None = None, seed: int = 0) -> dict[str, float]:
    """RF impurity importance, |coefficient| on standardised inputs for LR, or (gradient boosting,
    which has neither) the ROC AUC lost when a feature is permuted on up to 5,000 of the rows it
    was fitted on; normalised to sum 1."""
    est = calib.base_estimator(pipeline).named_steps["model"]
    if hasattr(est, "feature_importances_"):
        raw = est.feature_importances_
    elif hasattr(est, "coef_"):
        raw = np.abs(est.coef_[0])
    elif X is not None and y is not None:
        from sklearn.inspection import permutation_importance

        rng = np.random.default_rng(seed)
        take = rng.choice(len(X), size=min(len(X), 5000), replace=False)
        res = permutation_importance(calib.base_estimator(pipeline), X[take], y[take], scoring="roc_auc",
                                     n_repeats=3, random_state=seed)
        raw = np.clip(res.importances_mean, 0, None)
    else:
        raw = np.zeros(len(features))
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


SHORT = {"logistic_regression": "LR", "random_forest": "RF", "hist_gradient_boosting": "HGB"}


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
