"""Monitoring jobs and the daily schedule of every entity, built from its spec's job names
(`entity_jobs`); the customer's are:

- `capture_baseline_job`: captures a new baseline version (Launchpad config: window of days).
- `daily_refresh_job`: events -> features -> stats -> drift alerts first, then the online table and
  store, the catalog expectations and the Evidently drift_report for one day (`dagster/priority` op
  tags, feature_factory/priorities.py: drift_alerts has landed, and the sensor can act on it, before
  any step it does not read runs); the schedule `daily_refresh_schedule` runs it for yesterday's
  partition. A range backfill of it from the UI is one run over the range (single-run backfill
  policy on every partitioned asset; drift_alerts judges each day).

Product's are `capture_product_baseline_job`, `product_refresh_job` and `product_refresh_schedule`
(a schedule is named after its job: `<job without _job>_schedule`).
"""

import functools

import dagster as dg

from feature_factory.catalog.sources import SourceCatalog, load_sources
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.monitoring.subject import subject_for


def refresh_assets(entity: Entity, sources: SourceCatalog | None = None) -> tuple[str, ...]:
    """What the entity's refresh job materializes: its population's raw and quarantine tables, its
    feature, online and store tables, statistics, drift alerts and drift report. The online table is
    unpartitioned: a run of any day range rebuilds it once, after the snapshots (and after the drift
    alerts, priorities.py), so serving is refreshed by the same run."""
    population = (sources or load_sources()).get(entity.population)
    n = entity.names
    return (population.raw_table, population.quarantine_table, n.features, n.online, n.online_store,
            n.stats, n.alerts, n.drift_report)


def schedule_name(job: str) -> str:
    """daily_refresh_job -> daily_refresh_schedule, product_refresh_job -> product_refresh_schedule."""
    return f"{job.removesuffix('_job')}_schedule"


@functools.lru_cache(maxsize=64)  # one definition per entity, whoever asks
def entity_jobs(entity: Entity, sources: SourceCatalog | None = None
                ) -> tuple:
    """(capture baseline job, refresh job, its daily schedule) of one entity."""
    subject = subject_for(entity)
    capture = dg.define_asset_job(
        entity.jobs.capture_baseline, selection=dg.AssetSelection.assets(subject.baseline.name),
        description=f"Capture a new {subject.baseline.name} version from a window of {subject.features} "
        "days (config: start_date/end_date or first_n_days). The previous version is kept.")
    refreshed = refresh_assets(entity, sources)
    refresh = dg.define_asset_job(
        entity.jobs.refresh,
        # Key selection by exact one-part prefixes: the job loads even while a domain is absent from the
        # code location (a plain key selection refuses unknown keys).
        selection=dg.AssetSelection.key_prefixes(*([k] for k in refreshed)),
        description=f"Refresh a day range of entity {entity.name} from landing files to drift alerts: "
        + ", ".join(refreshed) + ".")
    schedule = dg.build_schedule_from_partitioned_job(
        refresh,
        name=schedule_name(entity.jobs.refresh),
        hour_of_day=1,
        minute_of_hour=0,
        description=f"Every day at 01:00 UTC: refresh yesterday's partition of entity {entity.name} from "
        "events to drift alerts.",
        # Off until turned on: a laptop demo with historical landing files has no 'yesterday' to load.
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return capture, refresh, schedule


# The customer's, under the names users and tests import.
capture_baseline_job, daily_refresh_job, daily_refresh_schedule = entity_jobs(CUSTOMER_TABLES)
REFRESH_ASSETS = refresh_assets(CUSTOMER_TABLES)
