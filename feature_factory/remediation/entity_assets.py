"""The remediation asset factory seen per entity: `remediation_assets(entity)` returns its patch
candidates and patch log (`assets.entity_assets`) and its remediation and apply-patches jobs
(`jobs.entity_jobs`), the same for the customer (patch_candidates, feature_patch_log,
remediation_job, apply_patches_job) and every other entity (product_patch_candidates, ...,
product_remediation_job); `definitions(catalog, entities)` gathers them with each entity's blocking
`active_patches_valid` check. Without `entities` it serves the entities other than the customer
(what a catalog adds to the churn example); remediation/definitions.py asks for all of them.

Approve/reject and rollback are one op job each for every entity (`entity: <name>` in their config,
jobs.py). Approval by policy in the auto modes, model requests (when the entity's spec declares a
model) and exclude_source (when its drift is attributed) follow the entity's spec, not its name.
"""

import dagster as dg

from feature_factory.catalog import Catalog
from feature_factory.features.entities import Entity, other_entities
from feature_factory.remediation import assets, checks, jobs
from feature_factory.remediation.scope import scope_for


def remediation_assets(entity: Entity) -> tuple[list[dg.AssetsDefinition], list]:
    """([patch candidates, patch log], [remediation job, apply-patches job]) of the entity."""
    return list(assets.entity_assets(entity)), list(jobs.entity_jobs(entity))


def definitions(catalog: Catalog | None = None, entities: list[Entity] | None = None) -> dg.Definitions:
    """The remediation assets, jobs and checks of `entities` (default: every entity other than the
    customer with features in the catalog)."""
    entities = other_entities(catalog) if entities is None else entities
    built = [remediation_assets(e) for e in entities]
    return dg.Definitions(assets=[a for assets_, _ in built for a in assets_], jobs=[j for _, jobs_ in built for j in jobs_],
                          asset_checks=[checks.build_active_patches_valid(scope_for(e)) for e in entities])
