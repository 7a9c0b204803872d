"""The ML assets end to end through Dagster on DuckDB: labels -> training set -> models -> blocking
gate -> champion -> inference, including a run where the gate holds a challenger back."""

from __future__ import annotations

import re

import dagster as dg
import pytest
from ml_helpers import default_specs, make_activity_world

from feature_factory import settings
from feature_factory.catalog import Catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.ml import assets, checks, jobs, training_set
from feature_factory.ml.registry import ModelRegistry
from feature_factory.ml.resources import ModelRegistryResource

ML_ASSETS = [assets.churn_labels, assets.training_set, assets.churn_model, assets.champion_model,
             assets.inference_results, assets.model_performance, checks.challenger_beats_champion]


def catalog() -> CatalogResource:
    """The run's catalog: the test world's features (handed in)."""
    return CatalogResource.of(Catalog(tuple(default_specs())))


def _run(warehouse, model_overrides: dict | None = None):
    model_cfg = {"cv_folds": 3, "rf_n_estimators": 30, "bootstrap_resamples": 50, **(model_overrides or {})}
    return dg.materialize(
        ML_ASSETS, resources={"warehouse": warehouse, "model_registry": ModelRegistryResource(), "catalog": catalog()},
        raise_on_error=False,
        run_config=dg.RunConfig(ops={
            "churn_labels": {"config": {"horizon_days": 14, "every_days": 7, "min_history_days": 21}},
            "training_set": {"config": {"ttl_days": 3}},
            "churn_model": {"config": model_cfg},
        }),
    )


def _meta(result, key: str) -> dict:
    mats = [m for m in result.asset_materializations_for_node(key)]
    assert len(mats) == 1, key
    return {k: v.value for k, v in mats[0].metadata.items()}


@pytest.fixture
def world(duckdb_warehouse):
    truth = make_activity_world(duckdb_warehouse)
    path = settings.home() / "ground_truth" / "customers.parquet"
    path.parent.mkdir(parents=True)
    truth.to_parquet(path)
    return duckdb_warehouse


