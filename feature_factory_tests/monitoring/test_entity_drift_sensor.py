"""The drift sensor per entity (issue 18): `product_drift_sensor` watches product_drift_alerts and
requests product_remediation_job once per partition and baseline version, alerting through the
notifier; it never requests a retrain, the customer's drift_sensor never sees product alerts, and
a run answering one entity's alert never marks the other's handled. Built from the catalog: the
code location with the example files has the sensor beside the product assets."""

from __future__ import annotations

import importlib
from pathlib import Path

import dagster as dg
import pytest

from feature_factory.catalog import load_catalog, load_sources
from feature_factory.features.entities import entity_tables
from feature_factory.monitoring.notifier import Notifier
from feature_factory.monitoring.sensors import (DRIFT_KEY_TAG, DriftCursor, DriftResponse, build_drift_sensor,
                                                build_entity_drift_sensor)
from feature_factory.monitoring.subject import CUSTOMER, subject_for

from .job_stubs import remediation_stub, retrain_stub

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
SOURCES = EXAMPLES / "sources_orders.yaml"
CATALOG = EXAMPLES / "features_orders.yaml"


class Recorder(Notifier):
    """A notifier keeping what it was sent (the webhook path is tested in test_monitoring_sensor)."""

    def notify(self, alert: dict) -> bool:
        type(self).sent.append(alert)
        return True


@pytest.fixture
def product(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    Recorder.sent = []
    return subject_for(entity_tables("product", load_sources(SOURCES)))


def report(instance, asset: str, partition: str, rank: int, version: int, features: dict):
    sev = ["none", "low", "medium", "high", "critical"][rank]
    per = {partition: {"severity_rank": rank, "severity": sev, "baseline_version": version, "features": features}}
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=asset, partition=partition, metadata={"partitions": dg.MetadataValue.json(per)}))


def tick(sensor, instance, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "notifier": Recorder(), "drift_response": DriftResponse()})
    data = sensor.evaluate_tick(ctx)
    return data.run_requests, data.cursor


def test_product_drift_is_alerted_and_remediated_once_per_partition_and_baseline(product):
    sensor = build_entity_drift_sensor(product)
    customer = build_drift_sensor([remediation_stub, retrain_stub], read_champion=lambda: {"revenue_7d"})
    assert sensor.name == "product_drift_sensor" and sensor.job_name == "product_remediation_job"
    with dg.instance_for_test() as instance:
        report(instance, "product_drift_alerts", "2024-03-01", 1, 1, {"orders_7d": "low"})  # below medium
        report(instance, "product_drift_alerts", "2024-03-02", 3, 1, {"revenue_7d": "high", "orders_7d": "low"})
        report(instance, "drift_alerts", "2024-03-02", 3, 1, {"revenue_7d": "high"})
        requests, cursor = tick(sensor, instance)
        assert [(r.job_name, r.run_key, r.tags[DRIFT_KEY_TAG]) for r in requests] == [
            ("product_remediation_job", "remediation:product:2024-03-02:1", "product:2024-03-02:1")]
        assert [(a["entity"], a["alerts"], a["partition"], a["features"], a["max_severity"]) for a in Recorder.sent] == [
            ("product", "product_drift_alerts", "2024-03-02", {"revenue_7d": "high"}, "high")]
        # No retrain, though the champion uses a feature called revenue_7d: that is the customer's.
        assert DriftCursor.parse(cursor).fired == ["product:2024-03-02:1"]
        # Re-judged against the same baseline: nothing; a new baseline version: once more.
        report(instance, "product_drift_alerts", "2024-03-02", 4, 1, {"revenue_7d": "critical"})
        assert tick(sensor, instance, cursor)[0] == []
        report(instance, "product_drift_alerts", "2024-03-02", 2, 2, {"revenue_7d": "medium"})
        requests, cursor = tick(sensor, instance, cursor)
        assert [r.run_key for r in requests] == ["remediation:product:2024-03-02:2"]
        assert len(Recorder.sent) == 2

        # The customer's sensor reads drift_alerts only, with its keys and jobs as before.
        Recorder.sent.clear()
        requests, _ = tick(customer, instance)
        assert [(r.job_name, r.run_key) for r in requests] == [
            ("remediation_job", "remediation:2024-03-02:1"), ("retrain_job", "retrain:2024-03-02:1")]
        assert "entity" not in Recorder.sent[0] and Recorder.sent[0]["partition"] == "2024-03-02"

        # A customer run answering 2024-03-02:1 does not make the product alert handled (and back).
        assert remediation_stub.execute_in_process(instance=instance, tags=requests[0].tags).success
        assert [r.run_key for r in tick(sensor, instance)[0]] == [
            "remediation:product:2024-03-02:1", "remediation:product:2024-03-02:2"]
        assert tick(customer, instance)[0] == []  # handled by that run


