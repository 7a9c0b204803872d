"""The issue's "done when", end to end on generated data: outliers injected by the generator ->
ingestion -> customer_features -> baseline -> OUT_OF_RANGE alert (monitoring's real drift code) ->
clip proposed -> approved through approve_patches_job -> applied by apply_patches_job -> online
features clipped, training-set SQL patched -> drift on the patched values back under threshold ->
rollback_patch_job -> online table identical to before.

Stand-ins (until the features domain lands): `customer_features` is built by a small SQL here (three
7-day features, dense customer x day grid) and the online table by `build_online` below; both read
events/features the same way the real modules are specified to.
"""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest
from remediation_helpers import CatalogSettings, build_online, dump, spec
from remediation_helpers import run_job as run

from feature_factory.catalog_resource import CatalogResource
from feature_factory import tables
from feature_factory.catalog import Catalog, DType
from feature_factory.events.config import IngestionConfig
from feature_factory.synthetic.generator import DriftConfig, GeneratorConfig, generate
from feature_factory.events.ingestion import ingest_range
from feature_factory.monitoring.report import alerts
from feature_factory.monitoring.detection import baseline
from feature_factory.remediation import online_refresh as online

START, DAYS = dt.date(2024, 1, 1), 28
LAST = START + dt.timedelta(days=DAYS - 1)
CATALOG = Catalog((spec("revenue_7d", min=0.0), spec("purchases_7d", DType.INT, min=0), spec("max_amount_7d", min=0.0)))

FEATURES_SQL = """
WITH days AS (SELECT DISTINCT event_date AS snapshot_date FROM raw_events),
cust AS (SELECT DISTINCT customer_id FROM raw_events)
SELECT c.customer_id, d.snapshot_date,
  CAST(COALESCE(SUM(CASE WHEN e.event_type = 'purchase' THEN e.amount END), 0) AS DOUBLE) AS revenue_7d,
  CAST(COUNT(CASE WHEN e.event_type = 'purchase' THEN 1 END) AS BIGINT) AS purchases_7d,
  CAST(MAX(e.amount) AS DOUBLE) AS max_amount_7d
FROM cust c CROSS JOIN days d
LEFT JOIN raw_events e ON e.customer_id = c.customer_id
  AND e.event_date BETWEEN d.snapshot_date - 6 AND d.snapshot_date
GROUP BY 1, 2"""


class E2ESettings(CatalogSettings):
    def catalog_resource(self):
        return CatalogResource.of(CATALOG)


def drift_of(wh, feature):
    (result,) = [r for r in alerts.evaluate_day(wh, LAST, CATALOG.computed()).results if r.feature == feature]
    return result


@pytest.mark.slow
def test_outliers_to_clip_to_rollback(duckdb_warehouse, tmp_path, monkeypatch):
    wh = duckdb_warehouse
    landing = tmp_path / "landing"
    generate(GeneratorConfig(customers=300, days=DAYS, seed=11, start=START, out_dir=landing,
                             drift=DriftConfig(start=LAST - dt.timedelta(days=2), outlier_rate=0.05)))
    ingest_range(wh, START, LAST + dt.timedelta(days=1), IngestionConfig(landing_dir=str(landing)), start_date=START)
    wh.replace_table("customer_features", FEATURES_SQL)
    baseline.capture_baseline(wh, START + dt.timedelta(days=7), START + dt.timedelta(days=20), CATALOG.computed())
    monkeypatch.setattr(online, "_builder", lambda: build_online)
    build_online(wh, CATALOG)
    before = dump(wh, "customer_features_online")

    # The drift: outliers move revenue_7d at medium or above (which types fire is drift.py's
    # calibration); the diagnosis sees a stable bulk: tail contamination.
    drifted = drift_of(wh, "revenue_7d")
    assert drifted.severity_rank >= 2 and drifted.types.keys() & {"OUT_OF_RANGE", "VARIANCE_CHANGE", "MEAN_SHIFT"}
    alerts.write_alerts(wh, LAST, alerts.alert_rows(alerts.evaluate_day(wh, LAST, CATALOG.computed())))

    instance = dg.DagsterInstance.ephemeral()
    settings = E2ESettings()
    assert run("remediation_job", wh, settings, instance=instance).success
    clip_id, params = wh.fetch_one(
        f"SELECT patch_id, params FROM {tables.PATCH_CANDIDATES} WHERE feature = 'revenue_7d' AND action = 'clip'")
    # Tail contamination: the clip sits at the baseline's own maximum (and the declared minimum), so
    # no value the baseline saw can change.
    p99 = wh.fetch_one("SELECT max_value FROM feature_stats_baseline WHERE feature = 'revenue_7d' AND is_current")[0]
    assert json.loads(params) == {"lower": 0.0, "upper": p99}
    evidence = json.loads(wh.fetch_one(f"SELECT evidence FROM {tables.PATCH_CANDIDATES} WHERE patch_id = ?", [clip_id])[0])
    assert evidence["diagnosis"] == "tail_contamination" and "bulk is stable" in evidence["why"]

    assert run("approve_patches_job", wh, settings, instance=instance, run_config={"ops": {"approve_patches": {
        "config": {"approve": [clip_id], "approver": "alice"}}}}).success
    assert run("apply_patches_job", wh, settings, instance=instance).success

    # Served values are clipped; other features untouched; training reads the same expression.
    assert wh.fetch_one("SELECT MAX(revenue_7d) FROM customer_features_online")[0] == pytest.approx(p99)
    assert wh.fetch_one("SELECT MAX(revenue_7d) FROM customer_features WHERE snapshot_date = ?", [LAST])[0] > p99
    unpatched = dict((r[0], r[1:]) for r in before[0])
    for row in wh.fetch_all("SELECT customer_id, snapshot_date, revenue_7d, purchases_7d FROM customer_features_online"):
        assert row[3] == unpatched[row[0]][2]  # purchases_7d
        assert row[2] == pytest.approx(min(unpatched[row[0]][1], p99))
    from feature_factory.ml.training_set import feature_expressions

    assert "CASE WHEN revenue_7d" in feature_expressions(wh, CATALOG.trainable())["revenue_7d"]

    # Drift measured through the patch layer: the outliers now sit at the baseline's maximum, so
    # the mean shift they caused shrinks (baseline maxima are heavy-tailed: not to zero) (they are still above its p99: OUT_OF_RANGE may remain).
    patched = drift_of(wh, "revenue_7d")
    assert abs(patched.metrics["mean_shift_std"]) < abs(drifted.metrics["mean_shift_std"])

    assert run("rollback_patch_job", wh, settings, instance=instance, run_config={"ops": {"rollback_patch": {
        "config": {"patch_id": clip_id, "actor": "bob"}}}}).success
    assert dump(wh, "customer_features_online") == before
    assert drift_of(wh, "revenue_7d").types == drifted.types
    assert wh.fetch_all(f"SELECT event, actor FROM {tables.FEATURE_PATCH_LOG} ORDER BY logged_at") == [
        ("apply", "dagster"), ("rollback", "bob")]
