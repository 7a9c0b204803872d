"""The drift sensor: reacts to `drift_alerts` materializations, without touching the warehouse.

It reads new drift_alerts materialization events from the instance's event log (after the storage
id in its cursor), and for each partition whose severity reaches `drift_response.min_severity`:
sends an alert through the `notifier` resource, requests `remediation_job`, and requests
`retrain_job` when a drifted feature is one the champion model uses. A range run (backfill) is acted
on once, for its newest drifted day, not once per day. Exactly once per
(partition, baseline version), its "drift key":
- the cursor keeps the keys already acted on (so re-materializing a partition does not alert again);
- each run it requests is tagged `feature_factory/drift_key`, and an alert whose key a run launched
  after it carries is handled: it is neither alerted nor requested again, even by a sensor whose
  cursor is new or lost (the daemon `make ui` starts after `make demo`, which ran the sensor's
  requests in process);
- a run tagged with the alert's id (drift key + the baseline capture it was judged against,
  answered.py) answered it for good: the same partition re-materialized against the same capture
  is neither alerted nor requested again, even with the cursor lost (issue 28 item 5);
- each run request carries a run key `remediation:{partition}:{baseline_version}`, so the daemon
  drops a duplicate too.
A new baseline version is a new key: it fires again. (A tick that crashes after notifying but
before its runs are launched may re-send that alert once.)

A tick reads every record after its cursor (in pages of `BATCH`, at most `MAX_RECORDS_PER_TICK`),
so what it does does not depend on where a page ends: with the keys of page one in the cursor, a
later page's re-judged partition of an earlier story (a demo rerun on a wiped warehouse: baseline
version 1 again, the same key) used to be skipped unseen by `handled`, and the third demo run in
one Dagster home requested nothing.

Every other entity of the catalog gets the same sensor over its own alerts (`watch_for`):
`<entity>_drift_sensor` watches `<entity>_drift_alerts` and requests `<entity>_remediation_job`
(no retraining: the models are the churn model's). Its drift keys are `<entity>:{partition}:{version}`,
so a customer run never marks a product alert handled, nor the reverse.
"""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg
from pydantic import Field

from feature_factory import tables
from feature_factory.monitoring.answered import DRIFT_KEY_TAG, alert_id, answered, run_tags  # noqa: F401 (DRIFT_KEY_TAG: re-exported)
from feature_factory.monitoring.detection.drift import SEVERITIES, severity_rank
from feature_factory.monitoring.notifier import Notifier
from feature_factory.monitoring.subject import CUSTOMER, Subject

DRIFT_ALERTS = tables.DRIFT_ALERTS.key
REMEDIATION_JOB = "remediation_job"
RETRAIN_JOB = "retrain_job"
# DRIFT_KEY_TAG ("{partition}:{baseline_version}" on every run requested) lives in answered.py.
MAX_REMEMBERED = 5000  # acted-on keys kept in the cursor (years of daily partitions)
BATCH = 200  # records per event-log read
MAX_RECORDS_PER_TICK = 20_000  # the rest waits for the next tick (its cursor says where)


@dataclass(frozen=True)
class DriftWatch:
    """Which alerts one drift sensor watches and which jobs it may request (no Dagster objects)."""

    entity: str
    alerts: str  # the drift_alerts asset (and table) name
    remediation_job: str
    retrain_job: str | None  # None: the entity declares no model, its drift never requests a retrain
    sensor: str
    key_prefix: str = ""  # the entity spec's drift_key_prefix ("product:"; the customer's: none)
    # Alerts of an entity whose tables are named after it say whose they are (entity, alerts).
    names_entity: bool = False

    def key(self, partition: str, version) -> str:
        """The drift key of a (partition, baseline version), in the entity's namespace."""
        return f"{self.key_prefix}{partition}:{version}"


def watch_for(subject: Subject) -> DriftWatch:
    """The drift sensor's view of `subject`: every name from its entity's spec."""
    spec = subject.of.spec
    return DriftWatch(subject.entity, subject.alerts.name, subject.of.jobs.remediation, subject.of.retrain_job,
                      subject.of.jobs.drift_sensor, spec.key_prefix, spec.tables.qualified)


