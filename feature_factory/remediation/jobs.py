"""Remediation jobs, all launchable from the Launchpad:

- `remediation_job`: propose from the latest drift_alerts (requested by the drift sensor); by mode
  also approve by policy and apply.
- `approve_patches_job`: run config `ops: {approve_patches: {config: {approve: [...], reject:
  [...], approver: "alice"}}}`.
- `apply_patches_job`: apply APPROVED patches and rebuild customer_features_online.
- `rollback_patch_job`: run config `ops: {rollback_patch: {config: {patch_id: "...", actor: "bob"}}}`.
- Another entity's patches: the same two jobs with `entity: product` in their config; its
  `product_remediation_job` and `product_apply_patches_job` (names from its spec) come from the
  same `entity_jobs` as the customer's.

Apply and rollback cannot interleave: each holds the warehouse-level remediation lock
(store.remediation_lock), and every state-changing step is in the Dagster pool `remediation`
(limit it to 1 so competing runs queue rather than fail on the lock); runs are also tagged
`feature_factory/concurrency=remediation` for run-queue tag limits.
"""


import functools

import dagster as dg
from pydantic import Field

from feature_factory.catalog_resource import CatalogResource
from feature_factory.features.entities import CUSTOMER_TABLES, Entity, entity_tables
from feature_factory.remediation import loop, views
from feature_factory.remediation import assets
from feature_factory.remediation.assets import actor_of, log_applied, log_views
from feature_factory.remediation.online_refresh import rebuild_online_callback
from feature_factory.remediation.resources import POOL, RUN_TAGS, RemediationSettings
from feature_factory.remediation.scope import Scope, scope_for
from feature_factory.serving.config import OnlineStoreResource
from feature_factory.warehouse.base import Warehouse


_ENTITY = ("Entity whose patches these are: customer (patch_candidates) or another entity of the sources "
           "file (<entity>_patch_candidates).")


class ApproveConfig(dg.Config):
    approve: list[str] = Field(default_factory=list, description="Patch ids to approve.")
    reject: list[str] = Field(default_factory=list, description="Patch ids to reject.")
    approver: str = Field(description="Who decides (recorded with the time).")
    entity: str = Field(default="customer", description=_ENTITY)


class RollbackConfig(dg.Config):
    patch_id: str = Field(description="The APPLIED patch to undo.")
    actor: str | None = Field(default=None, description="Who rolls back; default the run's user tag or 'dagster'.")
    entity: str = Field(default="customer", description=_ENTITY)


def scope_of(entity: str, catalog: CatalogResource) -> Scope:
    """The scope of a configured entity in the run's sources (a KeyError naming the sources file
    when it is not declared)."""
    return scope_for(entity_tables(entity, catalog.sources()))


@dg.op(pool=POOL)
def approve_patches(context: dg.OpExecutionContext, config: ApproveConfig, warehouse: Warehouse,
                    remediation: RemediationSettings, catalog: CatalogResource) -> None:
    """Approve and/or reject patch candidates; all or nothing, approver and time recorded."""
    scope = scope_of(config.entity, catalog)
    decided = loop.decide(warehouse, scope.catalog(catalog.catalog()), config.approve, config.reject,
                          config.approver, remediation.lock_ttl_s, scope)
    context.log.info(f"{config.approver}: approved {decided['approved']}, rejected {decided['rejected']}")
    context.log_event(dg.AssetMaterialization(
        asset_key=scope.candidates.name, description=f"Decisions by {config.approver}.",
        metadata={
            "approver": config.approver,
            "approved": dg.MetadataValue.json(decided["approved"]),
            "rejected": dg.MetadataValue.json(decided["rejected"]),
            **{k: dg.MetadataValue.md(v) for k, v in views.patch_views(warehouse, scope).items()},
        },
    ))


@dg.op(pool=POOL)
def rollback_patch(context: dg.OpExecutionContext, config: RollbackConfig, warehouse: Warehouse,
                   remediation: RemediationSettings, online_store: OnlineStoreResource,
                   catalog: CatalogResource) -> None:
    """Undo an applied patch exactly, log it, and rebuild customer_features_online (another
    entity's: its online table)."""
    scope = scope_of(config.entity, catalog)
    features = scope.catalog(catalog.catalog())
    log = loop.rollback(warehouse, features, config.patch_id, actor_of(context, config.actor), context.run_id,
                        rebuild=rebuild_online_callback(context, warehouse, features, online_store, scope),
                        lock_ttl_s=remediation.lock_ttl_s, scope=scope)
    context.log.info(f"rolled back {config.patch_id} ({log['action']} on {log['feature']})")
    log_applied(context, [log], warehouse, scope)
    log_views(context, warehouse, f"{config.patch_id} rolled back.", scope)


@dg.job(tags=RUN_TAGS, description="Approve or reject patch candidates by id (approver recorded).")
def approve_patches_job():
    approve_patches()


@dg.job(tags=RUN_TAGS, description="Roll back one applied patch; outputs return to exactly what they were.")
def rollback_patch_job():
    rollback_patch()


@functools.lru_cache(maxsize=64)  # one definition per entity, whoever asks
def entity_jobs(entity: Entity) -> tuple:
    """(remediation job, apply-patches job) of one entity, named by its spec: the customer's
    remediation_job / apply_patches_job, product's product_remediation_job / product_apply_patches_job."""
    candidates, log = assets.entity_assets(entity)
    alerts = scope_for(entity).subject.alerts
    return (
        dg.define_asset_job(
            entity.jobs.remediation, selection=[candidates], tags=RUN_TAGS,
            description=f"Propose patches from the latest {alerts} partition; by mode, approve by policy and apply."),
        dg.define_asset_job(
            entity.jobs.apply_patches, selection=[log], tags=RUN_TAGS,
            description=f"Apply every APPROVED {entity.name} patch atomically, log it, rebuild {entity.online_table}."),
    )


# The customer's, under the names users and tests import.
remediation_job, apply_patches_job = entity_jobs(CUSTOMER_TABLES)
