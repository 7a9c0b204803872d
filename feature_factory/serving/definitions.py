"""serving domain: the online store assets, the customer's and one per other entity of the catalog
(the server itself is `feature-factory serve`)."""

import dagster as dg

from feature_factory.serving import assets

defs = dg.Definitions(assets=[assets.customer_features_online_store, *assets.store_assets()])
