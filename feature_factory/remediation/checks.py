"""Quality gate on the applied patches: every active patch still re-validates (typed params, id
hash, catalog: feature present and not retired). Blocking, because a patch that no longer validates
would make the patch layer refuse to build the online table, training sets and monitoring.

One check per entity, on its patch log, built by `build_active_patches_valid` from its scope:
`active_patches_valid` on feature_patch_log (the customer's, reading feature_patches_active) and on
product_feature_patch_log (against product's features, reading product_feature_patches_active)."""

import functools

import dagster as dg

from feature_factory.catalog import Catalog
from feature_factory.features import patch_layer, patches
from feature_factory.catalog_resource import CatalogResource
from feature_factory.remediation.scope import CUSTOMER_SCOPE, Scope
from feature_factory.warehouse.base import Warehouse


def validate_active(warehouse: Warehouse, catalog: Catalog, scope: Scope = CUSTOMER_SCOPE) -> dg.AssetCheckResult:
    """The check's result: `scope`'s active patches re-validated against `catalog` (the scope's
    features), each problem naming the patch id."""
    if not warehouse.table_exists(scope.active.name):
        return dg.AssetCheckResult(passed=True, metadata={"active_patches": 0})
    with warehouse.session() as s:
        rows = patch_layer.fetch_active(s, table=scope.active)
    problems = []
    for row in rows:
        try:
            patch = patches.patch_from_record(
                row["action"], row["feature"], row["baseline_version"], row["params"], row["patch_id"])
            patch.validate(catalog)
        except patches.PatchValidationError as exc:
            problems.append(f"{row['patch_id']}: {exc}")
    # Named after its entity (product_feature_patches_active): say whose; the customer's reads as it did.
    where = f" of entity {scope.entity.name!r} ({scope.active.name})" if scope.entity.names.qualified else ""
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) if problems else f"{len(rows)} active patch(es){where} valid",
        metadata={"active_patches": len(rows), "invalid": dg.MetadataValue.json(problems)},
    )


@functools.lru_cache(maxsize=64)  # one definition per entity, whoever asks
def build_active_patches_valid(scope: Scope) -> dg.AssetChecksDefinition:
    """`active_patches_valid` (blocking) on `scope`'s patch log (feature_patch_log, product_feature_patch_log)."""

    @dg.asset_check(asset=scope.log.name, name="active_patches_valid", blocking=True,
                    description=f"Every active patch of entity `{scope.entity.name}` ({scope.active.name}) "
                    "re-validates against its features in the catalog and its id.")
    def _active_patches_valid(warehouse: Warehouse, catalog: CatalogResource) -> dg.AssetCheckResult:
        return validate_active(warehouse, scope.catalog(catalog.catalog()), scope)

    return _active_patches_valid


active_patches_valid = build_active_patches_valid(CUSTOMER_SCOPE)
