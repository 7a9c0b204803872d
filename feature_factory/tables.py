"""Table contracts: the user-facing tables, one entry each, imported by every reader and writer.

A table's name is its asset's name and a data contract (users query it, the UI shows it), so it is
written once, here, in the core layer every domain may import. Each entry says which domain owns
(writes) the table. Columns, their types and descriptions still live beside each owner's DDL
(`events/contract.py`, `monitoring/alerts.py`, `remediation/store.py`, ...); folding them in here
is the next step of issue 16 (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class Table:
    """A warehouse table that is also a Dagster asset of the same name."""

    name: str
    owner: str  # the domain that writes it
    description: str

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.name)


RAW_EVENTS = Table("raw_events", "events", "Validated events, one row per event, partitioned by day.")
QUARANTINED_EVENTS = Table("quarantined_events", "events", "Rejected landing rows, each with its reason.")
CUSTOMER_FEATURES = Table("customer_features", "features", "Daily feature snapshot per customer (unpatched).")
CUSTOMER_FEATURES_ONLINE = Table(
    "customer_features_online", "features", "Latest snapshot per customer, read through the patch layer."
)
FEATURE_STATS = Table("feature_stats", "monitoring", "Per feature and day statistics of customer_features.")
FEATURE_STATS_BASELINE = Table(
    "feature_stats_baseline", "monitoring", "Versioned reference statistics per feature (one current version)."
)
DRIFT_ALERTS = Table("drift_alerts", "monitoring", "Per feature and day drift metrics, types and severity.")
CHURN_LABELS = Table("churn_labels", "ml", "Churn label per customer and label date.")
TRAINING_SET = Table("training_set", "ml", "Point-in-time join of churn_labels and customer_features.")
INFERENCE_RESULTS = Table("inference_results", "ml", "The champion model's scores per customer.")

ALL = (RAW_EVENTS, QUARANTINED_EVENTS, CUSTOMER_FEATURES, CUSTOMER_FEATURES_ONLINE, FEATURE_STATS,
       FEATURE_STATS_BASELINE, DRIFT_ALERTS, CHURN_LABELS, TRAINING_SET, INFERENCE_RESULTS)
BY_NAME = {t.name: t for t in ALL}
