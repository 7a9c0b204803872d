"""What one set of monitoring tables watches: a thin view of an `Entity` (features/entities.py)
under the names monitoring reads (no Dagster here).

The customer's subject reads customer_features -> feature_stats, feature_stats_baseline,
drift_alerts; product's reads product_features -> product_feature_stats, ...: stats.py, baseline.py
and alerts.py take a subject (default the built-in customer's), so the same SQL and drift rules run
over any entity. What differs between entities is in their spec: an entity without `attribute_by`
gets the statistical diagnosis only (`unattributed`), one without a model no retrain request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.features.entities import CUSTOMER_TABLES, Entity


@dataclass(frozen=True)
class Subject:
    of: Entity

    @property
    def entity(self) -> str:
        return self.of.name

    @property
    def features(self) -> str:
        """The feature table the statistics are taken over."""
        return self.of.features_table

    @property
    def key(self) -> str:
        """Its key column (the sketch's sampling hash uses it)."""
        return self.of.key

    @property
    def stats(self) -> tables.Table:
        return self.of.monitoring[0]

    @property
    def baseline(self) -> tables.Table:
        return self.of.monitoring[1]

    @property
    def alerts(self) -> tables.Table:
        return self.of.monitoring[2]

    @property
    def history(self) -> str:
        """The raw table whose first event_date starts each feature's window (ramp-up)."""
        return self.of.population_table

    @property
    def patches(self) -> tables.Table:
        """The active patches the features are read through."""
        return self.of.patch_tables[2]

    @property
    def capture_job(self) -> str:
        return self.of.jobs.capture_baseline

    def no_baseline(self, message: str) -> str:
        """The no-baseline `message` naming this entity's capture job."""
        return message.replace("capture_baseline_job", self.capture_job)

    def unattributed(self) -> str | None:
        """Why the entity's drift is diagnosed from its statistics only (said in each alert's
        diagnosis_evidence headline and in the UI); None when its spec has `attribute_by`."""
        if self.of.attributed:
            return None
        return (f"attribution not available for entity {self.entity!r}: its contributors (event_type, channel, "
                f"cohort, landing file) are read from {tables.RAW_EVENTS} columns, which only customer features "
                "aggregate; the diagnosis is from the statistics alone")


@functools.lru_cache(maxsize=64)
def subject_for(entity: Entity) -> Subject:
    """The monitoring tables of `entity` (one object per entity)."""
    return Subject(entity)


CUSTOMER = subject_for(CUSTOMER_TABLES)
