"""The health sensor: notifies each pipeline_health finding once, through the drift alerts'
`notifier` resource, without touching the warehouse.

It reads pipeline_health materializations after the storage id in its cursor; each carries its
findings (metadata `findings`), each with a key `kind:subject:onset` that stays the same while the
problem lasts (the same slowdown judged again tomorrow has the same key). A finding is notified
when its key was never notified before, and each notification is recorded in the instance as an
observation of pipeline_health (metadata `notified_finding`), so the record survives a lost or new
cursor (the daemon that starts after the demo, a renamed sensor): the dedupe is the instance's,
as the drift sensor's `handled` is, not the cursor's. The cursor only says where to read from.
"""

import json

import dagster as dg

from feature_factory import tables
from feature_factory.health.assets import FINDINGS_KEY
from feature_factory.monitoring.notifier import Notifier
from feature_factory.monitoring.sensors import new_records

HEALTH = tables.PIPELINE_HEALTH.key
NOTIFIED_KEY = "notified_finding"
REMEMBERED = 5000  # notification observations read per tick (years of daily findings)


def notified(instance: dg.DagsterInstance) -> set[str]:
    """Keys of every finding already notified (the newest REMEMBERED observations of pipeline_health)."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=HEALTH), limit=REMEMBERED).records
    keys = set()
    for r in records:
        obs = r.asset_observation
        value = obs.metadata.get(NOTIFIED_KEY) if obs else None
        if value is not None:
            keys.add(str(getattr(value, "value", value)))
    return keys


def findings_of(record) -> list[dict]:
    mat = record.asset_materialization
    value = mat.metadata.get(FINDINGS_KEY) if mat else None
    data = getattr(value, "value", value)
    if isinstance(data, str):
        data = json.loads(data)
    return [f for f in (data or []) if isinstance(f, dict) and f.get("key")]


def evaluate(context: dg.SensorEvaluationContext, notifier: Notifier) -> dg.SensorResult:
    after = int(context.cursor) if context.cursor else None
    records = new_records(context.instance, HEALTH.to_user_string(), after)
    if not records:
        return dg.SensorResult(cursor=context.cursor)
    done = notified(context.instance)
    for record in records:
        for finding in findings_of(record):
            key = finding["key"]
            if key in done:
                continue
            done.add(key)
            if notifier.notify({**finding, "run_id": record.run_id}):
                # Recorded now, by the sensor itself (not returned as the result's asset_events, which
                # only the daemon stores): an in-process tick (the demo, a test) dedupes the same way.
                context.instance.report_runless_asset_event(dg.AssetObservation(asset_key=HEALTH, metadata={
                    NOTIFIED_KEY: key, "severity": finding.get("severity"), "message": finding.get("message")}))
    return dg.SensorResult(cursor=str(records[-1].storage_id))


def build_health_sensor(name: str = "pipeline_health_sensor", minimum_interval_seconds: int = 60,
                        default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
                        ) -> dg.SensorDefinition:
    @dg.sensor(name=name, minimum_interval_seconds=minimum_interval_seconds, default_status=default_status,
               description="Notifies each pipeline_health finding (slowdown, failure_rate, volume, late, stale, "
               "growth, forecast) once, through the notifier resource.")
    def _health_sensor(context: dg.SensorEvaluationContext, notifier: Notifier) -> dg.SensorResult:
        return evaluate(context, notifier)

    return _health_sensor

