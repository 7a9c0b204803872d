"""Dagster wiring of the remediation loop: one asset factory (`entity_assets`) builds every entity's
two assets (the proposals, the applied-patch log), and the steps the jobs run. Logic lives in
`loop.py`; this module passes config and renders metadata.

The customer's `patch_candidates` proposes (and, by mode, approves by policy and applies);
`feature_patch_log` applies APPROVED patches (product's: `product_patch_candidates`,
`product_feature_patch_log`). Approve/reject and rollback are op jobs (jobs.py) that report
materializations of these two assets, so every change shows on their pages in the UI.
"""


import datetime as dt
import functools

import dagster as dg
from pydantic import Field

from feature_factory import tables
from feature_factory.catalog_resource import CatalogResource
from feature_factory.remediation import loop, rules, views
from feature_factory.remediation.online_refresh import rebuild_online_callback
from feature_factory.remediation.resources import POOL, RemediationSettings
from feature_factory.features.entities import Entity
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope, scope_for
from feature_factory.serving.config import OnlineStoreResource
from feature_factory.warehouse.base import Warehouse

GROUP = "remediation"
MODEL_ACTIONS = ("request_retrain", "refresh_baseline")


class ProposeConfig(dg.Config, rules.RuleSettings):
    # Which severity gets which patch (min_severity, model_min_severity, ...): rules.RuleSettings.
    alert_date: str | None = Field(
        default=None, description="drift_alerts partition (YYYY-MM-DD) to propose from; default the latest."
    )

    def rule_settings(self) -> rules.RuleSettings:
        """The rule settings alone (without alert_date)."""
        return rules.RuleSettings(**{name: getattr(self, name) for name in rules.RuleSettings.model_fields})


class ApplyConfig(dg.Config):
    patch_ids: list[str] | None = Field(default=None, description="Apply only these APPROVED patches; default all APPROVED.")
    actor: str | None = Field(default=None, description="Who applies (recorded in the log); default the run's user tag or 'dagster'.")


def live_schema(warehouse: Warehouse, table: tables.Table) -> dg.TableSchema:
    """The contract's column schema over the columns the table has now (an older table may lack some)."""
    return table.column_schema(live=warehouse.columns(table.name))


def actor_of(context, configured: str | None) -> str:
    return configured or context.run.tags.get("dagster/user") or "dagster"


def log_applied(context, logs: list[dict], warehouse: Warehouse, scope: Scope = CUSTOMER_SCOPE) -> None:
    """Report a `feature_patch_log` (the scope's log) materialization from a step that is not its asset."""
    context.log_event(dg.AssetMaterialization(
        asset_key=scope.log.key, description="Patches applied or rolled back by this run.",
        metadata={**log_metadata(logs, warehouse, scope),
                  "dagster/column_schema": live_schema(warehouse, scope.log)},
    ))


def log_views(context, warehouse: Warehouse, why: str, scope: Scope = CUSTOMER_SCOPE) -> None:
    """Report a `patch_candidates` (the scope's candidates) materialization whose patch views are
    read now, so its page never shows a patch as APPROVED after it was applied (or as applied after
    a rollback)."""
    context.log_event(dg.AssetMaterialization(
        asset_key=scope.candidates.key, description=why,
        metadata={**{k: dg.MetadataValue.md(v) for k, v in views.patch_views(warehouse, scope).items()},
                  # the newest event is the one the UI shows: it carries what still waits for review
                  "review_sql": dg.MetadataValue.md(views.waiting_review_markdown(warehouse, scope)),
                  "dagster/column_schema": live_schema(warehouse, scope.candidates)},
    ))


def log_metadata(logs: list[dict], warehouse: Warehouse, scope: Scope = CUSTOMER_SCOPE) -> dict:
    requests = [{"action": l["action"], "feature": l["feature"], "patch_id": l["patch_id"],
                 "alert_date": str(l["alert_date"]) if l.get("alert_date") else None}
                for l in logs if l["event"] == "apply" and l["action"] in MODEL_ACTIONS]
    return {
        "events": len(logs),
        "patches": dg.MetadataValue.md(views.log_markdown(logs)),
        "active_patches": dg.MetadataValue.md(views.active_markdown(warehouse, scope)),
        "model_requests": dg.MetadataValue.json(requests),
        "dagster/row_count": warehouse.row_count(scope.log.name),
    }


