"""Run configuration for the ML assets: label definition, training-set TTL, hyperparameters and the
promotion gate. Shown (with these descriptions) in the Dagster Launchpad."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class LabelConfig(dg.Config):
    label_dates: list[str] = Field(
        default_factory=list,
        description="Explicit label dates (YYYY-MM-DD). Empty: every `every_days` days in "
        "[first_label_date, last_label_date].",
    )
    first_label_date: str | None = Field(
        default=None, description="First label date; default first event day + min_history_days."
    )
    last_label_date: str | None = Field(
        default=None, description="Last label date; default the latest with a complete outcome window."
    )
    every_days: int = Field(default=7, description="Spacing of generated label dates, in days.")
    horizon_days: int = Field(
        default=14,
        description="Churned = no purchase on days [L, L + horizon_days). Also the default purge gap "
        "of the out-of-time split, so 90 days of events leave room for training and holdout dates.",
    )
    activity_lookback_days: int = Field(
        default=90, description="Eligible at L = any event on days [L - lookback, L - 1]."
    )
    min_history_days: int = Field(
        default=28, description="Default first label date is this many days after the first event."
    )


class TrainingSetConfig(dg.Config):
    ttl_days: int = Field(
        default=7,
        description="Use the newest snapshot dated within [L - ttl_days, L - 1]; older is missing.",
    )


class ModelConfig(dg.Config):
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
    keep_archived_artifacts: int = Field(
        default=10, description="Keep the model files of the newest N archived versions; older "
        "archived versions keep their registry record but their pickle is deleted.",
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
    promotion_metric: str = Field(
        default="roc_auc",
        description="Holdout metric that picks the challenger and gates promotion "
        "(accuracy, precision, recall, f1, roc_auc, pr_auc, brier; brier: lower is better).",
    )
    promotion_margin: float = Field(
        default=0.005,
        description="The challenger must beat the champion, both scored on the same holdout rows "
        "neither trained on, by at least this.",
    )
    min_promotion_score: float | None = Field(
        default=0.5,
        description="Never promote a challenger below this metric value (None = off; ignored for brier).",
    )


class InferenceConfig(dg.Config):
    chunk_rows: int = Field(default=50_000, description="Online rows scored per chunk (bounded memory).")
    threshold: float | None = Field(
        default=None, description="Override the champion's decision threshold (None = the model's)."
    )
    shadow: bool = Field(
        default=True, description="Also score every customer with the current challenger (role 'shadow')."
    )
    as_of: str | None = Field(
        default=None, description="Backtest: score the customer_features snapshot of this day "
        "(YYYY-MM-DD, patched) instead of the online table; model_performance measures it once "
        "that day's outcome window has passed.",
    )


class PerformanceConfig(dg.Config):
    horizon_days: int | None = Field(
        default=None, description="Outcome window of a scoring date (None = churn_labels' horizon_days, else 14)."
    )
    activity_lookback_days: int = Field(
        default=90, description="Customers count only if active in these days before the label date "
        "(the churn_labels eligibility rule)."
    )


class ChampionConfig(dg.Config):
    promotion_basis: str = Field(
        default="holdout",
        description="holdout: promote when churn_model's gate passed (same unseen holdout rows). "
        "realized: promote when the challenger's shadow scores beat the champion's realized ROC AUC "
        "(model_performance) on the same matured scoring dates by the gate's margin.",
    )
    min_realized_dates: int = Field(
        default=1, description="realized basis: matured scoring dates both models must share first."
    )
