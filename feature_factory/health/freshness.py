"""Freshness policies on the key assets, declared from here so Dagster's own UI shows them (the
asset pages' freshness state) beside pipeline_health's learned-cadence `stale` findings. Attached to
the merged code location with `Definitions.map_resolved_asset_specs`, so no other domain's asset
factory changes."""

import datetime as dt
import warnings

import dagster as dg

from feature_factory import tables

# Each day's refresh runs at 01:00 UTC (daily_refresh_schedule) and pipeline_health at 02:00: a
# materialization older than 26 hours means a day was missed (warn after 25: the run is late).
DAILY = dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=26), warn_window=dt.timedelta(hours=25))
KEY_ASSETS = (tables.RAW_EVENTS.name, tables.CUSTOMER_FEATURES.name, tables.CUSTOMER_FEATURES_ONLINE.name,
              tables.FEATURE_STATS.name, tables.DRIFT_ALERTS.name, tables.PIPELINE_HEALTH.name)


def declare(defs: dg.Definitions, assets: tuple[str, ...] = KEY_ASSETS,
            policy: dg.FreshnessPolicy = DAILY) -> dg.Definitions:
    """`defs` with `policy` on each of `assets` it holds (a missing one is skipped: a code location
    without a domain still loads)."""
    present = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    chosen = [a for a in assets if a in present]
    if not chosen:
        return defs
    # map_resolved_asset_specs is a Dagster "preview" API: the one way in 1.13 to add a policy to
    # assets built elsewhere; said once here, not as a warning on every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(func=lambda spec: spec.replace_attributes(freshness_policy=policy),
                                             selection=dg.AssetSelection.assets(*chosen))
