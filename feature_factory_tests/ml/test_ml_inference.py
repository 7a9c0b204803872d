"""Batch inference: every online customer scored once per run, idempotent re-runs, drift metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ml_helpers import make_features, synthetic_frame

from feature_factory.ml import models
from feature_factory.ml.inference import InferenceError, score_customers
from feature_factory.ml.registry import ModelRegistry, gate_decision

FEATURES = ["f_count", "f_amount"]


def _champion(reg: ModelRegistry, features=FEATURES):
    res = models.train_models(synthetic_frame(120), features,
                              models.Hyperparams(cv_folds=3, min_rows=20, purge_days=7,
                                                 bootstrap_resamples=0), kinds=["logistic_regression"])
    m = res.models["logistic_regression"]
    v = reg.register(m.pipeline, model_type="logistic_regression", features=features, metrics=m.metrics,
                     score_reference=models.score_reference(m.holdout_scores), threshold=0.5)
    passed, reason = gate_decision("roc_auc", m.metrics["roc_auc"], None, 0.0)
    reg.mark_challenger(v.version, {"passed": passed, "reason": reason, "champion_version": None})
    reg.promote(v.version)
    return m.pipeline, v


def _online(warehouse, n: int = 7):
    frame = synthetic_frame(n, seed=5, dates=1)
    make_features(warehouse, pd.DataFrame({
        "customer_id": frame["customer_id"], "snapshot_date": "2024-03-31",
        "f_count": frame["f_count"], "f_amount": frame["f_amount"],
    }), table="customer_features_online")
    return frame


def test_scores_every_online_customer_once_per_run(warehouse):
    reg = ModelRegistry()
    pipe, v = _champion(reg)
    frame = _online(warehouse, 7)
    s = score_customers(warehouse, "run-a", reg, chunk_rows=3)
    assert (s.customers, s.chunks, s.model_version) == (7, 3, v.version)
    got = warehouse.fetch_df("SELECT * FROM inference_results ORDER BY customer_id")
    assert got["customer_id"].tolist() == frame["customer_id"].tolist()
    expected = models.predict_proba(pipe, frame, FEATURES)
    assert np.allclose(got["churn_probability"], expected)
    assert got["predicted_churn"].tolist() == (expected >= 0.5).astype(int).tolist()
    assert set(got["run_id"]) == {"run-a"} and set(got["model_version"]) == {v.version}
    assert got["scored_at"].notna().all() and str(got["snapshot_date"].iloc[0])[:10] == "2024-03-31"
    assert s.predicted_churners == int((expected >= 0.5).sum())
    assert abs(s.mean_score - expected.mean()) < 1e-12 and sum(s.bin_counts) == 7 and s.psi is not None

    # Same run again: replaced, not appended. Another run: appended with its own run_id.
    score_customers(warehouse, "run-a", reg, chunk_rows=100)
    assert warehouse.row_count("inference_results") == 7
    score_customers(warehouse, "run-b", reg)
    assert warehouse.fetch_all(
        "SELECT run_id, COUNT(*), COUNT(DISTINCT customer_id) FROM inference_results GROUP BY run_id ORDER BY run_id"
    ) == [("run-a", 7, 7), ("run-b", 7, 7)]
    assert not warehouse.fetch_all(
        "SELECT table_name FROM information_schema.tables WHERE lower(table_name) LIKE 'inference_staging%'")


def test_the_challenger_scores_the_same_customers_in_shadow(warehouse):
    reg = ModelRegistry()
    champ_pipe, champ = _champion(reg)
    res = models.train_models(synthetic_frame(120, seed=9), ["f_count"],
                              models.Hyperparams(cv_folds=3, min_rows=20, purge_days=7, bootstrap_resamples=0),
                              kinds=["logistic_regression"])
    m = res.models["logistic_regression"]
    ch = reg.register(m.pipeline, model_type="logistic_regression", features=["f_count"], metrics=m.metrics,
                      data_version="other", score_reference=models.score_reference(m.holdout_scores))
    reg.mark_challenger(ch.version, {"passed": False, "reason": "held", "champion_version": champ.version})
    frame = _online(warehouse, 5)
    s = score_customers(warehouse, "run-s", reg, chunk_rows=2)
    assert (s.role, s.model_version, s.customers) == ("champion", champ.version, 5)
    assert s.shadow is not None and (s.shadow.role, s.shadow.model_version, s.shadow.customers) == ("shadow", ch.version, 5)
    got = warehouse.fetch_df("SELECT role, model_version, customer_id, churn_probability FROM inference_results "
                             "ORDER BY role, customer_id")
    assert got.groupby("role")["model_version"].unique().map(list).to_dict() == {
        "champion": [champ.version], "shadow": [ch.version]}
    shadow = got[got["role"] == "shadow"]
    assert np.allclose(shadow["churn_probability"], models.predict_proba(m.pipeline, frame, ["f_count"]))
    # Scoring again without shadow replaces the run with champion rows only.
    score_customers(warehouse, "run-s", reg, shadow=False)
    assert warehouse.fetch_all("SELECT role, COUNT(*) FROM inference_results GROUP BY role") == [("champion", 5)]


def test_unserved_feature_is_imputed_not_fatal(duckdb_warehouse):
    reg = ModelRegistry()
    _champion(reg, features=["f_count", "f_amount"])
    _online(duckdb_warehouse, 4)
    duckdb_warehouse.execute("ALTER TABLE customer_features_online DROP COLUMN f_amount")
    s = score_customers(duckdb_warehouse, "run-x", reg)
    assert s.customers == 4 and s.missing_features == ["f_amount"]


def test_clear_errors(duckdb_warehouse):
    reg = ModelRegistry()
    with pytest.raises(InferenceError, match="no champion model"):
        score_customers(duckdb_warehouse, "r", reg)
    _champion(reg)
    with pytest.raises(InferenceError, match="customer_features_online does not exist"):
        score_customers(duckdb_warehouse, "r", reg)
    _online(duckdb_warehouse, 3)
    duckdb_warehouse.execute("DELETE FROM customer_features_online")
    with pytest.raises(InferenceError, match="no rows"):
        score_customers(duckdb_warehouse, "r", reg)


def test_backtest_scores_a_past_snapshot(duckdb_warehouse):
    from ml_helpers import default_specs

    specs = default_specs()  # the run's trainable features, handed in
    reg = ModelRegistry()
    pipe, v = _champion(reg)
    frame = synthetic_frame(6, seed=2, dates=1)
    make_features(duckdb_warehouse, pd.concat([
        pd.DataFrame({"customer_id": frame["customer_id"], "snapshot_date": day,
                      "f_count": frame["f_count"] + shift, "f_amount": frame["f_amount"]})
        for day, shift in (("2024-03-01", 0), ("2024-03-02", 5))]))
    s = score_customers(duckdb_warehouse, "bt", reg, as_of="2024-03-01", chunk_rows=4, features=specs)
    got = duckdb_warehouse.fetch_df("SELECT * FROM inference_results ORDER BY customer_id")
    assert s.customers == 6 and s.chunks == 2 and {str(d)[:10] for d in got["snapshot_date"]} == {"2024-03-01"}
    assert np.allclose(got["churn_probability"], models.predict_proba(pipe, frame, FEATURES))
    with pytest.raises(InferenceError, match="no rows for snapshot_date 2023-01-01"):
        score_customers(duckdb_warehouse, "bt2", reg, as_of="2023-01-01", features=specs)
    with pytest.raises(InferenceError, match="as_of='March' is not a date"):
        score_customers(duckdb_warehouse, "bt3", reg, as_of="March", features=specs)
