"""What one set of monitoring tables watches: an entity's feature table and its key, and the
statistics, baseline and alert tables written about it (no Dagster here).

`CUSTOMER` is the churn example's: customer_features -> feature_stats, feature_stats_baseline,
drift_alerts (their names are the data contract). Any other entity of the sources file gets its
own, named after it (`tables.entity_monitoring`): product_features -> product_feature_stats,
product_feature_stats_baseline, product_drift_alerts. stats.py, baseline.py and alerts.py take a
subject (default `CUSTOMER`), so the same SQL and drift rules run over either.

What stays customer-only, and why: the raw input null counts (inputs.py) and the diagnosis of a
drift (root_cause.py, attribution.py) read raw_events' own columns (event_type, channel, landing
files, first-seen cohorts); another entity's alerts say "diagnosis not available" instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from feature_factory import tables
from feature_factory.features.entities import CUSTOMER_TABLES, EntityTables


@dataclass(frozen=True)
class Subject:
    entity: str
    features: str  # the feature table the statistics are taken over
    key: str  # its key column (the sketch's sampling hash uses it)
    stats: tables.Table
    baseline: tables.Table
    alerts: tables.Table
    history: str  # the raw table whose first event_date starts each feature's window (ramp-up)

    @property
    def is_customer(self) -> bool:
        return self.entity == CUSTOMER_TABLES.name

    def diagnosis_unavailable(self) -> str:
        """Why another entity's drift gets no diagnosis (said in its alerts and the UI)."""
        return (f"diagnosis not available for entity {self.entity!r}: the causes (segments, cohorts, landing "
                f"files) are read from {tables.RAW_EVENTS} columns, which only customer features aggregate")


CUSTOMER = Subject(CUSTOMER_TABLES.name, tables.CUSTOMER_FEATURES.name, CUSTOMER_TABLES.key, tables.FEATURE_STATS,
                   tables.FEATURE_STATS_BASELINE, tables.DRIFT_ALERTS, tables.RAW_EVENTS.name)


def subject_for(entity: EntityTables) -> Subject:
    """The monitoring tables of `entity` (customer: the churn example's)."""
    if entity.name == CUSTOMER.entity:
        return CUSTOMER
    stats, baseline, alerts = tables.entity_monitoring(entity.name, entity.features_table)
    return Subject(entity.name, entity.features_table, entity.key, stats, baseline, alerts, entity.population_table)
