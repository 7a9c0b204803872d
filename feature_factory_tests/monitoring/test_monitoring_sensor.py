"""Drift sensor: once per (partition, baseline version) across restarts; webhook notifier."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from feature_factory.monitoring.notifier import LogNotifier, WebhookNotifier
from feature_factory.monitoring.sensors import DRIFT_KEY_TAG, DriftCursor, DriftResponse, build_drift_sensor

from .job_stubs import remediation_stub, retrain_stub


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received, _Hook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", _Hook
    server.shutdown()
    server.server_close()


def report(instance, partition: str, rank: int, version: int | None, features: dict | None = None,
           captured: str | None = None):
    sev = ["none", "low", "medium", "high", "critical"][rank]
    per = {partition: {"severity_rank": rank, "severity": sev, "baseline_version": version,
                       "features": features or {}, **({"baseline_captured_at": captured} if captured else {})}}
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="drift_alerts", partition=partition,
        metadata={"max_severity": sev, "max_severity_rank": rank, "partitions": dg.MetadataValue.json(per),
                  **({"baseline_version": version} if version is not None else {})},
    ))


def tick(sensor, instance, cursor, url, response=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "notifier": WebhookNotifier(url=url, timeout_s=2), "drift_response": response or DriftResponse()})
    data = sensor.evaluate_tick(ctx)
    return [(r.job_name, r.run_key) for r in data.run_requests], data.cursor


def test_fires_once_per_partition_and_baseline_version_across_restarts(webhook, monkeypatch):
    url, hook = webhook
    sensor = build_drift_sensor([remediation_stub, retrain_stub], read_champion=lambda: {"revenue_7d"})
    with dg.instance_for_test() as instance:
        report(instance, "2024-03-01", 1, 1, {"events_7d": "low"})  # below the threshold
        report(instance, "2024-03-02", 3, 1, {"revenue_7d": "high", "events_7d": "low"})
        report(instance, "2024-03-03", 2, None)  # no baseline: nothing to act on
        requests, cursor = tick(sensor, instance, None, url)
        assert requests == [("remediation_job", "remediation:2024-03-02:1"),
                            ("retrain_job", "retrain:2024-03-02:1")]
        assert len(hook.received) == 1
        content_type, alert = hook.received[0]
        assert content_type == "application/json"
        assert alert["partition"] == "2024-03-02" and alert["max_severity"] == "high"
        assert alert["features"] == {"revenue_7d": "high"} and alert["baseline_version"] == 1

        # A daemon restart: a new context with the stored cursor sees nothing new.
        requests, cursor = tick(sensor, instance, cursor, url)
        assert requests == [] and len(hook.received) == 1
        # Re-materializing the same partition against the same baseline does not fire again...
        report(instance, "2024-03-02", 4, 1, {"revenue_7d": "critical"})
        requests, cursor = tick(sensor, instance, cursor, url)
        assert requests == [] and len(hook.received) == 1
        # ...but against a new baseline version it does (drift not touching the champion: no retrain).
        report(instance, "2024-03-02", 2, 2, {"events_7d": "medium"})
        requests, cursor = tick(sensor, instance, cursor, url)
        assert requests == [("remediation_job", "remediation:2024-03-02:2")]
        assert len(hook.received) == 2
        assert DriftCursor.parse(cursor).fired == ["2024-03-02:1", "2024-03-02:2"]


def test_threshold_is_configurable_and_missing_jobs_only_alert(webhook):
    url, hook = webhook
    with dg.instance_for_test() as instance:
        report(instance, "2024-03-05", 1, 3, {"events_7d": "low"})
        alert_only = build_drift_sensor([])
        requests, _ = tick(alert_only, instance, None, url, DriftResponse(min_severity="low"))
        assert requests == [] and hook.received[0][1]["partition"] == "2024-03-05"
        requests, _ = tick(build_drift_sensor([remediation_stub]), instance, None, url,
                           DriftResponse(min_severity="high"))
        assert requests == [] and len(hook.received) == 1
        with pytest.raises(ValueError, match="low or above"):
            DriftResponse(min_severity="none").min_rank()


def test_webhook_failures_are_logged_not_raised(webhook, caplog):
    url, hook = webhook
    hook.status = 500
    assert WebhookNotifier(url=url).notify({"kind": "test"}) is False
    assert WebhookNotifier(url="http://127.0.0.1:9/nothing", timeout_s=0.5).notify({"kind": "x"}) is False
    hook.status = 200
    assert WebhookNotifier(url=url).notify({"kind": "ok"}) is True
    assert [a["kind"] for _, a in hook.received] == ["test", "ok"]
    assert LogNotifier().notify({"kind": "log"}) is True


def test_a_range_run_is_acted_on_once_for_its_newest_drifted_day(webhook):
    """A backfill materializes every day of its range in one run: one alert and one remediation
    request (newest drifted day), and a later tick does not act on the range's other days."""
    url, hook = webhook
    days = {f"2024-03-0{i}": ("critical" if i in (3, 5) else "none") for i in range(1, 7)}

    @dg.asset(name="drift_alerts", partitions_def=dg.DailyPartitionsDefinition("2024-03-01"),
              backfill_policy=dg.BackfillPolicy.single_run())
    def fake_drift_alerts():
        ranks = {"none": 0, "critical": 4}
        per = {d: {"severity_rank": ranks[s], "severity": s, "baseline_version": 1,
                   "features": {"revenue_7d": s} if s != "none" else {}} for d, s in days.items()}
        return dg.MaterializeResult(metadata={"partitions": dg.MetadataValue.json(per)})

    sensor = build_drift_sensor([remediation_stub])
    with dg.instance_for_test() as instance:
        assert dg.materialize([fake_drift_alerts], instance=instance, tags={
            "dagster/asset_partition_range_start": "2024-03-01",
            "dagster/asset_partition_range_end": "2024-03-06"}).success
        requests, cursor = tick(sensor, instance, None, url)
        assert requests == [("remediation_job", "remediation:2024-03-05:1")]
        assert len(hook.received) == 1
        assert hook.received[0][1]["drifted_days_in_run"] == ["2024-03-03", "2024-03-05"]
        assert DriftCursor.parse(cursor).fired == ["2024-03-03:1", "2024-03-05:1"]
        assert tick(sensor, instance, cursor, url)[0] == []


