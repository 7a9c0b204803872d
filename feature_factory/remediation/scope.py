"""Which entity a remediation run acts on: the alerts it proposes from, the baseline its patches
are derived from, the feature table they change and the patch tables that record them (no Dagster).

`CUSTOMER_SCOPE` is the churn example's (drift_alerts, feature_stats_baseline, customer_features,
patch_candidates, feature_patch_log, feature_patches_active, customer_features_online). Another
entity's scope names its own tables (`product_drift_alerts`, ..., `product_patch_candidates`, ...),
so a clip on product's revenue_7d is proposed, approved, applied and rolled back apart from the
customer's revenue_7d. The remediation lock is shared: one apply or rollback at a time, whatever
the entity.

What stays customer-only: model requests (request_retrain, refresh_baseline are acted on by the
requests sensor for the churn model and its baseline) and exclude_source (it re-reads raw_events).
"""

from __future__ import annotations

from dataclasses import dataclass

from feature_factory import tables
from feature_factory.catalog import Catalog
from feature_factory.features.entities import CUSTOMER_TABLES, EntityTables
from feature_factory.monitoring.subject import CUSTOMER, Subject, subject_for


@dataclass(frozen=True)
class Scope:
    entity: EntityTables
    subject: Subject  # alerts, baseline and feature table

    @property
    def candidates(self) -> tables.Table:
        return self.entity.patch_tables[0]

    @property
    def log(self) -> tables.Table:
        return self.entity.patch_tables[1]

    @property
    def active(self) -> tables.Table:
        return self.entity.patch_tables[2]

    @property
    def is_customer(self) -> bool:
        return self.subject.is_customer

    def catalog(self, catalog: Catalog) -> Catalog:
        """The features patches of this scope may change (the customer's: the catalog as loaded)."""
        return catalog if self.is_customer else catalog.for_entity(self.entity.name)


CUSTOMER_SCOPE = Scope(CUSTOMER_TABLES, CUSTOMER)


def scope_for(entity: EntityTables) -> Scope:
    return CUSTOMER_SCOPE if entity.name == CUSTOMER_TABLES.name else Scope(entity, subject_for(entity))
