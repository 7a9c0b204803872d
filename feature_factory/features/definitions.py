"""features domain: catalog-driven daily snapshots, the online table and their quality checks;
other entities' feature and online tables come from the asset factory (`entity_assets`)."""

import dagster as dg

from feature_factory.features import assets, checks, entity_assets

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[assets.customer_features, assets.customer_features_online],
        asset_checks=checks.all_checks(),
    ),
    entity_assets.definitions(),
)