def test_a_drift_key_some_run_already_carries_is_not_acted_on_again(webhook):
    """A sensor with a new cursor (the daemon after the demo ran the requests in process) skips
    the (partition, baseline version) a launched run is tagged with: no alert, no request."""
    url, hook = webhook
    sensor = build_drift_sensor([remediation_stub])
    with dg.instance_for_test() as instance:
        report(instance, "2024-03-02", 3, 1, {"revenue_7d": "high"})
        report(instance, "2024-03-04", 3, 1, {"revenue_7d": "high"})
        ctx = dg.build_sensor_context(instance=instance, resources={
            "notifier": WebhookNotifier(url=url, timeout_s=2), "drift_response": DriftResponse()})
        first = sensor.evaluate_tick(ctx).run_requests
        assert [r.tags[DRIFT_KEY_TAG] for r in first] == ["2024-03-02:1", "2024-03-04:1"]
        # Launch the first request as the demo does (in process, with the request's tags).
        assert remediation_stub.execute_in_process(instance=instance, tags=first[0].tags).success
        requests, cursor = tick(sensor, instance, None, url)
        assert requests == [("remediation_job", "remediation:2024-03-04:1")]
        assert [a["partition"] for _, a in hook.received] == ["2024-03-02", "2024-03-04", "2024-03-04"]
        assert DriftCursor.parse(cursor).fired == ["2024-03-02:1", "2024-03-04:1"]
        # A run answers the alerts recorded before it: the same partition judged again later (a demo
        # rerun on a wiped warehouse) is a new alert.
        report(instance, "2024-03-02", 2, 1, {"revenue_7d": "medium"})
        requests, _ = tick(sensor, instance, None, url)
        assert requests == [("remediation_job", "remediation:2024-03-04:1"),
                            ("remediation_job", "remediation:2024-03-02:1")]


def _demo_tick(sensor, instance, url):
    """What the demo does after each story: tick from no cursor until the cursor stops moving."""
    requests, cursor = [], None
    while True:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
            "notifier": WebhookNotifier(url=url, timeout_s=2), "drift_response": DriftResponse()})
        data = sensor.evaluate_tick(ctx)
        requests += data.run_requests
        if data.cursor == cursor:
            return requests
        cursor = data.cursor


