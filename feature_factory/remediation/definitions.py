"""remediation domain: patch proposals, approval, audited apply and exact rollback.

Its sensor (applied requests -> retrain / baseline) targets later domains' jobs, so it is built
in `feature_factory.wiring`."""

import dagster as dg

from feature_factory.remediation import assets, checks, entity_assets, jobs

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[assets.patch_candidates, assets.feature_patch_log],
        jobs=[jobs.remediation_job, jobs.approve_patches_job, jobs.apply_patches_job, jobs.rollback_patch_job],
        asset_checks=[checks.active_patches_valid],
    ),
    entity_assets.definitions(),  # every other entity's patch candidates and log
)
