"""Patches per entity (issue 18): outliers in product_features raise a product_drift_alerts row, the
loop proposes a clip into product_patch_candidates, a person approves it, applying it changes what
product_features_online serves and what product_feature_stats measures (through the patch layer,
from product_feature_patches_active), and rolling back restores both exactly; the customer's
patch tables and features are never touched, though the feature names are the same. On DuckDB and
Snowflake (fakesnow)."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import orjson
import pytest
from product_patch_helpers import (
    FEATURES, LAST, SOURCES, START, ProductSettings, frame, online_max, product_tables, seed_product_drift,
)

from feature_factory.catalog import Catalog
from feature_factory.features import patch_layer
from feature_factory.features.online import build_online_table
from feature_factory.monitoring.report import alerts
from feature_factory.monitoring.detection import baseline
from feature_factory.monitoring.statistics import feature_stats as stats
from feature_factory.monitoring.notifier import LogNotifier
from feature_factory.monitoring.sensors import DriftResponse, build_entity_drift_sensor
from feature_factory.remediation import assets, checks, entity_assets, jobs, loop
from feature_factory.remediation.scope import CUSTOMER_SCOPE, scope_for
from feature_factory.serving.config import OnlineStoreResource


@pytest.fixture
def product(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    return product_tables()


def test_product_clip_is_proposed_approved_applied_and_rolled_back(warehouse, product):
    scope = scope_for(product)
    subject, catalog = scope.subject, Catalog(tuple(FEATURES))
    assert (scope.candidates.name, scope.log.name, scope.active.name) == (
        "product_patch_candidates", "product_feature_patch_log", "product_feature_patches_active")
    warehouse.write_df("product_features_in", frame(), mode="replace")
    warehouse.replace_table("product_features", "SELECT product_id, CAST(snapshot_date AS DATE) AS snapshot_date, "
                            "revenue_7d, orders_7d, CAST(computed_at AS TIMESTAMP) AS computed_at FROM product_features_in")
    b = baseline.capture_baseline(warehouse, START, LAST - dt.timedelta(days=1), FEATURES, subject=subject)
    stats.write_feature_stats(warehouse, START, LAST, FEATURES, binning=b.binning(), subject=subject)
    day = alerts.evaluate_day(warehouse, LAST, FEATURES, subject=subject)
    alerts.write_alerts(warehouse, LAST, alerts.alert_rows(day), subject=subject)
    drift_types, diagnosis = warehouse.fetch_one(
        "SELECT drift_types, diagnosis FROM product_drift_alerts WHERE feature = 'revenue_7d'")
    assert "MEAN_SHIFT" in drift_types and diagnosis == "tail_contamination"  # 15 rows moved, the bulk did not
    lo, hi = b.features["revenue_7d"].min_value, b.features["revenue_7d"].max_value
    build_online_table(warehouse, catalog, entity=product)
    assert online_max(warehouse) == 5000.0

    proposed = loop.propose(warehouse, catalog, alert_date=LAST, scope=scope)
    clips = [r for r in proposed.new if r["action"] == "clip"]
    assert [r["feature"] for r in clips] == ["revenue_7d"]
    # Clipped at the baseline's own extremes (no value it saw changes): the tail_contamination rule.
    assert json.loads(clips[0]["params"]) == {"lower": pytest.approx(lo), "upper": pytest.approx(hi)}
    outside = warehouse.fetch_one("SELECT COUNT(*) FROM product_features WHERE snapshot_date = ? AND "
                                  "(revenue_7d < ? OR revenue_7d > ?)", [str(LAST), lo, hi])[0]
    assert outside >= 15 and json.loads(clips[0]["evidence"])["rows_changed_on_alert_date"] == outside
    assert "FROM product_features" in clips[0]["review_sql"] and "SELECT product_id," in clips[0]["review_sql"]
    assert all(r["action"] not in ("request_retrain", "refresh_baseline") for r in proposed.new)
    assert warehouse.fetch_one("SELECT COUNT(*) FROM product_patch_candidates")[0] == len(proposed.new)
    again = loop.propose(warehouse, catalog, alert_date=LAST, scope=scope)  # content-hash ids: no duplicates
    assert again.new == [] and clips[0]["patch_id"] in again.existing

    pid = clips[0]["patch_id"]
    with pytest.raises(Exception, match="not in patch_candidates"):  # the customer's table has no such patch
        loop.decide(warehouse, catalog, [pid], approver="alice", scope=CUSTOMER_SCOPE)
    loop.decide(warehouse, catalog, [pid], approver="alice", scope=scope)
    rebuild = lambda: build_online_table(warehouse, catalog, entity=product)  # noqa: E731
    logs = loop.apply_approved(warehouse, catalog, actor="alice", patch_ids=[pid], rebuild=rebuild, scope=scope)
    assert [(l["event"], l["feature"]) for l in logs] == [("apply", "revenue_7d")]
    before, after = json.loads(logs[0]["stats_before"]), json.loads(logs[0]["stats_after"])
    assert before["maximum"] == 5000.0 and after["maximum"] == pytest.approx(hi)
    assert online_max(warehouse) == pytest.approx(hi)  # served: patched
    assert warehouse.fetch_all("SELECT patch_id FROM product_feature_patches_active") == [(pid,)]
    assert list(patch_layer.load_active(warehouse, catalog, table=scope.active)) == ["revenue_7d"]
    assert patch_layer.load_active(warehouse, catalog) == {}  # the customer's active patches: none
    stats.write_feature_stats(warehouse, LAST, LAST, FEATURES, binning=b.binning(), subject=subject)
    assert warehouse.fetch_one("SELECT max_value FROM product_feature_stats WHERE feature = 'revenue_7d' "
                               "AND stats_date = ?", [str(LAST)])[0] == pytest.approx(hi)  # monitored: patched
    assert warehouse.fetch_one("SELECT MAX(revenue_7d) FROM product_features")[0] == 5000.0  # stored: unpatched

    log = loop.rollback(warehouse, catalog, pid, actor="bob", rebuild=rebuild, scope=scope)
    assert json.loads(log["stats_after"])["maximum"] == 5000.0
    assert online_max(warehouse) == 5000.0
    assert warehouse.fetch_one("SELECT COUNT(*) FROM product_feature_patches_active")[0] == 0
    assert warehouse.fetch_one("SELECT status FROM product_patch_candidates WHERE patch_id = ?", [pid])[0] == "ROLLED_BACK"
    assert [r[0] for r in warehouse.fetch_all("SELECT event FROM product_feature_patch_log ORDER BY logged_at")] == [
        "apply", "rollback"]
    for table in ("patch_candidates", "feature_patch_log", "feature_patches_active"):  # created by the refused decide
        assert warehouse.fetch_one(f"SELECT COUNT(*) FROM {table}")[0] == 0


def test_product_patches_through_the_dagster_jobs(duckdb_warehouse, product, tmp_path):
    """product_remediation_job proposes, approve_patches_job (entity: product) approves,
    product_apply_patches_job applies, rebuilds product_features_online and refreshes product's
    online store, rollback_patch_job (entity: product) undoes it; each reports the product assets'
    materializations. (Both store backends: serving/test_entity_serving.py.)"""
    wh = duckdb_warehouse
    hi = seed_product_drift(wh, product)
    created, factory_jobs = entity_assets.remediation_assets(product)
    check = checks.build_active_patches_valid(scope_for(product))
    defs = dg.Definitions(assets=[assets.patch_candidates, assets.feature_patch_log, *created],
                          jobs=[jobs.approve_patches_job, jobs.rollback_patch_job, *factory_jobs], asset_checks=[check],
                          resources={"warehouse": wh, "remediation": ProductSettings(),
                                     "catalog": ProductSettings().catalog_resource(),
                                     "online_store": OnlineStoreResource(path=str(tmp_path / "online.sqlite"))})
    instance = dg.DagsterInstance.ephemeral()

    def served_revenue() -> float:
        got = OnlineStoreResource(path=str(tmp_path / "online.sqlite")).store("product").lookup(["p0000"])
        return orjson.loads(got.rows["p0000"][3])["revenue_7d"]

    def run(name: str, config: dict | None = None, tags: dict | None = None):
        result = defs.resolve_job_def(name).execute_in_process(run_config=config or {}, instance=instance,
                                                               tags=tags)
        assert result.success
        return result

    # The drift sensor's path: product_drift_alerts of LAST materialized -> product_drift_sensor
    # requests product_remediation_job for that partition -> the run proposes from that day.
    verdict = {"severity_rank": 4, "severity": "critical", "baseline_version": 1, "features": {"revenue_7d": "critical"}}
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="product_drift_alerts", partition=str(LAST),
        metadata={"partitions": dg.MetadataValue.json({str(LAST): verdict})}))
    ctx = dg.build_sensor_context(instance=instance, resources={"notifier": LogNotifier(),
                                                                "drift_response": DriftResponse()})
    (request,) = build_entity_drift_sensor(scope_for(product).subject).evaluate_tick(ctx).run_requests
    assert (request.job_name, request.tags["feature_factory/drift_partition"]) == ("product_remediation_job", str(LAST))
    r = run(request.job_name, tags=request.tags)
    md = r.asset_materializations_for_node("product_patch_candidates")[0].metadata
    assert md["new_proposals"].value == 1 and md["mode"].value == "propose_only"
    assert md["alert_date"].value == str(LAST)  # the partition the sensor's request named
    (pid,) = [p for (p,) in wh.fetch_all("SELECT patch_id FROM product_patch_candidates WHERE action = 'clip'")]
    assert pid in md["open_patches"].value and "FROM product_features" in md["review_sql"].value

    r = run("approve_patches_job", {"ops": {"approve_patches": {"config": {
        "approve": [pid], "approver": "alice", "entity": "product"}}}})
    assert [e.asset_key.path[-1] for e in r.asset_materializations_for_node("approve_patches")] == [
        "product_patch_candidates"]
    r = run("product_apply_patches_job", {"ops": {"product_feature_patch_log": {"config": {"actor": "alice"}}}})
    keys = {m.asset_key.path[-1] for m in r.asset_materializations_for_node("product_feature_patch_log")}
    assert keys == {"product_feature_patch_log", "product_features_online", "product_patch_candidates",
                    "product_features_online_store"}  # product's own store, not the customer's
    assert online_max(wh) == pytest.approx(hi)
    assert served_revenue() == pytest.approx(hi)  # p0000 had 5000: the store serves the patched value
    assert not (tmp_path / "online.sqlite").exists()  # the customer's store: untouched
    # The apply run re-validated product's active patches (the blocking check on its patch log).
    (evaluation,) = r.get_asset_check_evaluations()
    assert (evaluation.asset_key.path[-1], evaluation.check_name, evaluation.passed) == (
        "product_feature_patch_log", "active_patches_valid", True)
    assert evaluation.description == "1 active patch(es) of entity 'product' (product_feature_patches_active) valid"
    # A tampered row fails it naming the patch; the customer's check does not read product's table.
    (params,) = wh.fetch_one("SELECT params FROM product_feature_patches_active")
    wh.execute("UPDATE product_feature_patches_active SET params = ?", ['{"lower": 0.5, "upper": 1e308}'])
    result = check(warehouse=wh, catalog=ProductSettings().catalog_resource())
    assert not result.passed and result.description.startswith(f"{pid}: ") and "does not match its id" in result.description
    assert result.metadata["active_patches"].value == 1
    assert checks.active_patches_valid(warehouse=wh, catalog=ProductSettings().catalog_resource()
                                       ).metadata["active_patches"].value == 0
    # A product feature gone from the catalog fails it too (validated against product's features).
    wh.execute("UPDATE product_feature_patches_active SET params = ?", [params])
    assert check(warehouse=wh, catalog=ProductSettings().catalog_resource()).passed

    result = check(warehouse=wh, catalog=ProductSettings().catalog_resource([FEATURES[1]]))
    assert not result.passed and pid in result.description and "revenue_7d" in result.description

    r = run("rollback_patch_job", {"ops": {"rollback_patch": {"config": {
        "patch_id": pid, "actor": "bob", "entity": "product"}}}})
    assert {m.asset_key.path[-1] for m in r.asset_materializations_for_node("rollback_patch")} == {
        "product_feature_patch_log", "product_features_online", "product_patch_candidates",
        "product_features_online_store"}
    assert online_max(wh) == 5000.0
    assert served_revenue() == 5000.0  # and the store serves the original again
    assert wh.fetch_all("SELECT event, actor FROM product_feature_patch_log ORDER BY logged_at") == [
        ("apply", "alice"), ("rollback", "bob")]
    assert not wh.table_exists("patch_candidates")  # nothing reached the customer's tables


def test_product_patches_are_approved_and_applied_by_policy(warehouse, product, tmp_path):
    """Issue 27: the policy approval modes serve every entity. A rule for product's revenue_7d clip
    approves (auto_apply: and applies) product's proposal; the same rule for the customer does not."""
    hi = seed_product_drift(warehouse, product)
    created, factory_jobs = entity_assets.remediation_assets(product)
    rule = "rules: [{feature: '%s', entity: %s, actions: [clip], diagnoses: [tail_contamination]}]"

    def remediate(entity: str, mode: str, feature: str = "revenue_7d"):
        policy = tmp_path / f"{entity}.yaml"
        policy.write_text(rule % (feature, entity))
        settings = ProductSettings(mode=mode, policy_path=str(policy))
        defs = dg.Definitions(assets=created, jobs=factory_jobs, resources={
            "warehouse": warehouse, "remediation": settings, "catalog": settings.catalog_resource(),
            "online_store": OnlineStoreResource(path=str(tmp_path / "online.sqlite"))})
        result = defs.resolve_job_def("product_remediation_job").execute_in_process(
            instance=dg.DagsterInstance.ephemeral())
        assert result.success
        (md,) = [m.metadata for m in result.asset_materializations_for_node("product_patch_candidates")
                 if "approved_by_policy" in m.metadata]  # the asset's own (auto_apply also reports others)
        return md, policy

    md, _ = remediate("customer", "auto_approve", "*")  # a customer rule: product's clip waits for a person
    (pid,) = [p for (p,) in warehouse.fetch_all("SELECT patch_id FROM product_patch_candidates WHERE action = 'clip'")]
    assert md["approved_by_policy"].value == [] and md["mode"].value == "auto_approve"
    md, policy = remediate("product", "auto_apply")
    assert md["approved_by_policy"].value == [pid] and md["applied"].value == [pid]
    assert warehouse.fetch_one("SELECT status, approver FROM product_patch_candidates WHERE patch_id = ?", [pid]) == (
        "APPLIED", f"policy:{policy}")
    assert online_max(warehouse) == pytest.approx(hi)  # served values clipped at the baseline's maximum
    assert not warehouse.table_exists("patch_candidates")  # the customer's tables untouched
