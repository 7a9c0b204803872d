"""Issue 26 item 2, on values: feature screening, time CV that runs every fold it promises,
calibration on the newest training dates after a base-rate shift, and the Brier gate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from ml_helpers import synthetic_frame

from feature_factory.ml import models, training
from feature_factory.ml.calibration import plan_calibration
from feature_factory.ml.registry import ModelRegistry
from feature_factory.ml.screening import screen_features
from feature_factory.ml.split import plan_time_folds

FAST = models.Hyperparams(cv_folds=3, rf_n_estimators=25, hgb_max_iter=50, min_rows=20, purge_days=14,
                          bootstrap_resamples=0)


def test_constant_and_copied_features_are_dropped_and_listed():
    df = synthetic_frame(240)
    df["zero"] = 0.0
    df["blank"] = np.nan
    df["copy"] = df["f_count"]
    df["scaled"] = df["f_amount"] * 2 + 1  # r = 1 with f_amount, NULL on the same rows
    df["related"] = df["f_count"] + np.random.default_rng(99).normal(scale=3, size=len(df))  # r ~ 0.7: kept
    features = ["f_count", "f_amount", "zero", "blank", "copy", "scaled", "related"]
    res = models.train_models(df, features, FAST, kinds=["logistic_regression"])
    assert res.features == ["f_count", "f_amount", "related"]
    assert res.dropped_features == {
        "zero": "constant: 0 on every training row", "blank": "constant: always NULL",
        "copy": "identical to f_count on every training row",
        "scaled": "near-identical to f_amount (Pearson r = 1.0000, limit 0.995)",
    }
    assert res.models["logistic_regression"].features == res.features
    assert list(res.models["logistic_regression"].importances) == res.features
    # Off: only exact copies go.
    off = screen_features(df, features, drop_constant=False, max_correlation=None)
    assert off.kept == ["f_count", "f_amount", "zero", "blank", "scaled", "related"]
    assert off.dropped == {"copy": "identical to f_count on every training row"}  # exact copies: always


def test_a_one_sided_null_column_is_not_constant():
    df = pd.DataFrame({"a": [1.0, None, 1.0, None], "b": [2.0, 2.0, 2.0, 2.0]})
    assert screen_features(df, ["a", "b"]).dropped == {"b": "constant: 2 on every training row"}


def test_time_cv_runs_every_fold_it_promises_at_a_long_purge():
    # 26 fortnightly label dates and a 90-day purge (the real log's setup): TimeSeriesSplit's
    # blocks left 3 of 5 folds with nothing to train on.
    dates = pd.Series([dt.date(2024, 1, 1) + dt.timedelta(days=14 * (i % 26)) for i in range(260)])
    plan = plan_time_folds(dates, 5, 90)
    assert len(plan.folds) == 5 and plan.note == ""
    for tr, te in plan.folds:
        assert dates.iloc[tr].max() + dt.timedelta(days=90) <= dates.iloc[te].min()
    firsts = [dates.iloc[te].min() for _, te in plan.folds]
    assert firsts == sorted(firsts) and len({d for _, te in plan.folds for d in dates.iloc[te]}) == 5 * 3
    short = plan_time_folds(dates[dates < dt.date(2024, 6, 1)], 5, 90)
    assert len(short.folds) == 4 and short.note.startswith("4 of 5 folds: only 4 training label date(s)")


def shifted_world(seed: int = 0, dates: int = 24, n: int = 300) -> pd.DataFrame:
    """Churn driven by f_count, with a base rate falling from ~80% to ~35% over the label dates
    (an acquisition period, then established customers), as on the real log."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(dates):
        x = rng.normal(size=n)
        shift = 1.5 - 2.2 * k / (dates - 1)
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(1.5 * x + shift)))).astype(int)
        frames.append(pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                                    "label_date": dt.date(2024, 1, 1) + dt.timedelta(days=7 * k),
                                    "churned": y, "f_count": x, "f_amount": rng.normal(size=n)}))
    return pd.concat(frames, ignore_index=True)


