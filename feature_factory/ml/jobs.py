"""Retraining and scoring jobs and their schedules.

The drift sensor (monitoring) requests `retrain_job` when drift touches a feature the champion uses
(`registry.champion_features()`). A retrain whose challenger loses the gate succeeds: it keeps the
champion (the gate check warns, `champion_model` says why) and scores with it, the challenger in
shadow. `scoring_job` also runs daily to keep scores fresh between retrains.
"""


import dagster as dg

from feature_factory.ml.assets import (
    churn_labels, champion_model, churn_model, inference_results, model_performance, training_set,
)

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(
        churn_labels, training_set, churn_model, champion_model, inference_results, model_performance
    ),
    description="Labels -> training set -> LR, RF and gradient boosting (calibrated) -> promotion gate "
    "-> champion (promoted, or kept with the gate's reason) -> inference (champion + shadow) -> realized "
    "performance.",
)

scoring_job = dg.define_asset_job(
    "scoring_job",
    selection=dg.AssetSelection.assets(inference_results, model_performance),
    description="Score every online customer with the champion (and the challenger in shadow), then "
    "measure realized performance of scoring dates whose outcomes have matured.",
)

weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule",
    job=retrain_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain every Monday 03:00 UTC.",
)


@dg.schedule(job=scoring_job, cron_schedule="0 6 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_scoring_schedule(context: dg.ScheduleEvaluationContext):
    """Score daily at 06:00 UTC, once a champion exists."""
    from feature_factory.ml.registry import champion_features

    if not champion_features():
        return dg.SkipReason("no champion model yet: retrain_job has not promoted one")
    return dg.RunRequest(run_key=None)