CUSTOMER_WATCH = watch_for(CUSTOMER)


# When the sensor acts: its policy, a resource so a deployment can change it.
class DriftResponse(dg.ConfigurableResource):
    """What the drift sensor does when a drift_alerts partition reaches `min_severity`."""

    min_severity: str = Field(default="medium", description=f"Act at or above this severity ({', '.join(SEVERITIES[1:])}).")
    request_remediation: bool = Field(default=True, description="Request remediation_job.")
    request_retrain: bool = Field(default=True, description="Request retrain_job when a drifted "
                                  "feature is used by the champion model.")

    def min_rank(self) -> int:
        rank = severity_rank(self.min_severity)
        if rank == 0:
            raise ValueError("drift_response.min_severity must be low or above, not none")
        return rank


@dataclass
class DriftCursor:
    after_storage_id: int | None = None
    fired: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> "DriftCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data.get("after_storage_id"), list(data.get("fired", [])))

    def dumps(self) -> str:
        return json.dumps({"after_storage_id": self.after_storage_id, "fired": self.fired[-MAX_REMEMBERED:]})


def partition_verdict(metadata: dict, partition: str | None) -> dict:
    """{severity_rank, severity, baseline_version, features} for one partition of an event."""
    value = lambda k: getattr(metadata.get(k), "value", metadata.get(k))  # noqa: E731
    per = value("partitions")
    per = json.loads(per) if isinstance(per, str) else per
    if isinstance(per, dict) and partition in per:
        return per[partition]
    rank = int(value("max_severity_rank") or 0)
    return {"severity_rank": rank, "severity": SEVERITIES[rank],
            "baseline_version": value("baseline_version"), "features": {}}


def no_champion() -> set[str]:
    """The champion reader when no model registry is wired in: no feature triggers a retrain."""
    return set()


def champion_features(log, read: Callable[[], Iterable[str]] = no_champion) -> set[str]:
    """The champion model's features from `read` (the registry's reader, handed in by the wiring:
    ml is a later layer than monitoring); empty, with a warning, if the registry is unreadable."""
    try:
        return set(read())
    except Exception as exc:  # a broken registry must not stop alerting
        log.warning(f"could not read the champion model's features: {exc}")
        return set()


def new_records(instance: dg.DagsterInstance, asset: str, after_storage_id: int | None) -> list:
    """Every materialization record of `asset` after `after_storage_id`, oldest first (at most
    `MAX_RECORDS_PER_TICK`), read in pages of `BATCH`."""
    records: list = []
    while len(records) < MAX_RECORDS_PER_TICK:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=after_storage_id),
            limit=BATCH, ascending=True).records
        records += page
        if len(page) < BATCH:
            break
        after_storage_id = page[-1].storage_id
    return records


