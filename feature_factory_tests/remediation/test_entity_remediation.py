"""Patches per entity (issue 18): outliers in product_features raise a product_drift_alerts row, the
loop proposes a clip into product_patch_candidates, a person approves it, applying it changes what
product_features_online serves and what product_feature_stats measures (through the patch layer,
from product_feature_patches_active), and rolling back restores both exactly; the customer's
patch tables and features are never touched, though the feature names are the same. On DuckDB and
Snowflake (fakesnow)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from feature_factory.catalog import Catalog, DType, FeatureSpec, Lifecycle, load_sources
from feature_factory.features import patch_layer
from feature_factory.features.entities import entity_tables
from feature_factory.features.online import build_online_table
from feature_factory.monitoring import alerts, baseline, stats
from feature_factory.remediation import assets, entity_assets, jobs, loop
from feature_factory.remediation.resources import RemediationSettings
from feature_factory.remediation.scope import CUSTOMER_SCOPE, scope_for
from feature_factory.serving.config import OnlineStoreResource

SOURCES = Path(__file__).parents[2] / "docs" / "examples" / "sources_orders.yaml"
START = dt.date(2024, 1, 1)
DAYS = 10
LAST = START + dt.timedelta(days=DAYS - 1)


def _spec(name: str, dtype: DType = DType.FLOAT) -> FeatureSpec:
    return FeatureSpec(name=name, description=name, owner="tests", dtype=dtype, lifecycle=Lifecycle.ACTIVE,
                       aggregate=None, window_days=7, entity="product")


FEATURES = [_spec("revenue_7d"), _spec("orders_7d", DType.INT)]


def _frame() -> pd.DataFrame:
    """300 products a day; on the last day 5 % of them have revenue_7d = 5000 (far above p99)."""
    rng = np.random.default_rng(11)
    frames = []
    for d in range(DAYS):
        revenue = rng.normal(100.0, 15.0, 300)
        if d == DAYS - 1:
            revenue[:15] = 5000.0
        frames.append(pd.DataFrame({"product_id": [f"p{i:04d}" for i in range(300)],
                                    "snapshot_date": str(START + dt.timedelta(days=d)),
                                    "revenue_7d": revenue, "orders_7d": rng.poisson(4, 300).astype("int64"),
                                    "computed_at": "2024-06-01 00:00:00"}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def product(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    return entity_tables("product", load_sources(SOURCES))


def _online_max(warehouse) -> float:
    return float(warehouse.fetch_one("SELECT MAX(revenue_7d) FROM product_features_online")[0])


def test_product_clip_is_proposed_approved_applied_and_rolled_back(warehouse, product):
    scope = scope_for(product)
    subject, catalog = scope.subject, Catalog(tuple(FEATURES))
    assert (scope.candidates.name, scope.log.name, scope.active.name) == (
        "product_patch_candidates", "product_feature_patch_log", "product_feature_patches_active")
    warehouse.write_df("product_features_in", _frame(), mode="replace")
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
    assert _online_max(warehouse) == 5000.0

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
    assert _online_max(warehouse) == pytest.approx(hi)  # served: patched
    assert warehouse.fetch_all("SELECT patch_id FROM product_feature_patches_active") == [(pid,)]
    assert list(patch_layer.load_active(warehouse, catalog, table=scope.active)) == ["revenue_7d"]
    assert patch_layer.load_active(warehouse, catalog) == {}  # the customer's active patches: none
    stats.write_feature_stats(warehouse, LAST, LAST, FEATURES, binning=b.binning(), subject=subject)
    assert warehouse.fetch_one("SELECT max_value FROM product_feature_stats WHERE feature = 'revenue_7d' "
                               "AND stats_date = ?", [str(LAST)])[0] == pytest.approx(hi)  # monitored: patched
    assert warehouse.fetch_one("SELECT MAX(revenue_7d) FROM product_features")[0] == 5000.0  # stored: unpatched

    log = loop.rollback(warehouse, catalog, pid, actor="bob", rebuild=rebuild, scope=scope)
    assert json.loads(log["stats_after"])["maximum"] == 5000.0
    assert _online_max(warehouse) == 5000.0
    assert warehouse.fetch_one("SELECT COUNT(*) FROM product_feature_patches_active")[0] == 0
    assert warehouse.fetch_one("SELECT status FROM product_patch_candidates WHERE patch_id = ?", [pid])[0] == "ROLLED_BACK"
    assert [r[0] for r in warehouse.fetch_all("SELECT event FROM product_feature_patch_log ORDER BY logged_at")] == [
        "apply", "rollback"]
    for table in ("patch_candidates", "feature_patch_log", "feature_patches_active"):  # created by the refused decide
        assert warehouse.fetch_one(f"SELECT COUNT(*) FROM {table}")[0] == 0


class ProductSettings(RemediationSettings):
    """The remediation resource with the product features as the catalog's `others`."""

    def load_catalog(self):
        return Catalog((), tuple(FEATURES))


