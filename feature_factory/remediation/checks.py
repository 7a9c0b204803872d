"""Quality gate on the applied patches: every active patch still re-validates (typed params, id
hash, catalog: feature present and not retired). Blocking, because a patch that no longer validates
would make the patch layer refuse to build the online table, training sets and monitoring."""

import dagster as dg

from feature_factory import tables
from feature_factory.features import patch_layer, patches
from feature_factory.remediation.assets import feature_patch_log
from feature_factory.remediation.resources import RemediationSettings
from feature_factory.warehouse.base import Warehouse


@dg.asset_check(asset=feature_patch_log, blocking=True,
                description="Every active patch re-validates against the catalog and its id.")
def active_patches_valid(warehouse: Warehouse, remediation: RemediationSettings) -> dg.AssetCheckResult:
    catalog = remediation.load_catalog()
    if not warehouse.table_exists(tables.FEATURE_PATCHES_ACTIVE.name):
        return dg.AssetCheckResult(passed=True, metadata={"active_patches": 0})
    with warehouse.session() as s:
        rows = patch_layer.fetch_active(s)
    problems = []
    for row in rows:
        try:
            patch = patches.patch_from_record(
                row["action"], row["feature"], row["baseline_version"], row["params"], row["patch_id"])
            patch.validate(catalog)
        except patches.PatchValidationError as exc:
            problems.append(f"{row['patch_id']}: {exc}")
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) if problems else f"{len(rows)} active patch(es) valid",
        metadata={"active_patches": len(rows), "invalid": dg.MetadataValue.json(problems)},
    )

