"""models.py and plots.py: metrics on a learnable problem, degenerate data messages, six plots."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from ml_helpers import synthetic_frame

from feature_factory.ml import models
from feature_factory.ml.models import Hyperparams, ModelDataError, train_models
from feature_factory.ml.plots import PLOT_NAMES, markdown_image, render_plots

FEATURES = ["f_count", "f_amount"]
FAST = Hyperparams(cv_folds=3, rf_n_estimators=25, min_rows=20, purge_days=14, bootstrap_resamples=50)


@pytest.fixture(scope="module")
def trained():
    return train_models(synthetic_frame(240), FEATURES, FAST)


def test_both_models_learn_the_signal_with_all_metrics(trained):
    assert set(trained.models) == {"logistic_regression", "random_forest", "hist_gradient_boosting"}
    # 10 weekly dates of 24 rows: the newest 2 dates (20%) are held out; 04-19's outcome window
    # [04-19, 05-03) overlaps the holdout's, so it is purged; 04-12's ends on 04-26: it trains.
    split = trained.split
    assert [str(d) for d in split.holdout_dates] == ["2024-04-26", "2024-05-03"]
    assert [str(d) for d in split.purged_dates] == ["2024-04-19"]
    assert split.train_last.isoformat() == "2024-04-12" and len(split.train_dates) == 7
    assert (trained.n_train, trained.n_purged, trained.n_holdout) == (168, 24, 48)
    assert set(trained.holdout["label_date"]) == set(split.holdout_dates)
    for m in trained.models.values():
        assert set(m.metrics) == set(models.METRICS)
        assert m.metrics["roc_auc"] > 0.75 and m.cv["roc_auc"]["mean"] > 0.75
        assert m.cv["roc_auc"]["folds"] == 3
        lo, hi = m.ci["roc_auc"]
        assert lo < m.metrics["roc_auc"] < hi and hi - lo < 0.4
        assert m.ci["brier"][0] < m.metrics["brier"] < m.ci["brier"][1]
        assert 0 <= m.cv["roc_auc"]["std"] < 0.2
        assert 0 < m.metrics["brier"] < 0.25
        # f_count carries the signal; f_amount barely does.
        assert m.importances["f_count"] > m.importances["f_amount"]
        assert abs(sum(m.importances.values()) - 1) < 1e-9
    # Metrics are the holdout's: recomputing from the stored scores gives the same numbers.
    lr = trained.models["logistic_regression"]
    assert models.evaluate(trained.holdout["churned"], lr.holdout_scores) == lr.metrics


def test_best_respects_metric_direction(trained):
    by_auc = max(trained.models.values(), key=lambda m: m.metrics["roc_auc"])
    by_brier = min(trained.models.values(), key=lambda m: m.metrics["brier"])
    assert trained.best("roc_auc") is by_auc and trained.best("brier") is by_brier
    with pytest.raises(ValueError, match="unknown metric"):
        trained.best("auc")


@pytest.mark.parametrize("case, message", [
    ("tiny", r"only 10 labelled rows; at least min_rows=20"),
    ("single_class", r"all 60 labels have churned=0"),
    ("rare_class", r"left the holdout part with one class"),
    ("one_date", r"needs at least 2 label dates"),
    ("no_room", r"no label date is 14 days \(the purge gap\) before the holdout's first date 2024-03-08"),
    ("no_features", r"no features to train on"),
])
def test_degenerate_data_gives_clear_messages(case, message):
    df = synthetic_frame(60)
    features = FEATURES
    if case == "tiny":
        df = df.head(10)
    elif case == "single_class":
        df["churned"] = 0
    elif case == "rare_class":
        df["churned"] = 0
        df.loc[:2, "churned"] = 1
    elif case == "one_date":
        df["label_date"] = df["label_date"].min()
    elif case == "no_room":
        df = synthetic_frame(60, dates=2)
    else:
        features = []
    with pytest.raises(ModelDataError, match=message):
        train_models(df, features, FAST)


def test_all_null_feature_keeps_positions():
    # With screening off (on, it is dropped: test_constant_and_copied_features_are_dropped_and_listed).
    df = synthetic_frame(120)
    df["f_amount"] = np.nan
    res = train_models(df, FEATURES, FAST.model_copy(update={"drop_constant_features": False}),
                       kinds=["logistic_regression"])
    assert list(res.models["logistic_regression"].importances) == FEATURES
    assert res.models["logistic_regression"].metrics["roc_auc"] > 0.75


def test_six_plots_render_as_png(trained):
    from matplotlib import image

    pngs = render_plots(
        trained.holdout["churned"].to_numpy(),
        {k: m.holdout_scores for k, m in trained.models.items()},
        {k: m.importances for k, m in trained.models.items()},
    )
    assert tuple(pngs) == PLOT_NAMES
    for name, png in pngs.items():
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        pixels = image.imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.std() > 0, name
    md = markdown_image(pngs["roc_curve"], "roc")
    assert md.startswith("![roc](data:image/png;base64,iVBOR")


def test_time_folds_expand_and_purge():
    from feature_factory.ml.split import time_folds

    dates = synthetic_frame(100, dates=5)["label_date"]  # 2024-03-01 .. 03-29, weekly
    folds = list(time_folds(dates, n_splits=4, purge_days=14))
    # Fold 1 (validate 03-08) has no date 14 days before it; the others train on ever more dates.
    got = [(sorted({str(d) for d in dates.iloc[tr]}), sorted({str(d) for d in dates.iloc[te]})) for tr, te in folds]
    assert got == [
        (["2024-03-01"], ["2024-03-15"]),
        (["2024-03-01", "2024-03-08"], ["2024-03-22"]),
        (["2024-03-01", "2024-03-08", "2024-03-15"], ["2024-03-29"]),
    ]


def test_metrics_table_is_narrow_with_the_gate_metric_first(trained):
    md = models.metrics_table(trained.models, "roc_auc")
    lines = md.splitlines()
    assert lines[0] == "| metric | LR | RF | HGB |"
    assert lines[2].startswith("| **roc_auc** (gate) | ")
    lr = trained.models["logistic_regression"]
    assert f"{lr.metrics['roc_auc']:.3f} [{lr.ci['roc_auc'][0]:.3f}, {lr.ci['roc_auc'][1]:.3f}]" in lines[2]
    assert any(line.startswith("| brier |") for line in lines)


def test_psi_and_score_reference():
    rng = np.random.default_rng(0)
    ref_scores = rng.uniform(size=2000)
    ref = models.score_reference(ref_scores)
    assert len(ref["cuts"]) == 9 and np.allclose(ref["shares"], 0.1, atol=0.002)
    same = np.bincount(np.searchsorted(ref["cuts"], rng.uniform(size=2000), side="right"), minlength=10)
    shifted = np.bincount(np.searchsorted(ref["cuts"], rng.uniform(size=2000) ** 3, side="right"), minlength=10)
    assert models.psi(ref["shares"], same) < 0.02 < 0.25 < models.psi(ref["shares"], shifted)
    # Tied scores (a forest's few distinct values) collapse duplicate cut points instead of failing.
    tied = models.score_reference(np.repeat([0.1, 0.5, 0.9], 30))
    assert tied["cuts"] == [0.1, 0.5, 0.9][: len(tied["cuts"])] and abs(sum(tied["shares"]) - 1) < 1e-12


def test_weighted_metrics_match_scikit_learn():
    from sklearn import metrics as skm

    from feature_factory.ml.split import weighted_metrics

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.uniform(size=200), 1)  # many ties
    w = rng.integers(0, 4, size=(3, 200))
    got = weighted_metrics(y, s, w)
    for i in range(3):
        assert got["roc_auc"][i] == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w[i]))
        assert got["pr_auc"][i] == pytest.approx(skm.average_precision_score(y, s, sample_weight=w[i]))
        assert got["brier"][i] == pytest.approx(skm.brier_score_loss(y, s, sample_weight=w[i]))
