"""What one set of monitoring tables watches: an entity's feature table and its key, and the
statistics, baseline and alert tables written about it (no Dagster here).

`CUSTOMER` is the churn example's: customer_features -> feature_stats, feature_stats_baseline,
drift_alerts (their names are the data contract). Any other entity of the sources file gets its
own, named after it (`tables.entity_monitoring`): product_features -> product_feature_stats,
product_feature_stats_baseline, product_drift_alerts. stats.py, baseline.py and alerts.py take a
subject (default `CUSTOMER`), so the same SQL and drift rules run over either.

What stays customer-only, and why: the raw input null counts (inputs.py) and the attribution of a
drift to segments and landing files (root_cause.py, attribution.py) read raw_events' own columns
(event_type, channel, landing files, first-seen cohorts). Another entity's drift gets the
statistical diagnosis (diagnosis.py: tail_contamination, population_shift, missing_data, ...,
from the day's and the baseline's statistics) and its evidence says "attribution not available".
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
    patches: tables.Table  # the active patches the features are read through

    @property
    def is_customer(self) -> bool:
        return self.entity == CUSTOMER_TABLES.name

    def no_baseline(self, message: str) -> str:
        """The no-baseline `message` with this entity's capture job (customer: as it is)."""
        return message if self.is_customer else message.replace("capture_baseline_job",
                                                                  f"capture_{self.entity}_baseline_job")

    def unattributed(self) -> str:
        """Why another entity's drift is diagnosed from its statistics only (said in each alert's
        diagnosis_evidence headline and in the UI)."""
        return (f"attribution not available for entity {self.entity!r}: its contributors (event_type, channel, "
                f"cohort, landing file) are read from {tables.RAW_EVENTS} columns, which only customer features "
                "aggregate; the diagnosis is from the statistics alone")


CUSTOMER = Subject(CUSTOMER_TABLES.name, tables.CUSTOMER_FEATURES.name, CUSTOMER_TABLES.key, tables.FEATURE_STATS,
                   tables.FEATURE_STATS_BASELINE, tables.DRIFT_ALERTS, tables.RAW_EVENTS.name,
                   tables.FEATURE_PATCHES_ACTIVE)


def subject_for(entity: EntityTables) -> Subject:
    """The monitoring tables of `entity` (customer: the churn example's)."""
    if entity.name == CUSTOMER.entity:
        return CUSTOMER
    stats, baseline, alerts = tables.entity_monitoring(entity.name, entity.features_table)
    return Subject(entity.name, entity.features_table, entity.key, stats, baseline, alerts, entity.population_table,
                   entity.patch_tables[2])
