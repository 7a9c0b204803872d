"""Acting on applied model/baseline patches: `request_retrain` launches `retrain_job`,
`refresh_baseline` launches `capture_baseline_job` over the `refresh_days` days ending on the
alert's day, for the patch's feature only (the others keep their baseline; the capture leaves out
days with contamination findings, monitoring/detection/contamination.py). The sensor reads `feature_patch_log` materializations from Dagster's event log (the
`model_requests` metadata), never the warehouse, and launches once per patch (run key = patch id)."""

import datetime as dt
import json
from collections.abc import Sequence

import dagster as dg

FEATURE_PATCH_LOG = dg.AssetKey("feature_patch_log")
REFRESH_DAYS = 28
# action -> the job it launches. The jobs belong to later domains (ml) or to monitoring, so the
# sensor is built at the top (`feature_factory.wiring`), which hands the job definitions in.
JOBS = {"request_retrain": "retrain_job", "refresh_baseline": "capture_baseline_job"}


def run_request(req: dict, refresh_days: int = REFRESH_DAYS) -> dg.RunRequest:
    job_name = JOBS[req["action"]]
    tags = {"feature_factory/patch_id": req["patch_id"], "feature_factory/feature": req["feature"]}
    config = {}
    if req["action"] == "refresh_baseline" and req.get("alert_date"):
        end = dt.date.fromisoformat(req["alert_date"])
        start = end - dt.timedelta(days=refresh_days - 1)
        config = {"ops": {"feature_stats_baseline": {"config": {
            "start_date": str(start), "end_date": str(end), "features": [req["feature"]]}}}}
    return dg.RunRequest(job_name=job_name, run_key=f"patch:{req['patch_id']}", run_config=config, tags=tags)


def evaluate(context: dg.SensorEvaluationContext, available: set[str]) -> dg.SensorResult:
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=FEATURE_PATCH_LOG, after_storage_id=after), limit=100, ascending=True,
    ).records
    requests = []
    for record in records:
        after = record.storage_id
        meta = record.asset_materialization.metadata if record.asset_materialization else {}
        entry = meta.get("model_requests")
        for req in (entry.value if entry is not None else []) or []:
            if isinstance(req, str):  # tolerate a JSON string
                req = json.loads(req)
            if JOBS.get(req.get("action")) not in available:
                context.log.warning(f"{req['action']} for {req['feature']}: its job is not in this code location")
                continue
            requests.append(run_request(req))
    return dg.SensorResult(run_requests=requests, cursor=str(after) if after is not None else context.cursor)


def build_requests_sensor(jobs: Sequence[dg.JobDefinition] = (),
                          name: str = "remediation_requests_sensor") -> dg.SensorDefinition:
    """The sensor, targeting whichever of the `JOBS` are given (requests for others are logged)."""
    jobs = list(jobs)
    available = {j.name for j in jobs}

    @dg.sensor(name=name, jobs=jobs or None, minimum_interval_seconds=60,
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Launches a retrain or a baseline capture once for each applied "
                "request_retrain / refresh_baseline patch.")
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return evaluate(context, available)

    return _sensor