def evaluate(context: dg.SensorEvaluationContext, notifier: Notifier, response: DriftResponse,
             targets: set[str], read_champion: Callable[[], Iterable[str]] = no_champion,
             watch: DriftWatch = CUSTOMER_WATCH) -> dg.SensorResult:
    cursor = DriftCursor.parse(context.cursor)
    records = new_records(context.instance, watch.alerts, cursor.after_storage_id)
    min_rank = response.min_rank()
    # A range run (a backfill) materializes every day of the range: act once per run, on its newest
    # drifted day (the remediation proposes from one partition anyway); every drifted day of the run
    # is marked fired. Runless reports each stand alone.
    groups: dict[str, list[tuple[str, str, int, dict, str, float]]] = {}
    for record in records:
        cursor.after_storage_id = record.storage_id
        mat = record.asset_materialization
        partition = record.partition_key
        verdict = partition_verdict(dict(mat.metadata) if mat else {}, partition)
        version = verdict.get("baseline_version")
        if version is None or int(verdict.get("severity_rank") or 0) < min_rank:
            continue
        group = record.run_id or f"runless:{record.storage_id}"
        groups.setdefault(group, []).append(
            (str(partition), watch.key(partition, version), version, verdict, record.run_id, record.timestamp))
    acted = set(cursor.fired)  # a key fires once: the first record of it that no run answered wins
    requests: list[dg.RunRequest] = []
    champion: set[str] | None = None
    for days in groups.values():
        days = [d for d in days if d[1] not in acted]
        if not days:
            continue
        partition, key, version, verdict, run_id, recorded = max(days, key=lambda d: d[0])
        cursor.fired += [d[1] for d in days if d[1] not in cursor.fired]  # handled or acted on now
        alert = alert_id(key, verdict)
        if answered(context.instance, key, alert, since=recorded):
            continue
        acted.update(day[1] for day in days)
        features = {f: s for f, s in (verdict.get("features") or {}).items()
                    if SEVERITIES.index(s) >= min_rank}
        tags = {"feature_factory/drift_partition": partition,
                "feature_factory/baseline_version": str(version),
                "feature_factory/max_severity": verdict["severity"], **run_tags(key, alert)}
        entity = {"entity": watch.entity, "alerts": watch.alerts} if watch.names_entity else {}
        notifier.notify({
            "kind": "feature_drift", **entity, "partition": partition, "baseline_version": version,
            "max_severity": verdict["severity"], "features": features, "run_id": run_id,
            "evidently_report": verdict.get("evidently_report"),
            "causes": {f: c for f, c in (verdict.get("causes") or {}).items() if f in features},
            "drifted_days_in_run": sorted(d[0] for d in days),
        })
        if response.request_remediation and watch.remediation_job in targets:
            requests.append(dg.RunRequest(job_name=watch.remediation_job, run_key=f"remediation:{key}", tags=tags))
        if response.request_retrain and watch.retrain_job and watch.retrain_job in targets:
            champion = champion_features(context.log, read_champion) if champion is None else champion
            if champion & set(features):
                requests.append(dg.RunRequest(job_name=watch.retrain_job, run_key=f"retrain:{key}", tags=tags))
    return dg.SensorResult(run_requests=requests, cursor=cursor.dumps())


def build_drift_sensor(jobs: Sequence = (), name: str | None = None,
                       minimum_interval_seconds: int = 60,
                       default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
                       read_champion: Callable[[], Iterable[str]] = no_champion,
                       subject: Subject = CUSTOMER,
                       ) -> dg.SensorDefinition:
    """`subject`'s drift sensor (default the customer's `drift_sensor`), targeting whichever of its
    remediation and retrain jobs are given (by definition, so it can only request jobs that exist
    in the code location). `read_champion` returns the champion model's features (the model
    registry's `champion_features`, wired at the top)."""
    watch = watch_for(subject)
    targets = {j.name for j in jobs}
    retrain = (f" (and retraining when the champion model uses a drifted feature: {watch.retrain_job})"
               if watch.retrain_job else " (no retraining: its entity declares no model)")

    @dg.sensor(name=name or watch.sensor, jobs=list(jobs) or None, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status,
               description=f"Alerts and requests {watch.remediation_job}{retrain} once per {watch.alerts} "
               f"partition and baseline version (entity `{watch.entity}`).")
    def _drift_sensor(context: dg.SensorEvaluationContext, notifier: Notifier,
                      drift_response: DriftResponse) -> dg.SensorResult:
        return evaluate(context, notifier, drift_response, targets, read_champion, watch)

    return _drift_sensor


def build_entity_drift_sensor(subject: Subject, minimum_interval_seconds: int = 60,
                              default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
                              ) -> dg.SensorDefinition:
    """`subject`'s drift sensor requesting its remediation job by name (the job is built by the
    remediation asset factory, a later layer; the code location refuses to load if it is missing)."""
    watch = watch_for(subject)

    @dg.sensor(name=watch.sensor, job_name=watch.remediation_job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status,
               description=f"Alerts and requests {watch.remediation_job} once per {watch.alerts} partition and "
               f"baseline version (entity `{watch.entity}`).")
    def _entity_drift_sensor(context: dg.SensorEvaluationContext, notifier: Notifier,
                             drift_response: DriftResponse) -> dg.SensorResult:
        return evaluate(context, notifier, drift_response, {watch.remediation_job}, watch=watch)

    return _entity_drift_sensor
