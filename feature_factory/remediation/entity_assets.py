"""Asset factory: each entity of the catalog other than `customer` gets its own remediation,
shaped like the customer's: `<entity>_patch_candidates` (proposals from `<entity>_drift_alerts`
against `<entity>_feature_stats_baseline`) and `<entity>_feature_patch_log` (materializing it
applies the APPROVED ones and rebuilds `<entity>_features_online`), with
`<entity>_remediation_job` and `<entity>_apply_patches_job`, and the blocking check
`active_patches_valid` on the log (checks.py). Approve/reject and rollback are the
customer's jobs with `entity: <entity>` in their config. The runs are the customer assets' own
(`assets.propose_result`, `assets.apply_result`) given the entity's `Scope`.

Proposals only, whatever the remediation mode (the policy file names customer features), and data
patches only (clip, impute_median, cast, disable_feature): model requests are the churn model's,
and without a diagnosis there is no exclude_source (scope.py).
"""

import dagster as dg

from feature_factory.catalog import Catalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.features.entities import Entity, other_entities
from feature_factory.remediation import assets, checks
from feature_factory.remediation.resources import POOL, RUN_TAGS, RemediationSettings
from feature_factory.remediation.scope import scope_for
from feature_factory.serving.config import OnlineStoreResource
from feature_factory.warehouse.base import Warehouse


def remediation_assets(entity: Entity) -> tuple[list[dg.AssetsDefinition], list]:
    """([<entity>_patch_candidates, <entity>_feature_patch_log], their two jobs)."""
    scope = scope_for(entity)
    tags = {"feature_factory/entity": entity.name}

    @dg.asset(
        name=scope.candidates.name, group_name=assets.GROUP, kinds={"sql", "python"}, pool=POOL, tags=tags,
        deps=[scope.subject.alerts.key, scope.subject.baseline.key],
        description=(
            f"Typed remediation patches of entity `{entity.name}` proposed from the latest {scope.subject.alerts} "
            f"partition: impute the baseline median for null spikes, clip to the baseline [p01, p99] for "
            "outliers, cast for schema changes, disable on critical breakage. Each has a stable id, its evidence "
            f"and the exact SQL it would apply over {entity.features_table} (`/* REVIEW */`). Nothing changes "
            f"until a person approves it (approve_patches_job with entity: {entity.name}) and it is applied."),
        metadata={"dagster/table_name": scope.candidates.name,
                  "dagster/column_schema": scope.candidates.column_schema()},
    )
    def _candidates(context: dg.AssetExecutionContext, config: assets.ProposeConfig, warehouse: Warehouse,
                    remediation: RemediationSettings, online_store: OnlineStoreResource, catalog: CatalogResource):
        return assets.propose_result(context, config, warehouse, remediation, online_store, catalog, scope)

    @dg.asset(
        name=scope.log.name, group_name=assets.GROUP, kinds={"sql", "python"}, pool=POOL, tags=tags,
        deps=[_candidates],
        description=(
            f"Append-only audit log of applied and rolled-back patches of entity `{entity.name}` (who, when, "
            "params, the feature's stats before and after). Materializing it applies every APPROVED patch "
            f"atomically, then rebuilds {entity.online_table}; from then on {entity.features_table} is read "
            "patched by the online table and monitoring."),
        metadata={"dagster/table_name": scope.log.name, "dagster/column_schema": scope.log.column_schema()},
    )
    def _log(context: dg.AssetExecutionContext, config: assets.ApplyConfig, warehouse: Warehouse,
             remediation: RemediationSettings, online_store: OnlineStoreResource, catalog: CatalogResource):
        return assets.apply_result(context, config, warehouse, remediation, online_store, catalog, scope)

    jobs = [
        dg.define_asset_job(f"{entity.name}_remediation_job", selection=[_candidates], tags=RUN_TAGS,
                            description=f"Propose patches from the latest {scope.subject.alerts} partition."),
        dg.define_asset_job(f"{entity.name}_apply_patches_job", selection=[_log], tags=RUN_TAGS,
                            description=f"Apply every APPROVED {entity.name} patch atomically, log it, rebuild "
                            f"{entity.online_table}."),
    ]
    return [_candidates, _log], jobs


def definitions(catalog: Catalog | None = None) -> dg.Definitions:
    """The remediation assets and jobs of every entity other than customer with features in the catalog."""
    entities = other_entities(catalog)
    built = [remediation_assets(e) for e in entities]
    return dg.Definitions(assets=[a for assets_, _ in built for a in assets_], jobs=[j for _, jobs in built for j in jobs],
                          asset_checks=[checks.build_active_patches_valid(scope_for(e)) for e in entities])