def test_calibration_on_the_newest_dates_follows_a_falling_base_rate():
    df = shifted_world()
    params = FAST.model_copy(update={"holdout_share": 0.15, "calibration_share": 0.15, "isotonic_min_rows": 800})
    raw = models.train_models(df, ["f_count", "f_amount"], params.model_copy(update={"calibration": "none"}),
                              kinds=["logistic_regression"])
    cal = models.train_models(df, ["f_count", "f_amount"], params, kinds=["logistic_regression"])
    r, c = raw.models["logistic_regression"], cal.models["logistic_regression"]
    assert raw.calibration == "uncalibrated (calibration: none)"
    assert cal.calibration == ("isotonic on 2024-04-22..2024-05-06 (3 dates); estimator fitted on "
                               "2024-01-01..2024-04-15 (16 dates); then refitted on every training date "
                               "(calibration_refit)")
    holdout_rate = cal.holdout["churned"].mean()
    # Uncalibrated, the scores carry the training dates' churn rate, far above the holdout's;
    # calibrated on the newest training dates, less than half as far (the rate keeps falling).
    off_raw, off_cal = r.holdout_scores.mean() - holdout_rate, c.holdout_scores.mean() - holdout_rate
    assert off_raw > 0.2 and 0 < off_cal < off_raw / 2
    assert c.metrics["brier"] < r.metrics["brier"] - 0.02 and c.metrics["brier"] < cal.constant_brier
    assert raw.constant_brier == pytest.approx(np.mean((raw.base_rate - raw.holdout["churned"]) ** 2))


def test_auto_calibration_method_by_slice_size():
    df = shifted_world(dates=12, n=100)
    plan = plan_calibration(df, method="auto", share=0.2, purge_days=0, isotonic_min_rows=1000)
    assert plan.method == "sigmoid" and len(plan.calibration_dates) == 3 and plan.fit_dates[-1] < plan.calibration_dates[0]
    assert plan_calibration(df, method="auto", share=0.2, purge_days=0, isotonic_min_rows=300).method == "isotonic"
    purged = plan_calibration(df, method="auto", share=0.2, purge_days=21, isotonic_min_rows=1000)
    assert purged.fit_dates[-1] + dt.timedelta(days=21) <= purged.calibration_dates[0]
    none = plan_calibration(df, method="auto", share=0.2, purge_days=365, isotonic_min_rows=1000)
    assert none.method == "none" and "no training label date is 365 days" in none.note
    with pytest.raises(ValueError, match="calibration='platt'"):
        plan_calibration(df, method="platt", share=0.2, purge_days=0, isotonic_min_rows=1000)


def test_the_gate_refuses_a_brier_not_below_the_constant():
    df = shifted_world()
    late = df["label_date"] >= dt.date(2024, 5, 1)
    df.loc[late, "f_count"] = -df.loc[late, "f_count"]  # the signal turns around on the holdout dates
    params = FAST.model_copy(update={"calibration": "none", "holdout_share": 0.15})
    rnd = training.train_frame(df, ["f_count", "f_amount"], params, ModelRegistry(), min_score=None,
                               kinds=("logistic_regression",), render=False)
    gate = rnd.gate
    assert not gate["passed"] and gate["brier"] >= gate["brier_constant"]
    assert gate["reason"].startswith(f"Brier {gate['brier']:.4f} is not below the constant predictor's "
                                     f"{gate['brier_constant']:.4f} (the training churn rate ")
    reg_off = ModelRegistry(ModelRegistry().root.parent / "models_off")
    off = training.train_frame(df, ["f_count", "f_amount"], params, reg_off, min_score=None,
                               kinds=("logistic_regression",), render=False, brier_below_constant=False)
    assert off.gate["passed"] and "brier_constant" not in off.gate
