"""ml domain: churn labels, point-in-time training set, models with a gated registry, inference;
the catalog's own training sets over several entities' features (`joined_training_sets`)."""

import dagster as dg

from feature_factory.ml import assets, checks, jobs, joined_training_sets

defs = dg.Definitions.merge(dg.Definitions(
    assets=[
        assets.churn_labels, assets.training_set, assets.churn_model, assets.champion_model,
        assets.inference_results, assets.model_performance,
    ],
    asset_checks=[checks.challenger_beats_champion],
    jobs=[jobs.retrain_job, jobs.scoring_job],
    schedules=[jobs.weekly_retrain_schedule, jobs.daily_scoring_schedule],
), joined_training_sets.definitions())  # training sets declared in the catalog (training_sets:)
