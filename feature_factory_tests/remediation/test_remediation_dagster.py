"""The loop through Dagster: assets, Launchpad jobs with run config, modes, metadata."""

from __future__ import annotations

import dagster as dg
import pytest
from remediation_helpers import (
    FEATURE_COLUMNS, CatalogSettings, alert, build_online, dump, insert, make_catalog, seed_alerts, seed_baseline,
    seed_features,
)
from remediation_helpers import run_job as run

from feature_factory import tables
from feature_factory.remediation import online_refresh as online
from feature_factory.remediation.resources import RemediationSettings


@pytest.fixture
def wh(duckdb_warehouse, monkeypatch):
    seed_features(duckdb_warehouse)
    seed_baseline(duckdb_warehouse)
    seed_alerts(duckdb_warehouse, [
        alert("revenue_7d", "OUT_OF_RANGE", "high", out_of_range_share=0.1),
        alert("amount_stddev_7d", "NULL_SPIKE", "medium", null_rate_delta=0.5),
    ])
    # Stand in for the features module's online builder.
    monkeypatch.setattr(online, "_builder", lambda: build_online)
    build_online(duckdb_warehouse, make_catalog())
    return duckdb_warehouse


def statuses(wh):
    return dict(wh.fetch_all(f"SELECT action, status FROM {tables.PATCH_CANDIDATES}"))


def test_propose_approve_apply_rollback_through_jobs(wh):
    instance = dg.DagsterInstance.ephemeral()
    settings = CatalogSettings()
    before = dump(wh, "customer_features_online")
    result = run("remediation_job", wh, settings, instance=instance)
    assert result.success
    mat = result.asset_materializations_for_node("patch_candidates")[0]
    assert mat.metadata["new_proposals"].value == 2 and mat.metadata["mode"].value == "propose_only"
    assert "/* REVIEW */" in mat.metadata["review_sql"].value
    assert statuses(wh) == {"clip": "PROPOSED", "impute_median": "PROPOSED"}
    ids = dict(wh.fetch_all(f"SELECT action, patch_id FROM {tables.PATCH_CANDIDATES}"))

    result = run("approve_patches_job", wh, settings, instance=instance, run_config={"ops": {"approve_patches": {
        "config": {"approve": [ids["clip"]], "reject": [ids["impute_median"]], "approver": "alice"}}}})
    assert result.success
    assert statuses(wh) == {"clip": "APPROVED", "impute_median": "REJECTED"}
    assert wh.fetch_one(f"SELECT approver FROM {tables.PATCH_CANDIDATES} WHERE action = 'clip'") == ("alice",)
    assert wh.fetch_one(f"SELECT rejected_by FROM {tables.PATCH_CANDIDATES} WHERE action = 'impute_median'") == ("alice",)

    result = run("apply_patches_job", wh, settings, instance=instance,
                 run_config={"ops": {"feature_patch_log": {"config": {"actor": "alice"}}}})
    assert result.success
    assert wh.fetch_one("SELECT MAX(revenue_7d) FROM customer_features_online") == (90.5,)
    (mat,) = [m for m in result.asset_materializations_for_node("feature_patch_log")
              if m.asset_key == dg.AssetKey("feature_patch_log")]
    assert ids["clip"] in mat.metadata["patches"].value and "max 5,000 → 90.5; p99 4,557.29 → 89.64" in mat.metadata["patches"].value
    online_events = instance.fetch_materializations(dg.AssetKey("customer_features_online"), limit=5).records
    assert len(online_events) == 1
    # patch_candidates' page is current: the applied clip is no longer listed as open (APPROVED).
    views = instance.fetch_materializations(dg.AssetKey("patch_candidates"), limit=1).records[0]
    meta = views.asset_materialization.metadata
    assert ids["clip"] not in meta["open_patches"].value and ids["clip"] in meta["active_patches"].value
    assert meta["review_sql"].value == "_no proposal waits for review_"  # the newest event has the key too

    result = run("rollback_patch_job", wh, settings, instance=instance,
                 run_config={"ops": {"rollback_patch": {"config": {"patch_id": ids["clip"], "actor": "bob"}}}})
    assert result.success
    assert dump(wh, "customer_features_online") == before
    assert wh.fetch_all(f"SELECT event, actor FROM {tables.FEATURE_PATCH_LOG} ORDER BY logged_at") == [("apply", "alice"), ("rollback", "bob")]
    log_events = instance.fetch_materializations(dg.AssetKey("feature_patch_log"), limit=5).records
    assert len(log_events) == 2
    meta = instance.fetch_materializations(dg.AssetKey("patch_candidates"), limit=1).records[0].asset_materialization.metadata
    assert meta["active_patches"].value == "_no applied patches_" and ids["clip"] not in meta["open_patches"].value


