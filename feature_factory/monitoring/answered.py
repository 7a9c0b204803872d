"""Has a drift alert already been answered? Read from the Dagster instance, never from a sensor's
cursor (issue 28 item 5): a daemon whose cursor was lost or reset must neither request the runs
again nor re-send the alert.

An alert is identified by its drift key (`{partition}:{baseline version}`, in the entity's
namespace) and the baseline capture it was judged against (`baseline_captured_at`, carried in the
drift_alerts materialization's per-partition verdict). Every run the drift sensor requests carries
both as tags (`DRIFT_KEY_TAG`, `ALERT_TAG`), so the runs themselves are the durable ledger:

- a run tagged with the alert's id answered this very alert, whenever it was launched: the same
  partition re-materialized against the same baseline capture is the same alert;
- a run tagged with the drift key and launched after the alert was recorded answered it too (the
  sensor's own requests, or the demo's in-process tick; and every alert whose verdict predates
  `baseline_captured_at`).

A re-capture (a new baseline version, or version 1 again on a wiped warehouse: a demo rerun) has
another capture time, so it is a new alert and is acted on once more.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

DRIFT_KEY_TAG = "feature_factory/drift_key"  # "{partition}:{baseline_version}" on every run requested
ALERT_TAG = "feature_factory/alert_id"  # "{drift key}@{baseline captured_at}": the alert a run answers


def alert_id(key: str, verdict: dict) -> str | None:
    """The id of the alert of drift key `key` with `verdict` (one partition's entry of the
    drift_alerts `partitions` metadata); None when the verdict does not name its baseline capture
    (materialized before issue 28)."""
    captured = verdict.get("baseline_captured_at")
    return f"{key}@{captured}" if captured else None


def answered(instance: dg.DagsterInstance, key: str, alert: str | None, since: float) -> bool:
    """True when a run answered this alert: one tagged with its id `alert` (any time), or one
    tagged with its drift key `key` launched after the alert was recorded at `since` (epoch
    seconds)."""
    if alert and instance.get_runs(filters=dg.RunsFilter(tags={ALERT_TAG: alert}), limit=1):
        return True
    after = dt.datetime.fromtimestamp(since, tz=dt.timezone.utc)
    return bool(instance.get_runs(filters=dg.RunsFilter(tags={DRIFT_KEY_TAG: key}, created_after=after), limit=1))


def run_tags(key: str, alert: str | None) -> dict[str, str]:
    """The tags that make a requested run the record of the alert it answers."""
    return {DRIFT_KEY_TAG: key, **({ALERT_TAG: alert} if alert else {})}
