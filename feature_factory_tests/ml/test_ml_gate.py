"""The fair gate (issue 15): champion and challenger scored on the same rows neither trained on.

Reproduces the measured failure: a champion, then "one more day" (every label date moves by one
day, the data is otherwise the same), then a retrain. The old gate scored the champion on a random
holdout of the challenger's rows, most of which the champion had trained on, so a retrain almost
never won. Now the rows compared are after the champion's training window, and after a real
population shift the retrain promotes; on stable data the champion is kept (over 10 seeds).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from bench.gate_seeds import FEATURES, study, temporal_world
from feature_factory.ml import models, training
from feature_factory.ml.registry import ModelRegistry

PARAMS = models.Hyperparams(cv_folds=3, rf_n_estimators=30, purge_days=14, bootstrap_resamples=0, min_rows=20)


def _champion(reg: ModelRegistry, world):
    first = training.train_frame(world, FEATURES, PARAMS, reg, render=False)
    reg.promote(first.challenger.version)
    return first


def test_one_more_day_compares_on_rows_neither_model_trained_on():
    reg = ModelRegistry()
    world = temporal_world(3, 10, shift_from=None)
    first = _champion(reg, world)
    champ = reg.champion()
    train_end = dt.date.fromisoformat(champ.training_window["train_last_label_date"])
    assert train_end == first.result.split.train_last == dt.date(2024, 3, 14)

    # One more day of events: the same rows, every label date one day later.
    moved = world.assign(label_date=world["label_date"] + dt.timedelta(days=1))
    second = training.train_frame(moved, FEATURES, PARAMS, reg, render=False)
    gate = second.gate
    fair = second.result.holdout[second.result.holdout["label_date"] >= train_end + dt.timedelta(days=14)]
    assert gate["same_rows"] and gate["rows"] == len(fair) == 300 and "that neither model trained on" in gate[
        "champion_scored_on"]
    assert fair["label_date"].min() > train_end + dt.timedelta(days=13)
    pipeline, _ = reg.load(champ.version)
    y = fair["churned"].to_numpy()
    fair_champion = models.evaluate(y, models.predict_proba(pipeline, fair, FEATURES))["roc_auc"]
    assert gate["champion_score"] == pytest.approx(fair_champion)
    # The old gate's random holdout would have been ~80% moved copies of the champion's training
    # rows; none of the compared rows is.
    trained_on = set(world.loc[world["label_date"] <= train_end, "label_date"] + dt.timedelta(days=1))
    assert not set(fair["label_date"]) & trained_on
    # Same data: the challenger is not better by the margin, so the champion is kept.
    assert not gate["passed"] and abs(gate["challenger_score"] - gate["champion_score"]) < 0.005


def test_after_a_population_shift_the_retrain_promotes():
    reg = ModelRegistry()
    _champion(reg, temporal_world(5, 7, shift_from=7))
    retrain = training.train_frame(temporal_world(5, 16, shift_from=7), FEATURES, PARAMS, reg, render=False)
    gate = retrain.gate
    assert gate["same_rows"] and gate["passed"], gate
    assert gate["challenger_score"] > gate["champion_score"] + 0.05
    assert reg.promote(retrain.challenger.version).status == "champion"


def test_no_shared_unseen_rows_falls_back_and_says_so():
    reg = ModelRegistry()
    _champion(reg, temporal_world(1, 12))
    # Retraining on OLDER data: its whole holdout lies inside the champion's training window.
    older = training.train_frame(temporal_world(1, 8), FEATURES, PARAMS, reg, render=False)
    gate = older.gate
    assert not gate["same_rows"] and gate["champion_scored_on"].startswith(
        "each model's own out-of-time holdout, NOT the same rows (the champion trained through 2024-03-21; "
        "no holdout label date is on or after 2024-04-04")
    assert gate["champion_score"] == reg.champion().metrics["roc_auc"]


def test_multi_seed_shift_promotes_stable_keeps():
    """10 seeds, logistic regression at a small size (the benchmark runs both models)."""
    r = study(10, ("logistic_regression",), customers=150)
    assert r["promoted_after_shift"] == 10 and r["promoted_on_stable"] == 0, r["rows"]
    assert r["mean_gain_after_shift"] > 0.05 and r["max_abs_gain_on_stable"] < 0.005
    assert all(row["same_rows"] for row in r["rows"])
    assert np.isfinite([row["champion"] for row in r["rows"]]).all()