def test_rejected_decision_fails_the_run_with_a_clear_error(wh):
    settings = CatalogSettings()
    run("remediation_job", wh, settings)
    result = run("approve_patches_job", wh, settings, run_config={"ops": {"approve_patches": {
        "config": {"approve": ["0000000000000000"], "approver": "alice"}}}})
    assert not result.success
    error = result.failure_data_for_node("approve_patches").error
    assert "unknown patch id(s) ['0000000000000000']" in error.to_string()
    assert set(statuses(wh).values()) == {"PROPOSED"}


def test_auto_approve_only_approves(wh, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - feature: '*'\n    actions: [clip]\n")
    result = run("remediation_job", wh, CatalogSettings(mode="auto_approve", policy_path=str(policy)))
    assert result.success
    assert statuses(wh) == {"clip": "APPROVED", "impute_median": "PROPOSED"}
    assert wh.fetch_one(f"SELECT approver FROM {tables.PATCH_CANDIDATES} WHERE action = 'clip'") == (f"policy:{policy}",)
    assert wh.row_count(tables.FEATURE_PATCHES_ACTIVE.name) == 0


def test_auto_apply_applies_allowlisted_patches_with_no_human(wh, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - feature: revenue_7d\n    actions: [clip]\n    max_severity: high\n")
    instance = dg.DagsterInstance.ephemeral()
    result = run("remediation_job", wh, CatalogSettings(mode="auto_apply", policy_path=str(policy)), instance=instance)
    assert result.success
    assert statuses(wh) == {"clip": "APPLIED", "impute_median": "PROPOSED"}
    assert wh.fetch_one("SELECT MAX(revenue_7d) FROM customer_features_online") == (90.5,)
    assert wh.fetch_one(f"SELECT actor, event FROM {tables.FEATURE_PATCH_LOG}") == (f"policy:{policy}", "apply")
    assert len(instance.fetch_materializations(dg.AssetKey("feature_patch_log"), limit=5).records) == 1


def test_propose_only_ignores_the_policy(wh, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - feature: '*'\n    actions: [clip, impute_median]\n")
    assert run("remediation_job", wh, CatalogSettings(policy_path=str(policy))).success
    assert set(statuses(wh).values()) == {"PROPOSED"}


def test_mode_from_environment(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_REMEDIATION_MODE", "auto_apply")
    monkeypatch.setenv("FEATURE_FACTORY_REMEDIATION_POLICY", "/p.yaml")
    settings = RemediationSettings.from_env()
    assert settings.mode == "auto_apply" and settings.policy_path == "/p.yaml"
    monkeypatch.setenv("FEATURE_FACTORY_REMEDIATION_MODE", "yolo")
    with pytest.raises(ValueError, match="FEATURE_FACTORY_REMEDIATION_MODE='yolo'"):
        RemediationSettings.from_env()


def test_definitions_expose_jobs_and_assets():
    from feature_factory.definitions import defs

    for name in ("remediation_job", "approve_patches_job", "apply_patches_job", "rollback_patch_job"):
        assert defs.resolve_job_def(name).tags.get("feature_factory/concurrency") == "remediation"
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert specs["patch_candidates"].group_name == "remediation"
    assert specs["feature_patch_log"].group_name == "remediation"
    assert dg.AssetKey("drift_alerts") in {d.asset_key for d in specs["patch_candidates"].deps}


def test_applied_model_patches_launch_their_jobs_once(duckdb_warehouse, tmp_path):
    from feature_factory.remediation import sensors

    wh = duckdb_warehouse
    seed_features(wh)
    seed_baseline(wh)
    seed_alerts(wh, [alert("revenue_7d", "MEAN_SHIFT", "high", mean_shift_std=0.8)])
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - feature: revenue_7d\n    actions: [request_retrain, refresh_baseline]\n")
    instance = dg.DagsterInstance.ephemeral()
    assert run("remediation_job", wh, CatalogSettings(mode="auto_apply", policy_path=str(policy)), instance=instance).success
    ids = dict(wh.fetch_all(f"SELECT action, patch_id FROM {tables.PATCH_CANDIDATES} WHERE status = 'APPLIED'"))
    assert set(ids) == {"request_retrain", "refresh_baseline"}

    available = {"retrain_job", "capture_baseline_job"}
    result = sensors.evaluate(dg.build_sensor_context(instance=instance), available)
    by_job = {r.job_name: r for r in result.run_requests}
    assert set(by_job) == available
    assert by_job["retrain_job"].run_key == f"patch:{ids['request_retrain']}"
    window = by_job["capture_baseline_job"].run_config["ops"]["feature_stats_baseline"]["config"]
    # The refresh covers the feature it was approved for, nothing else (issue 28: it recaptured all).
    assert window == {"start_date": "2024-02-12", "end_date": "2024-03-10", "features": ["revenue_7d"]}
    # A restarted sensor resumes from its cursor: nothing is launched twice.
    again = sensors.evaluate(dg.build_sensor_context(instance=instance, cursor=result.cursor), available)
    assert again.run_requests == []


def test_active_patches_check_flags_a_tampered_row(wh):
    from feature_factory.remediation.checks import active_patches_valid

    settings = CatalogSettings()
    run("remediation_job", wh, settings)
    clip_id = wh.fetch_one(f"SELECT patch_id FROM {tables.PATCH_CANDIDATES} WHERE action = 'clip'")[0]
    run("approve_patches_job", wh, settings, run_config={"ops": {"approve_patches": {
        "config": {"approve": [clip_id], "approver": "alice"}}}})
    run("apply_patches_job", wh, settings)
    assert active_patches_valid(warehouse=wh, catalog=settings.catalog_resource()).passed
    wh.execute(f"UPDATE {tables.FEATURE_PATCHES_ACTIVE} SET params = ?", ['{"lower": 0.5, "upper": 1e308}'])
    result = active_patches_valid(warehouse=wh, catalog=settings.catalog_resource())
    assert not result.passed and clip_id in result.description and "does not match its id" in result.description


def test_sensor_requested_run_proposes_for_the_partition_that_fired(wh):
    """The drift sensor tags its remediation run with the partition; an older partition is used,
    not the latest."""
    import datetime as dt

    later = dt.date(2024, 3, 11)
    seed_alerts(wh, [alert("purchases_7d", "OUT_OF_RANGE", "high", day=later)])
    # A row of that day the clip changes (a patch that would change no row is not proposed).
    insert(wh, "customer_features", FEATURE_COLUMNS, [{
        "customer_id": "c00", "snapshot_date": later, "revenue_7d": 1.0, "purchases_7d": 40,
        "amount_stddev_7d": 1.0, "draft_feature": 0.0, "computed_at": dt.datetime(2024, 3, 11, 1)}])
    result = run("remediation_job", wh, CatalogSettings(), tags={"feature_factory/drift_partition": "2024-03-10"})
    assert result.success
    assert statuses(wh) == {"clip": "PROPOSED", "impute_median": "PROPOSED"}
    assert {r[0] for r in wh.fetch_all(f"SELECT feature FROM {tables.PATCH_CANDIDATES}")} == {"revenue_7d", "amount_stddev_7d"}
    assert run("remediation_job", wh, CatalogSettings()).success  # default: the latest partition
    assert wh.fetch_one(f"SELECT params FROM {tables.PATCH_CANDIDATES} WHERE feature = 'purchases_7d'") == (
        '{"lower": 0, "upper": 9}',)
