"""Which entity a remediation run acts on: a thin view of an `Entity` (features/entities.py): the
alerts it proposes from, the baseline its patches are derived from, the feature table they change
and the patch tables that record them (no Dagster).

The customer's scope names drift_alerts, feature_stats_baseline, customer_features,
patch_candidates, feature_patch_log, feature_patches_active and customer_features_online; product's
its own tables (`product_drift_alerts`, ..., `product_patch_candidates`, ...), so a clip on product's
revenue_7d is proposed, approved, applied and rolled back apart from the customer's revenue_7d. The
remediation lock is shared: one apply or rollback at a time, whatever the entity. Model requests
(request_retrain, refresh_baseline) need the entity's spec to declare a model; exclude_source needs
its drift to be attributed (`attribute_by`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.catalog import Catalog
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.monitoring.subject import Subject, subject_for


@dataclass(frozen=True)
class Scope:
    entity: Entity

    @property
    def subject(self) -> Subject:
        """Alerts, baseline and feature table."""
        return subject_for(self.entity)

    @property
    def candidates(self) -> tables.Table:
        return self.entity.patch_tables[0]

    @property
    def log(self) -> tables.Table:
        return self.entity.patch_tables[1]

    @property
    def active(self) -> tables.Table:
        return self.entity.patch_tables[2]

    def catalog(self, catalog: Catalog) -> Catalog:
        """The features patches of this scope may change."""
        return catalog.for_entity(self.entity.name)


@functools.lru_cache(maxsize=64)
def scope_for(entity: Entity) -> Scope:
    return Scope(entity)


CUSTOMER_SCOPE = scope_for(CUSTOMER_TABLES)
