"""Monitoring jobs and the daily schedule.

- `capture_baseline_job`: captures a new baseline version (Launchpad config: window of days).
- `daily_refresh_job`: events -> features -> stats -> drift alerts first, then the online table and
  store, the catalog expectations and the Evidently drift_report for one day (`dagster/priority` op
  tags, feature_factory/priorities.py: drift_alerts has landed, and the sensor can act on it, before
  any step it does not read runs); the schedule runs it for yesterday's partition. A range
  backfill of it from the UI is one run over the range (single-run backfill policy on every
  partitioned asset; drift_alerts judges each day).
"""

import dagster as dg

capture_baseline_job = dg.define_asset_job(
    "capture_baseline_job",
    selection=dg.AssetSelection.assets("feature_stats_baseline"),
    description="Capture a new feature_stats_baseline version from a window of customer_features "
    "days (config: start_date/end_date or first_n_days). The previous version is kept.",
)

# customer_features_online is unpartitioned: a run of any day range rebuilds it once, after the
# snapshots (and after drift_alerts, priorities.py), so serving is refreshed by the same run.
REFRESH_ASSETS = ("raw_events", "quarantined_events", "customer_features", "customer_features_online",
                  "customer_features_online_store", "feature_stats", "drift_alerts", "drift_report")

daily_refresh_job = dg.define_asset_job(
    "daily_refresh_job",
    # Key selection by exact one-part prefixes: the job loads even while a domain is absent from the
    # code location (a plain key selection refuses unknown keys).
    selection=dg.AssetSelection.key_prefixes(*([k] for k in REFRESH_ASSETS)),
    description="Refresh one day from landing files to drift alerts: " + ", ".join(REFRESH_ASSETS) + ".",
)

daily_refresh_schedule = dg.build_schedule_from_partitioned_job(
    daily_refresh_job,
    name="daily_refresh_schedule",
    hour_of_day=1,
    minute_of_hour=0,
    description="Every day at 01:00 UTC: refresh yesterday's partition from events to drift alerts.",
    # Off until turned on: a laptop demo with historical landing files has no 'yesterday' to load.
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
