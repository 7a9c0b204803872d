"""What one set of monitoring tables watches: a thin view of an `Entity` (features/entities.py)
under the names monitoring reads (no Dagster here).

The customer's subject reads customer_features -> feature_stats, feature_stats_baseline,
drift_alerts; product's reads product_features -> product_feature_stats, ...: feature_stats.py, baseline.py
and alerts.py take a subject (default the built-in customer's), so the same SQL and drift rules run
over any entity, and its drift is attributed (`attribution`) over its population's raw table by the
dimensions its spec declares (`attribute_by`) plus cohort, first-seen week and landing file. What
differs between entities is in their spec: one without a model gets no retrain request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.monitoring.explain.attribution import AttributionSource


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

    @functools.cached_property
    def attribution(self) -> AttributionSource:
        """Where the entity's drift is attributed: its population's raw table and key, its
        `attribute_by` dimensions and its cache tables (the customer's: attribution.CUSTOMER)."""
        e, n = self.of, self.of.names
        return AttributionSource(e.name, e.population_table, e.population_key, e.features_table, e.key,
                                 e.spec.attribute_by, n.first_seen, n.first_seen_days, n.attribution_baseline,
                                 e.population)


@functools.lru_cache(maxsize=64)
def subject_for(entity: Entity) -> Subject:
    """The monitoring tables of `entity` (one object per entity)."""
    return Subject(entity)


CUSTOMER = subject_for(CUSTOMER_TABLES)
