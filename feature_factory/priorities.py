"""Which ready step a run executes first: Dagster's `dagster/priority` op tag.

Dagster's executors (the in-process one the local deployment uses, and the multiprocess one) pick
the next step among those whose inputs are ready by this tag, highest first (ties keep the plan's
order). A daily refresh's purpose is its drift alerts, the moment the drift sensor can act: the
steps on that path (ingestion, customer_features, its blocking duplicate check, feature_stats,
drift_alerts) keep the default 0, and the steps drift_alerts does not read wait behind them:

- `SERVING` (-1): customer_features_online and the online store, the next thing users notice;
- `CHECKS` (-2): the catalog expectations on customer_features (WARN, they block nothing);
- `SECOND_OPINION` (-3): the Evidently drift_report, the slowest and least urgent.

Nothing waits that it did not wait for before: only the order among ready steps changes.
"""

from __future__ import annotations

PRIORITY_TAG = "dagster/priority"  # dagster._core.storage.tags.PRIORITY_TAG (public as a tag name)

SERVING = -1
CHECKS = -2
SECOND_OPINION = -3


def op_tags(priority: int) -> dict[str, str]:
    """The op tags giving an asset's or check's step this priority (tag values are strings)."""
    return {PRIORITY_TAG: str(int(priority))}
