"""serving domain: the online store asset of every entity of the catalog, the customer's first
(the server itself is `feature-factory serve`)."""

import dagster as dg

from feature_factory.features.entities import all_entities
from feature_factory.serving import assets

defs = dg.Definitions(assets=assets.store_assets(entities=all_entities()))
