"""The `pipeline_health` asset, its job and daily schedule: thin wiring of instance_history,
storage, evaluate and plots."""

import datetime as dt
import json

import dagster as dg

from feature_factory import markdown as md
from feature_factory import tables
from feature_factory.health import instance_history, storage
from feature_factory.health.evaluate import HealthReport, evaluate
from feature_factory.health.plots import plots_markdown
from feature_factory.health.samples import History
from feature_factory.health.settings import HealthSettings
from feature_factory.warehouse.base import Warehouse

GROUP = "health"
FINDINGS_KEY = "findings"  # the metadata entry the health sensor reads


class HealthConfig(dg.Config, HealthSettings):
    """Thresholds of the health rules (see health/settings.py)."""


def read_history(instance: dg.DagsterInstance, warehouse: Warehouse, now: float, s: HealthSettings) -> History:
    """Runs and materializations from the instance; volumes, lateness and size from the warehouse."""
    runs = instance_history.runs(instance, now, s)
    materialized, volumes, daily, last_run = instance_history.materializations(instance, now, s)
    events = storage.event_volumes(warehouse, s.lookback_days)
    if events:  # counted in the warehouse: exact for every day, range runs included
        volumes[tables.RAW_EVENTS.name] = events
    lateness = storage.landing_lateness(warehouse, s.lookback_days)
    today = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).date()
    size, disk = storage.warehouse_size(warehouse)
    sizes = storage.size_history(warehouse, today)
    if size is not None:
        sizes.append(storage.Point(now, str(today), size))
    return History(runs=runs, volumes=volumes, lateness={tables.RAW_EVENTS.name: lateness} if lateness else {},
                   materialized=materialized, daily=daily, last_run=last_run, sizes=sizes,
                   disk_bytes=disk)


KIND_ORDER = ("job", "step", "source", "warehouse", "asset")  # what a reader looks for first


def _table(report: HealthReport) -> str:
    """Findings first (worst first), then jobs, steps, sources, the warehouse, assets."""
    ordered = sorted(report.metrics, key=lambda m: (m.finding is None, -(m.finding.severity.rank if m.finding else 0),
                                                     KIND_ORDER.index(m.subject_kind), m.subject, m.metric))
    return md.table(["subject", "metric", "n", "latest", "p50", "p90", "trend/day", "days to limit", "finding"], [
        [m.subject, m.metric, m.samples, m.latest, m.p50, m.p90, m.trend_per_day, m.days_to_threshold,
         f"{m.finding.severity.value} {m.finding.kind.value}" if m.finding else ""] for m in ordered])


# Lineage: it counts raw_events' rows per day in the warehouse (the rest it reads from the instance).
@dg.asset(name=tables.PIPELINE_HEALTH.name, group_name=GROUP, kinds={"python", "sql"}, deps=[tables.RAW_EVENTS.key])
def pipeline_health(context: dg.AssetExecutionContext, config: HealthConfig, warehouse: Warehouse):
    """The pipeline's own health, from the Dagster instance's run and event history: per job and
    step runtime p50/p90 and trend, failure and retry rates, warehouse seconds per asset, rows per
    partition and landing lateness per source, each asset's age against its cadence, the
    warehouse's size; runtime and storage projected to their budget with the trend's uncertainty.
    Each problem is a typed finding (slowdown, failure_rate, volume_drop/spike, late, stale,
    growth, forecast) with a severity; the health sensor notifies each once."""
    now_dt = dt.datetime.now(dt.timezone.utc)
    now = now_dt.timestamp()
    history = read_history(context.instance, warehouse, now, config)
    report = evaluate(history, now, config)
    rows = storage.rows(report, now_dt.date(), now_dt)
    written = storage.write(warehouse, now_dt.date(), rows)
    findings = report.findings
    for f in findings:
        context.log.warning(f"{f.severity.value} {f.kind.value}: {f.message}")
    counts = {k: sum(f.kind.value == k for f in findings) for k in sorted({f.kind.value for f in findings})}
    return dg.MaterializeResult(metadata={
        "dagster/row_count": written,
        "health_date": str(now_dt.date()),
        "runs_read": len(history.runs),
        "findings_count": len(findings),
        "findings_by_kind": json.dumps(counts),
        FINDINGS_KEY: dg.MetadataValue.json([f.as_alert() for f in findings]),
        "findings_table": dg.MetadataValue.md(md.table(["severity", "finding", "subject", "what"], [
            [f.severity.value, f.kind.value, f.subject, f.message] for f in findings]) if findings else "none"),
        "health": dg.MetadataValue.md(_table(report)),
        **{k: dg.MetadataValue.md(v) for k, v in plots_markdown(report).items()},
        "dagster/column_schema": tables.PIPELINE_HEALTH.column_schema(),
    })


pipeline_health_job = dg.define_asset_job(
    "pipeline_health_job", selection=dg.AssetSelection.assets(tables.PIPELINE_HEALTH.name),
    description="Judge the pipeline's health from the instance's run history (writes pipeline_health).")

pipeline_health_schedule = dg.ScheduleDefinition(
    name="pipeline_health_schedule", job=pipeline_health_job, cron_schedule="0 2 * * *", execution_timezone="UTC",
    description="Every day at 02:00 UTC, after daily_refresh_schedule's 01:00 run: judge the pipeline's health.",
    # Off until turned on, as daily_refresh_schedule: on a laptop demo nothing runs daily.
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