def test_a_third_story_in_the_same_home_is_acted_on(webhook):
    """The demo run three times in one Dagster home on a wiped warehouse: each story materializes
    90 drift_alerts partitions in one range run (baseline version 1 each time, so the drift keys
    repeat) and then ticks the sensor from no cursor. 270 records are more than one read batch
    (200); the third story's drifted days must still be acted on, once."""
    url, hook = webhook
    days = [str(dt.date(2024, 1, 1) + dt.timedelta(days=i)) for i in range(90)]

    @dg.asset(name="drift_alerts", partitions_def=dg.DailyPartitionsDefinition("2024-01-01"),
              backfill_policy=dg.BackfillPolicy.single_run())
    def fake_drift_alerts():
        per = {d: ({"severity_rank": 4, "severity": "critical", "baseline_version": 1,
                    "features": {"revenue_7d": "critical"}} if i >= 80 else
                   {"severity_rank": 0, "severity": "none", "baseline_version": 1, "features": {}})
               for i, d in enumerate(days)}
        return dg.MaterializeResult(metadata={"partitions": dg.MetadataValue.json(per)})

    sensor = build_drift_sensor([remediation_stub])
    with dg.instance_for_test() as instance:
        for story in range(3):
            assert dg.materialize([fake_drift_alerts], instance=instance, tags={
                "dagster/asset_partition_range_start": days[0],
                "dagster/asset_partition_range_end": days[-1]}).success
            requests = _demo_tick(sensor, instance, url)
            assert [(r.job_name, r.run_key) for r in requests] == [
                ("remediation_job", f"remediation:{days[-1]}:1")], f"story {story + 1}"
            for r in requests:  # the demo runs the request in process, with its tags
                assert remediation_stub.execute_in_process(instance=instance, tags=r.tags).success
        assert len(instance.fetch_materializations(dg.AssetKey("drift_alerts"), limit=1000).records) == 270
        assert len(hook.received) == 3


def test_a_lost_cursor_after_a_re_materialization_repeats_nothing(webhook):
    """Issue 28 item 5: runs answered an alert; its partition is re-materialized against the same
    baseline capture; a sensor with its cursor lost requests nothing and sends nothing (the runs,
    tagged with the alert's id, are the record). A genuinely new alert is still acted on: another
    partition, or the same partition judged against a new capture (a wiped warehouse's version 1)."""
    from feature_factory.monitoring.answered import ALERT_TAG

    url, hook = webhook
    captured = "2024-03-01T09:00:00"
    sensor = build_drift_sensor([remediation_stub, retrain_stub], read_champion=lambda: {"revenue_7d"})

    def judged(partition, rank, capture=captured):
        report(instance, partition, rank, 1, {"revenue_7d": ["none", "low", "medium", "high"][rank]},
               captured=capture)

    with dg.instance_for_test() as instance:
        judged("2024-02-05", 3)
        requests, cursor = tick(sensor, instance, None, url)
        assert requests == [("remediation_job", "remediation:2024-02-05:1"), ("retrain_job", "retrain:2024-02-05:1")]
        ctx = dg.build_sensor_context(instance=instance, resources={
            "notifier": LogNotifier(), "drift_response": DriftResponse()})
        first = sensor.evaluate_tick(ctx).run_requests
        assert [r.tags[ALERT_TAG] for r in first] == [f"2024-02-05:1@{captured}"] * 2
        # Launched as the demo does, with the request's tags (one run answering is enough).
        assert remediation_stub.execute_in_process(instance=instance, tags=first[0].tags).success
        sent = len(hook.received)
        judged("2024-02-05", 3)  # re-materialized, same baseline capture: the same alert
        for cursor_now in (None, cursor):  # lost, intact
            requests, _ = tick(sensor, instance, cursor_now, url)
            assert requests == [] and len(hook.received) == sent
        judged("2024-02-06", 2)  # a new partition: a new alert
        requests, _ = tick(sensor, instance, None, url)
        assert requests == [("remediation_job", "remediation:2024-02-06:1"), ("retrain_job", "retrain:2024-02-06:1")]
        assert [a["partition"] for _, a in hook.received[sent:]] == ["2024-02-06"]
        judged("2024-02-05", 3, capture="2024-03-09T10:00:00")  # a new capture (a wiped warehouse)
        requests, _ = tick(sensor, instance, None, url)
        assert ("remediation_job", "remediation:2024-02-05:1") in requests
        assert [a["partition"] for _, a in hook.received[sent:]] == ["2024-02-06", "2024-02-06", "2024-02-05"]