def test_retrain_flow_then_gate_holds_then_promotes(world):
    wh = world
    first = _run(wh)
    assert first.success
    labels = _meta(first, "churn_labels")
    assert labels["dagster/row_count"] == wh.row_count("churn_labels") > 200
    assert 0.1 < labels["churn_rate"] < 0.9 and "| label_date |" in labels["labels_per_date"]
    ts = _meta(first, "training_set")
    assert ts["dagster/row_count"] == labels["dagster/row_count"] == ts["labels"]
    assert ts["rows_missing_features"] == wh.row_count("training_set", "feature_snapshot_date IS NULL")
    model = _meta(first, "churn_model")
    assert len([k for k in model if k.startswith("plot_")]) == 6
    assert all(re.match(r"!\[\w+\]\(data:image/png;base64,", model[k]) for k in model if k.startswith("plot_"))
    assert model["metrics"].startswith("| metric | LR | RF |") and "| **roc_auc** (gate) |" in model["metrics"]
    assert "oracle_roc_auc" not in model and model["logistic_regression_roc_auc"] > 0.6
    assert 0 < model["logistic_regression_brier"] < 0.25
    # Out of time: 14-day horizon, labels every 7 days from day 21 (01-22) to 02-26.
    assert model["split"] == ("train 2024-01-22..2024-02-05 (3 dates); purged 2024-02-12..2024-02-12 "
                              "(1 dates) (gap 14 days); holdout 2024-02-19..2024-02-26 (2 dates)")
    assert model["gate"].startswith("**passes**: first model: roc_auc ")
    champ = _meta(first, "champion_model")
    assert champ["champion_version"] == model["challenger_version"] and champ["promoted"] is True
    inf = _meta(first, "inference_results")
    assert inf["customers_scored"] == wh.row_count("customer_features_online") == 120
    assert inf["model_version"] == champ["champion_version"] and "prediction_psi" in inf
    assert "shadow_version" not in inf  # the challenger was promoted: nothing in shadow
    assert inf["prediction_drift"].split(" (")[0] in {"stable", "moderate shift", "major shift"}
    assert "| 0.00-" in inf["score_bins_vs_training"] and "-1.00 |" in inf["score_bins_vs_training"]
    reg = ModelRegistry()
    n_versions = len(reg.versions())

    # Retraining the same data with the same params and code: the same versions, nothing new.
    again = _run(wh)
    assert again.success and len(reg.versions()) == n_versions
    assert _meta(again, "churn_model")["challenger_version"] == champ["champion_version"]
    assert "identical to champion" in _meta(again, "churn_model")["gate"]
    assert _meta(again, "champion_model")["promoted"] is False

    # Other params, demanding an impossible margin: the check fails with WARN (keeping the
    # champion is a correct outcome, issue 34), the run succeeds, the champion is kept and says
    # why, and inference scores with it, the held challenger in shadow.
    held = _run(wh, {"promotion_margin": 0.5, "rf_n_estimators": 31, "lr_c": 0.5})
    assert held.success
    evals = held.get_asset_check_evaluations()
    assert [(e.check_name, e.passed, e.severity) for e in evals] == [
        ("challenger_beats_champion", False, dg.AssetCheckSeverity.WARN)]
    assert "the same" in evals[0].metadata["scored_on"].value and evals[0].metadata["same_rows"].value
    held_version = _meta(held, "churn_model")["challenger_version"]
    assert evals[0].metadata["decision"].value == f"keep champion v{champ['champion_version']}"
    assert evals[0].description.startswith(f"champion v{champ['champion_version']} kept: challenger v{held_version} roc_auc ")
    kept = _meta(held, "champion_model")
    assert kept["promoted"] is False and kept["champion_version"] == champ["champion_version"]
    assert kept["gate_decision"].startswith(
        f"kept champion v{champ['champion_version']}: challenger v{held_version} roc_auc ") and "+ margin 0.5" in kept["gate_decision"]
    held_inf = _meta(held, "inference_results")
    assert held_inf["model_version"] == champ["champion_version"] and held_inf["shadow_version"] == held_version
    assert reg.get(held_version).status == "challenger"
    assert reg.champion().version == champ["champion_version"]
    assert len(reg.versions()) == n_versions + 3  # every candidate's params changed: 3 new versions
    # Scoring meanwhile: the held challenger scores the same customers in shadow.
    shadow_run = dg.materialize([assets.inference_results], resources={"warehouse": wh, "model_registry": ModelRegistryResource(),
                                                                      "catalog": catalog()})
    inf = _meta(shadow_run, "inference_results")
    assert inf["shadow_version"] == held_version != inf["model_version"] == champ["champion_version"]
    assert "shadow_prediction_psi" in inf and "shadow_score_bins_vs_training" in inf
    assert wh.fetch_all("SELECT role, COUNT(*) FROM inference_results WHERE run_id = ? GROUP BY role "
                        "ORDER BY role", [shadow_run.run_id]) == [("champion", 120), ("shadow", 120)]

    # The same training again with a negative margin: the same version (no duplicate artifact),
    # re-gated, promoted, and scored with it.
    promoted = _run(wh, {"promotion_margin": -1.0, "rf_n_estimators": 31, "lr_c": 0.5})
    assert promoted.success and len(reg.versions()) == n_versions + 3
    assert len(list(settings.home().joinpath("models").glob("*.pkl"))) == n_versions + 3
    new_version = _meta(promoted, "champion_model")["champion_version"]
    assert new_version == _meta(promoted, "churn_model")["challenger_version"] == held_version
    assert reg.get(champ["champion_version"]).status == "archived"
    # Runs that scored: first, again (120 each), held and shadow_run (240 each, with the shadow),
    # promoted (120); before issue 34 the held run stopped before scoring.
    assert wh.fetch_all("SELECT COUNT(DISTINCT run_id), COUNT(*) FROM inference_results") == [(5, 840)]
    perf = _meta(promoted, "model_performance")
    # The world's scores are for its last day: no outcome has matured yet.
    assert perf["dagster/row_count"] == 0 and perf["scoring_dates_pending"] == ["2024-03-10"]


