"""Issue 27: one asset factory per domain builds every entity's definitions, the customer's
included, with every name from the entity's spec (no Dagster runs: definitions only)."""

from __future__ import annotations

import dataclasses

import dagster as dg

from feature_factory.catalog import load_catalog
from feature_factory.catalog.entity_spec import CUSTOMER, EntityJobs
from feature_factory.features import assets as features
from feature_factory.features import definitions as features_defs
from feature_factory.features.entities import CUSTOMER_TABLES, resolve
from feature_factory.ml import assets as ml
from feature_factory.monitoring import assets as monitoring
from feature_factory.monitoring import checks as monitoring_checks
from feature_factory.monitoring import definitions as monitoring_defs
from feature_factory.monitoring import jobs as monitoring_jobs
from feature_factory.remediation import assets as remediation
from feature_factory.remediation import checks as remediation_checks
from feature_factory.remediation import definitions as remediation_defs
from feature_factory.remediation import jobs as remediation_jobs
from feature_factory.serving import assets as serving
from feature_factory.serving import definitions as serving_defs
from feature_factory.tables import EntityNames


def test_the_code_location_holds_the_factories_customer_definitions():
    # The module names users import are the factory's output for the customer, the same objects.
    assert list(features_defs.defs.assets) == [features.customer_features, features.customer_features_online]
    assert features.entity_assets(CUSTOMER_TABLES, load_catalog().for_entity("customer")) == (
        features.customer_features, features.customer_features_online)
    assert list(serving_defs.defs.assets) == [serving.customer_features_online_store]
    assert list(monitoring_defs.defs.assets) == [monitoring.feature_stats, monitoring.feature_stats_baseline,
                                                 monitoring.drift_alerts, monitoring.drift_report]
    assert list(monitoring_defs.defs.asset_checks) == [monitoring_checks.one_current_baseline]
    assert [j.name for j in monitoring_defs.defs.jobs] == ["capture_baseline_job", "daily_refresh_job"]
    assert [s.name for s in monitoring_defs.defs.schedules] == ["daily_refresh_schedule"]
    assert list(remediation_defs.defs.assets) == [remediation.patch_candidates, remediation.feature_patch_log]
    assert list(remediation_defs.defs.asset_checks) == [remediation_checks.active_patches_valid]
    assert [j.name for j in remediation_defs.defs.jobs] == [
        "remediation_job", "apply_patches_job", "approve_patches_job", "rollback_patch_job"]
    keys = [a.key.to_user_string() for d in (features_defs, serving_defs, monitoring_defs, remediation_defs)
            for a in d.defs.assets]
    assert keys == ["customer_features", "customer_features_online", "customer_features_online_store",
                    "feature_stats", "feature_stats_baseline", "drift_alerts", "drift_report",
                    "patch_candidates", "feature_patch_log"]
    assert {a.group_names_by_key[a.key] for a in monitoring_defs.defs.assets} == {"monitoring"}
    # ml trains on the feature table of the entity whose model: declares churn_model.
    assert ml.MODEL_ENTITY.name == "customer"
    assert ml.training_set.dependency_keys == {dg.AssetKey("churn_labels"), dg.AssetKey("customer_features")}


def test_every_name_comes_from_the_spec_not_from_the_entity_being_the_customer():
    # A customer whose spec names other tables and jobs gets them from the same factories.
    spec = dataclasses.replace(
        CUSTOMER, tables=EntityNames.derived("customer", features="cust_feats", alerts="cust_alerts"),
        jobs=EntityJobs("cust_refresh_job", "cust_capture_job", "cust_remediation_job", "cust_apply_job",
                        "cust_drift_sensor"))
    entity = resolve(spec, "raw_events", "customer_id")
    feats, online = features.entity_assets(entity, load_catalog().for_entity("customer"))
    assert (feats.key, online.key) == (dg.AssetKey("cust_feats"), dg.AssetKey("customer_features_online"))
    assert online.dependency_keys == {dg.AssetKey("cust_feats")}
    stats, baseline, alerts, report = monitoring.entity_assets(entity)
    assert alerts.key == dg.AssetKey("cust_alerts") and stats.key == dg.AssetKey("customer_feature_stats")
    assert dg.AssetKey("cust_feats") in alerts.dependency_keys
    capture, refresh, schedule = monitoring_jobs.entity_jobs(entity)
    assert (capture.name, refresh.name, schedule.name) == ("cust_capture_job", "cust_refresh_job",
                                                           "cust_refresh_schedule")
    candidates, log = remediation.entity_assets(entity)
    assert dg.AssetKey("cust_alerts") in candidates.dependency_keys
    assert [j.name for j in remediation_jobs.entity_jobs(entity)] == ["cust_remediation_job", "cust_apply_job"]
    store = serving.store_asset_for(entity)
    assert store.dependency_keys == {dg.AssetKey("customer_features_online")}
    assert "`feature-factory serve` answers" in store.descriptions_by_key[store.key]  # the server's default entity
