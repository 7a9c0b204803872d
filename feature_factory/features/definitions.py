"""features domain: catalog-driven daily snapshots, the online table and their quality checks, for
every entity of the catalog (the customer's first), built by one asset factory (`assets.entity_assets`)."""

from feature_factory.features import assets

defs = assets.definitions()
