"""remediation domain: patch proposals, approval, audited apply and exact rollback for every
entity (the customer's first), built by one factory (`entity_assets.remediation_assets`), plus
the approve and rollback op jobs every entity shares (`entity:` in their config).

Its sensor (applied requests -> retrain / baseline) targets later domains' jobs, so it is built
in `feature_factory.wiring`."""

import dagster as dg

from feature_factory.features.entities import all_entities
from feature_factory.remediation import entity_assets, jobs

defs = dg.Definitions.merge(
    entity_assets.definitions(entities=all_entities()),
    dg.Definitions(jobs=[jobs.approve_patches_job, jobs.rollback_patch_job]),
)