def test_degenerate_labels_fail_with_the_message(world):
    wh = world
    wh.execute("UPDATE raw_events SET event_type = 'browse'")  # nobody ever buys: everyone churns
    result = _run(wh)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "churn_model"
    assert "labels have churned=1" in str(failure.event_specific_data.error.cause or failure.event_specific_data.error)


def test_definitions_and_schedules(tmp_path):
    from feature_factory.definitions import defs

    job = defs.resolve_job_def("retrain_job")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert keys == {"churn_labels", "training_set", "churn_model", "champion_model", "inference_results",
                    "model_performance"}
    assert {c.name for c in job.asset_layer.asset_graph.asset_check_keys} >= {"challenger_beats_champion"}
    assert defs.resolve_schedule_def("weekly_retrain_schedule").cron_schedule == "0 3 * * 1"
    ctx = dg.build_schedule_context()
    assert isinstance(jobs.daily_scoring_schedule(ctx), dg.SkipReason)
    reg = ModelRegistry()
    v = reg.register({"m": 1}, model_type="logistic_regression", features=["f_count"])
    reg.mark_challenger(v.version, {"passed": True, "reason": "test", "champion_version": None})
    reg.promote(v.version)
    assert isinstance(jobs.daily_scoring_schedule(ctx), dg.RunRequest)


def test_champion_model_alone_never_promotes_a_losing_challenger(duckdb_warehouse):
    reg = ModelRegistry()
    v = reg.register({"m": 1}, model_type="random_forest", features=["f_count"], metrics={"roc_auc": 0.4})
    reg.mark_challenger(v.version, {"passed": False, "reason": "roc_auc 0.4000 is below the minimum 0.5000",
                                    "champion_version": None})
    result = dg.materialize([assets.champion_model], raise_on_error=False,
                            resources={"warehouse": duckdb_warehouse, "model_registry": ModelRegistryResource()})
    assert not result.success and reg.champion() is None and reg.get(v.version).status == "challenger"
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "below the minimum" in str(failure.event_specific_data.error)


def test_realized_basis_promotes_a_shadow_challenger_that_wins_on_matured_outcomes(duckdb_warehouse):
    import datetime as dt

    import pandas as pd

    reg = ModelRegistry()
    one = reg.register({"m": 1}, model_type="logistic_regression", features=["f_count"], data_version="a")
    reg.mark_challenger(one.version, {"passed": True, "reason": "first", "champion_version": None})
    reg.promote(one.version)
    two = reg.register({"m": 2}, model_type="logistic_regression", features=["f_count"], data_version="b")
    reg.mark_challenger(two.version, {"passed": False, "reason": "holdout: not better", "margin": 0.01,
                                      "champion_version": one.version})
    cfg = dg.RunConfig(ops={"champion_model": {"config": {"promotion_basis": "realized"}}})

    def run():
        return dg.materialize([assets.champion_model], resources={"warehouse": duckdb_warehouse, "model_registry": ModelRegistryResource()}, run_config=cfg)

    # No matured shadow outcomes yet: the champion keeps serving, and the metadata says why.
    meta = _meta(run(), "champion_model")
    assert meta["champion_version"] == one.version and meta["promoted"] is False
    assert "has 0 matured scoring date(s) shared with champion v1" in meta["promotion_basis"]
    d1, d2, d3 = (dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(3))
    duckdb_warehouse.write_df("model_performance", pd.DataFrame({
        "scoring_date": [d1, d1, d2, d2, d3], "model_version": [1, 2, 1, 2, 1],
        "role": ["champion", "shadow", "champion", "shadow", "champion"],
        "roc_auc": [0.70, 0.74, 0.72, 0.75, 0.20],  # d3: the champion alone, not compared
    }), mode="replace")
    meta = _meta(run(), "champion_model")
    assert meta["champion_version"] == two.version and meta["promoted"] is True
    assert meta["promotion_basis"] == ("realized: realized roc_auc 0.7450 >= champion 0.7100 + margin 0.01 "
                                       "(2024-03-01..2024-03-02, 2 date(s))")
    assert reg.get(one.version).status == "archived"
