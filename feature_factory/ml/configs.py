"""Run configuration for the ML assets: label definition, training-set TTL, hyperparameters and the
promotion gate. Shown (with these descriptions) in the Dagster Launchpad.

Settings the Dagster-free modules also take are one pydantic model there (`models.Hyperparams`);
the Config here inherits its fields, so the run config keeps its flat shape and one copy of each
default and description."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_factory.ml.labels import LabelSettings
from feature_factory.ml.models import Hyperparams


class LabelConfig(dg.Config, LabelSettings):
    # The label definition's fields (horizon_days, label dates, lookback, ...): labels.LabelSettings.
    pass


class TrainingSetConfig(dg.Config):
    ttl_days: int = Field(
        default=7,
        description="Use the newest snapshot dated within [L - ttl_days, L - 1]; older is missing.",
    )


class ModelConfig(dg.Config, Hyperparams):
    # Split, CV, candidates, calibration, feature screening and estimator fields (holdout_share,
    # cv_folds, candidates, calibration*, lr_c, rf_*, hgb_*, ...): models.Hyperparams.
    keep_archived_artifacts: int = Field(
        default=10, description="Keep the model files of the newest N archived versions; older "
        "archived versions keep their registry record but their pickle is deleted.",
    )
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
    require_brier_below_constant: bool = Field(
        default=True,
        description="Refuse to promote a challenger whose holdout Brier score is not below a constant "
        "predictor's (the training set's churn rate for every row): its probabilities would be worse "
        "than the base rate.",
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
