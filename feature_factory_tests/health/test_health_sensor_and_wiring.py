"""The health sensor on reported materializations (no runs needed), and the code location's wiring:
the asset, job, schedule and sensor, and the freshness policies on the key assets."""

import datetime as dt

import dagster as dg

from feature_factory.health import freshness
from feature_factory.health.sensors import build_health_sensor, notified
from feature_factory.monitoring.notifier import Notifier


class Flaky(Notifier):
    """Fails the first delivery of each key, then delivers."""

    def notify(self, alert: dict) -> bool:
        type(self).tries.append(alert["key"])
        return type(self).tries.count(alert["key"]) > 1


def report(instance, *keys: str) -> None:
    findings = [{"key": k, "finding": k.split(":")[0], "severity": "high", "message": k} for k in keys]
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "pipeline_health", metadata={"findings": dg.MetadataValue.json(findings), "other": 1}))


def test_a_failed_delivery_is_not_recorded_and_is_sent_with_the_next_health_run():
    Flaky.tries = []
    sensor = build_health_sensor()
    with dg.instance_for_test() as instance:
        def tick(cursor=None):
            return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"notifier": Flaky()}))

        report(instance, "late:raw_events:2025-01-02", "stale:daily_refresh_job:2025-01-01T01:00:00Z")
        first = tick()
        assert Flaky.tries == ["late:raw_events:2025-01-02", "stale:daily_refresh_job:2025-01-01T01:00:00Z"]
        assert notified(instance) == set()  # nothing delivered, nothing recorded
        assert tick(first.cursor).cursor == first.cursor and len(Flaky.tries) == 2  # nothing new to read
        report(instance, "late:raw_events:2025-01-02", "stale:daily_refresh_job:2025-01-01T01:00:00Z")
        tick(first.cursor)
        assert notified(instance) == {"late:raw_events:2025-01-02", "stale:daily_refresh_job:2025-01-01T01:00:00Z"}
        report(instance, "late:raw_events:2025-01-02")  # the same finding tomorrow: not sent again
        tick(None)
        assert len(Flaky.tries) == 4


def test_the_code_location_holds_health_and_the_freshness_policies():
    from feature_factory.definitions import defs

    graph = defs.resolve_asset_graph()
    for name in freshness.KEY_ASSETS:
        assert graph.get(dg.AssetKey(name)).freshness_policy == freshness.DAILY, name
    assert graph.get(dg.AssetKey("feature_stats_baseline")).freshness_policy is None  # captured on demand
    assert graph.get(dg.AssetKey("pipeline_health")).group_name == "health"
    assert defs.resolve_job_def("pipeline_health_job").name == "pipeline_health_job"
    schedule = defs.resolve_schedule_def("pipeline_health_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.resolve_sensor_def("pipeline_health_sensor").required_resource_keys == {"notifier"}
    assert freshness.DAILY.fail_window.to_timedelta() == dt.timedelta(hours=26)


def test_freshness_skips_assets_a_code_location_does_not_hold():
    @dg.asset
    def raw_events():
        return None

    out = freshness.declare(dg.Definitions(assets=[raw_events]))
    assert out.resolve_asset_graph().get(dg.AssetKey("raw_events")).freshness_policy == freshness.DAILY
    empty = dg.Definitions()
    assert freshness.declare(empty) is empty
