"""features domain: catalog-driven daily snapshots, the online table and their quality checks."""

import dagster as dg

from feature_factory.features import assets, checks

defs = dg.Definitions(
    assets=[assets.customer_features, assets.customer_features_online],
    asset_checks=checks.all_checks(),
)
