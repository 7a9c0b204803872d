"""End to end on generated data: generator -> ingestion -> catalog features -> labels -> training
set -> models, evaluated out of time (newest label dates held out after a purge of one horizon)."""

from __future__ import annotations

import datetime as dt

import pytest

from feature_factory import settings

pytestmark = pytest.mark.slow


def test_models_learn_churn_out_of_time_on_generated_data(duckdb_warehouse):
    snapshot_sql = pytest.importorskip("feature_factory.features.snapshot_sql")
    from feature_factory.catalog import load_catalog
    from feature_factory.synthetic.generator import GeneratorConfig, generate
    from feature_factory.events.ingestion import ingest_range
    from feature_factory.ml import labels, models, training, training_set

    wh, days, start = duckdb_warehouse, 100, dt.date(2024, 1, 1)
    end = start + dt.timedelta(days=days - 1)
    generate(GeneratorConfig(customers=400, days=days, seed=11, fmt="parquet", out_dir=settings.landing_dir()))
    ingest_range(wh, start, end + dt.timedelta(days=1))
    plan = snapshot_sql.snapshot_plan(wh.dialect, load_catalog().computed(), start, end, dt.datetime(2024, 6, 1))
    wh.replace_table("customer_features", plan.sql)

    lab = labels.build_labels(wh)
    ts = training_set.build_training_set(wh)
    assert ts.rows == lab.rows > 1000 and ts.missing_features == 0
    assert 0.1 < lab.churn_rate < 0.6
    rnd = training.train_round(wh, models.Hyperparams(cv_folds=3, rf_n_estimators=60))

    split = rnd.result.split
    assert split.holdout_dates[-1] == max(lab.plan.dates) and split.purge_days == 14
    assert split.train_last + dt.timedelta(days=14) <= split.holdout_first
    for m in rnd.result.models.values():
        assert m.metrics["roc_auc"] > 0.75 and m.cv["roc_auc"]["mean"] > 0.75
        assert m.ci["roc_auc"][0] < m.metrics["roc_auc"] < m.ci["roc_auc"][1]