def _seed(warehouse, product) -> float:
    """product_features with outliers on LAST, a baseline and that day's alerts; the baseline max."""
    warehouse.write_df("product_features_in", _frame(), mode="replace")
    warehouse.replace_table("product_features", "SELECT product_id, CAST(snapshot_date AS DATE) AS snapshot_date, "
                            "revenue_7d, orders_7d, CAST(computed_at AS TIMESTAMP) AS computed_at FROM product_features_in")
    subject = scope_for(product).subject
    b = baseline.capture_baseline(warehouse, START, LAST - dt.timedelta(days=1), FEATURES, subject=subject)
    alerts.write_alerts(warehouse, LAST, alerts.alert_rows(alerts.evaluate_day(warehouse, LAST, FEATURES,
                                                                               subject=subject)), subject=subject)
    build_online_table(warehouse, Catalog(tuple(FEATURES)), entity=product)
    return b.features["revenue_7d"].max_value


def test_product_patches_through_the_dagster_jobs(duckdb_warehouse, product, tmp_path):
    """product_remediation_job proposes, approve_patches_job (entity: product) approves,
    product_apply_patches_job applies and rebuilds product_features_online, rollback_patch_job
    (entity: product) undoes it; each reports the product assets' materializations."""
    wh = duckdb_warehouse
    hi = _seed(wh, product)
    created, factory_jobs = entity_assets.remediation_assets(product)
    defs = dg.Definitions(assets=[assets.patch_candidates, assets.feature_patch_log, *created],
                          jobs=[jobs.approve_patches_job, jobs.rollback_patch_job, *factory_jobs],
                          resources={"warehouse": wh, "remediation": ProductSettings(),
                                     "online_store": OnlineStoreResource(path=str(tmp_path / "online.sqlite"))})
    instance = dg.DagsterInstance.ephemeral()

    def run(name: str, config: dict | None = None):
        result = defs.resolve_job_def(name).execute_in_process(run_config=config or {}, instance=instance)
        assert result.success
        return result

    r = run("product_remediation_job")
    md = r.asset_materializations_for_node("product_patch_candidates")[0].metadata
    assert md["new_proposals"].value == 1 and md["mode"].value == "propose_only"
    (pid,) = [p for (p,) in wh.fetch_all("SELECT patch_id FROM product_patch_candidates WHERE action = 'clip'")]
    assert pid in md["open_patches"].value and "FROM product_features" in md["review_sql"].value

    r = run("approve_patches_job", {"ops": {"approve_patches": {"config": {
        "approve": [pid], "approver": "alice", "entity": "product"}}}})
    assert [e.asset_key.path[-1] for e in r.asset_materializations_for_node("approve_patches")] == [
        "product_patch_candidates"]
    r = run("product_apply_patches_job", {"ops": {"product_feature_patch_log": {"config": {"actor": "alice"}}}})
    keys = {m.asset_key.path[-1] for m in r.asset_materializations_for_node("product_feature_patch_log")}
    assert keys == {"product_feature_patch_log", "product_features_online", "product_patch_candidates"}
    assert _online_max(wh) == pytest.approx(hi)
    assert "customer_features_online_store" not in keys  # the online store serves customers only

    r = run("rollback_patch_job", {"ops": {"rollback_patch": {"config": {
        "patch_id": pid, "actor": "bob", "entity": "product"}}}})
    assert {m.asset_key.path[-1] for m in r.asset_materializations_for_node("rollback_patch")} == {
        "product_feature_patch_log", "product_features_online", "product_patch_candidates"}
    assert _online_max(wh) == 5000.0
    assert wh.fetch_all("SELECT event, actor FROM product_feature_patch_log ORDER BY logged_at") == [
        ("apply", "alice"), ("rollback", "bob")]
    assert not wh.table_exists("patch_candidates")  # nothing reached the customer's tables