def test_the_customer_is_an_entity_like_any_other_for_the_sensor():
    """Issue 27: no customer-only sensor builder; the customer's names come from its spec."""
    sensor = build_entity_drift_sensor(CUSTOMER)
    assert (sensor.name, [t.job_name for t in sensor.targets]) == ("drift_sensor", ["remediation_job"])


DOMAINS = ("feature_factory.events.definitions", "feature_factory.features.definitions",
           "feature_factory.monitoring.definitions", "feature_factory.remediation.definitions")


def test_the_code_location_with_the_example_files_has_the_product_sensor(monkeypatch):
    """A catalog entry plus a reload: product_drift_sensor appears, targeting the factory's
    product_remediation_job; the customer's drift_sensor keeps its name and targets."""
    from feature_factory import definitions

    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))
    try:
        for name in DOMAINS:
            importlib.reload(importlib.import_module(name))
        defs = definitions.build_defs()
        sensors = {s.name: s for s in defs.sensors}
        assert {"drift_sensor", "product_drift_sensor"} <= set(sensors)
        assert sorted(t.job_name for t in sensors["drift_sensor"].targets) == ["remediation_job", "retrain_job"]
        product = defs.resolve_sensor_def("product_drift_sensor")
        assert [t.job_name for t in product.targets] == ["product_remediation_job"]
        assert product.default_status == dg.DefaultSensorStatus.RUNNING
        assert {k.path[-1] for k in defs.resolve_job_def("product_remediation_job").asset_layer.selected_asset_keys} \
            == {"product_patch_candidates"}
        checks = {(k.asset_key.path[-1], k.name) for c in defs.asset_checks for k in c.check_keys}
        assert {("feature_patch_log", "active_patches_valid"),
                ("product_feature_patch_log", "active_patches_valid")} <= checks
    finally:
        monkeypatch.delenv("FEATURE_FACTORY_SOURCES")
        monkeypatch.delenv("FEATURE_FACTORY_CATALOG")
        for name in DOMAINS:
            importlib.reload(importlib.import_module(name))
    assert "product_drift_sensor" not in {s.name for s in definitions.build_defs().sensors}
    assert load_catalog().entities() == []


def test_one_builder_makes_every_entity_s_sensor_retrain_only_with_a_model(monkeypatch, tmp_path):
    """Issue 27: wiring.drift_sensors builds the customer's and product's sensors the same way;
    product requests a retrain only once its spec declares a model (here the churn model's job)."""
    import yaml

    from feature_factory import wiring

    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))
    remediation = importlib.import_module("feature_factory.remediation.definitions")
    try:
        importlib.reload(remediation)  # the code location as loaded with the example files
        catalog = load_catalog(CATALOG)
        targets = {s.name: sorted(t.job_name for t in s.targets) for s in wiring.drift_sensors(catalog=catalog)}
        assert targets == {"drift_sensor": ["remediation_job", "retrain_job"],
                           "product_drift_sensor": ["product_remediation_job"]}
        doc = yaml.safe_load(SOURCES.read_text())
        doc["entities"]["product"]["model"] = {"asset": "churn_model", "label": "churn_labels",
                                               "retrain_job": "retrain_job"}
        path = tmp_path / "sources.yaml"
        path.write_text(yaml.safe_dump(doc))
        monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(path))
        product = {s.name: s for s in wiring.drift_sensors(catalog=catalog)}["product_drift_sensor"]
        assert sorted(t.job_name for t in product.targets) == ["product_remediation_job", "retrain_job"]
    finally:
        monkeypatch.delenv("FEATURE_FACTORY_SOURCES")
        monkeypatch.delenv("FEATURE_FACTORY_CATALOG")
        importlib.reload(remediation)