def propose_result(context: dg.AssetExecutionContext, config: ProposeConfig, warehouse: Warehouse,
                   remediation: RemediationSettings, online_store: OnlineStoreResource, catalogs: CatalogResource,
                   scope: Scope = CUSTOMER_SCOPE) -> dg.MaterializeResult:
    """patch_candidates' run (and every other entity's `<entity>_patch_candidates`, entity_assets.py:
    propose only, whatever the mode; its approval is a person's, by approve_patches_job)."""
    full = catalogs.catalog()
    catalog = scope.catalog(full)
    # The drift sensor tags its request with the partition that fired.
    day = config.alert_date or context.run.tags.get("feature_factory/drift_partition")
    try:
        alert_date = dt.date.fromisoformat(day) if day else None
    except ValueError:
        raise ValueError(f"alert_date {day!r} is not a date in YYYY-MM-DD form") from None
    result = loop.propose(warehouse, catalog, config.rule_settings(), alert_date,
                          actor=f"run:{context.run_id}", lock_ttl_s=remediation.lock_ttl_s, scope=scope)
    approved, refused, applied = [], [], []
    auto = remediation.mode != "propose_only"
    policy = remediation.load_policy(full) if auto else None  # its rules may name any entity's features
    if policy is not None:
        approved, refused = loop.approve_by_policy(warehouse, catalog, policy, remediation.lock_ttl_s, scope)
        for msg in refused:
            context.log.error(f"policy approval refused: {msg}")
    if remediation.mode == "auto_apply" and approved:
        applied = loop.apply_approved(
            warehouse, catalog, actor=policy.approver, run_id=context.run_id, patch_ids=approved,
            rebuild=rebuild_online_callback(context, warehouse, catalog, online_store, scope),
            lock_ttl_s=remediation.lock_ttl_s, scope=scope,
        )
        log_applied(context, applied, warehouse, scope)
    if auto and policy is None:
        context.log.warning(f"mode {remediation.mode} but no policy file configured: nothing approved")
    context.log.info(f"proposed {len(result.new)} new patch(es); {result.message}")
    return dg.MaterializeResult(metadata={
        "alert_date": str(result.alert_date) if result.alert_date else "none",
        "mode": remediation.mode,
        "alerts_read": result.alerts,
        "new_proposals": len(result.new),
        "already_proposed": len(result.existing),
        "approved_by_policy": dg.MetadataValue.json(approved),
        "applied": dg.MetadataValue.json([l["patch_id"] for l in applied]),
        **{k: dg.MetadataValue.md(v) for k, v in views.patch_views(warehouse, scope).items()},
        "review_sql": dg.MetadataValue.md(views.review_markdown(result.new)),
        "skipped": dg.MetadataValue.json(result.skipped + refused),
        "message": result.message or "ok",
        "dagster/row_count": warehouse.row_count(scope.candidates.name),
        "dagster/column_schema": live_schema(warehouse, scope.candidates),
    })


def apply_result(context: dg.AssetExecutionContext, config: ApplyConfig, warehouse: Warehouse,
                 remediation: RemediationSettings, online_store: OnlineStoreResource, catalogs: CatalogResource,
                 scope: Scope = CUSTOMER_SCOPE) -> dg.MaterializeResult:
    """feature_patch_log's run (and every other entity's `<entity>_feature_patch_log`)."""
    catalog = scope.catalog(catalogs.catalog())
    logs = loop.apply_approved(
        warehouse, catalog, actor=actor_of(context, config.actor), run_id=context.run_id,
        patch_ids=config.patch_ids, rebuild=rebuild_online_callback(context, warehouse, catalog, online_store, scope),
        lock_ttl_s=remediation.lock_ttl_s, scope=scope,
    )
    context.log.info(f"applied {len(logs)} patch(es)")
    if logs:
        log_views(context, warehouse, f"{len(logs)} patch(es) applied by this run.", scope)
    return dg.MaterializeResult(metadata={
        **log_metadata(logs, warehouse, scope),
        "dagster/column_schema": live_schema(warehouse, scope.log),
    })


@functools.lru_cache(maxsize=64)  # one definition per entity, whoever asks
def entity_assets(entity: Entity) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """(patch candidates, patch log) of one entity, named by its spec: the customer's
    patch_candidates / feature_patch_log, product's product_patch_candidates / product_feature_patch_log."""
    scope = scope_for(entity)
    alerts, baseline = scope.subject.alerts, scope.subject.baseline
    tags = {"feature_factory/entity": entity.name}

    @dg.asset(
        name=scope.candidates.name, group_name=GROUP, kinds={"sql", "python"}, pool=POOL, tags=tags,
        deps=[alerts.key, baseline.key],
        description=(
            f"Typed remediation patches of entity `{entity.name}` proposed from the latest {alerts} partition: "
            f"impute the {baseline} median for null spikes, clip to the baseline [p01, p99] for outliers, cast "
            "for schema changes, request a retrain or baseline refresh for severe shifts (when the entity "
            "declares a model), disable on critical breakage. Each has a stable id, its evidence and the exact "
            f"SQL it would apply over {entity.features_table} (`/* REVIEW */`). Nothing changes until a patch is "
            f"approved (approve_patches_job with entity: {entity.name}, or the policy file in auto modes) and "
            "applied."),
        metadata={"dagster/table_name": scope.candidates.name,
                  "dagster/column_schema": scope.candidates.column_schema()},
    )
    def _candidates(context: dg.AssetExecutionContext, config: ProposeConfig, warehouse: Warehouse,
                    remediation: RemediationSettings, online_store: OnlineStoreResource,
                    catalog: CatalogResource) -> dg.MaterializeResult:
        return propose_result(context, config, warehouse, remediation, online_store, catalog, scope)

    @dg.asset(
        name=scope.log.name, group_name=GROUP, kinds={"sql", "python"}, pool=POOL, tags=tags, deps=[_candidates],
        description=(
            f"Append-only audit log of applied and rolled-back patches of entity `{entity.name}` (who, when, "
            "params, the feature's stats before and after). Materializing it applies every APPROVED patch "
            f"atomically (state, status and log in one transaction under the remediation lock), then rebuilds "
            f"{entity.online_table}; from then on the online table, training sets, inference and monitoring "
            f"read {entity.features_table} patched."),
        metadata={"dagster/table_name": scope.log.name, "dagster/column_schema": scope.log.column_schema()},
    )
    def _log(context: dg.AssetExecutionContext, config: ApplyConfig, warehouse: Warehouse,
             remediation: RemediationSettings, online_store: OnlineStoreResource,
             catalog: CatalogResource) -> dg.MaterializeResult:
        return apply_result(context, config, warehouse, remediation, online_store, catalog, scope)

    return _candidates, _log


# The customer's, under the names users and tests import (the same objects the definitions hold).
patch_candidates, feature_patch_log = entity_assets(CUSTOMER_SCOPE.entity)
