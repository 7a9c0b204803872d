"""`retrain_job` itself, executed on DuckDB (issue 34 item 2): a retrain whose challenger loses the
gate keeps the champion and SUCCEEDS, saying what the gate decided; a round with no champion to
keep (the first model below the bar) still fails."""

from __future__ import annotations

import dagster as dg
import pytest
from ml_helpers import default_specs, make_activity_world

from feature_factory.catalog import Catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.ml import assets, checks, jobs
from feature_factory.ml.registry import ModelRegistry
from feature_factory.ml.resources import ModelRegistryResource


def _job_run(warehouse, instance, **model):
    defs = dg.Definitions(
        assets=[assets.churn_labels, assets.training_set, assets.churn_model, assets.champion_model,
                assets.inference_results, assets.model_performance],
        asset_checks=[checks.challenger_beats_champion], jobs=[jobs.retrain_job],
        resources={"warehouse": warehouse, "model_registry": ModelRegistryResource(),
                   "catalog": CatalogResource.of(Catalog(tuple(default_specs())))},  # the world's features
    )
    config = {"ops": {
        "churn_labels": {"config": {"horizon_days": 14, "every_days": 7, "min_history_days": 21}},
        "training_set": {"config": {"ttl_days": 3}},
        "churn_model": {"config": {"cv_folds": 2, "rf_n_estimators": 20, "hgb_max_iter": 40,
                                   "bootstrap_resamples": 0, **model}},
    }}
    return defs.resolve_job_def("retrain_job").execute_in_process(
        run_config=config, instance=instance, raise_on_error=False)


@pytest.fixture
def world(duckdb_warehouse):
    make_activity_world(duckdb_warehouse)
    return duckdb_warehouse


def test_a_kept_champion_is_a_successful_retrain_that_says_why(world):
    with dg.DagsterInstance.ephemeral() as instance:
        first = _job_run(world, instance)
        assert first.success
        champion = ModelRegistry().champion()
        assert champion is not None

        kept = _job_run(world, instance, promotion_margin=0.5, lr_c=0.5)
        assert kept.success and kept.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert not [e for e in kept.all_events if e.event_type_value == "STEP_FAILURE"]
        (check,) = kept.get_asset_check_evaluations()
        assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
        assert check.metadata["decision"].value == f"keep champion v{champion.version}"
        meta = {k: v.value for k, v in kept.asset_materializations_for_node("champion_model")[0].metadata.items()}
        assert meta["promoted"] is False and meta["champion_version"] == champion.version
        assert "+ margin 0.5" in meta["gate_decision"] and meta["gate_decision"].startswith(
            f"kept champion v{champion.version}: challenger v")
        assert ModelRegistry().champion().version == champion.version
        # The run went on to score with the champion, the challenger in shadow.
        scored = {k: v.value for k, v in kept.asset_materializations_for_node("inference_results")[0].metadata.items()}
        assert scored["model_version"] == champion.version and scored["shadow_version"] == ModelRegistry().challenger().version


def test_no_champion_to_keep_is_still_a_failure(world):
    with dg.DagsterInstance.ephemeral() as instance:
        run = _job_run(world, instance, min_promotion_score=0.999)
        assert not run.success
        (check,) = run.get_asset_check_evaluations()
        assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
        assert "below the minimum" in check.description and check.metadata["decision"].value == "no model to serve"
        assert not run.asset_materializations_for_node("champion_model")
        assert not run.asset_materializations_for_node("inference_results")
        assert ModelRegistry().champion() is None
