"""One entity, resolved: its spec (catalog/entity_spec.py) joined to its population source, with
the contract of every table it has (no Dagster here).

`Entity` is what every domain's asset factory, monitoring and remediation take: the customer of
the churn example (customer_features, feature_stats, drift_alerts, patch_candidates, ...: the data
contract, as the shipped sources file declares them) and any other entity of the sources file
(`product_features`, `product_feature_stats`, ...) alike. `CUSTOMER_TABLES` is the built-in
customer's, the default of functions that predate entities.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.catalog.entity_spec import CUSTOMER, EntityJobs, EntitySpec
from feature_factory.catalog.loader import Catalog, load_catalog
from feature_factory.catalog.sources import SourceCatalog, load_sources


@dataclass(frozen=True)
class Entity:
    spec: EntitySpec
    population_table: str  # the raw table of its population source
    population_key: str  # its column holding the key

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> str:
        """The key column of the feature and online tables."""
        return self.spec.key

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def population(self) -> str:
        """The source whose rows make the population."""
        return self.spec.source

    @property
    def names(self) -> tables.EntityNames:
        return self.spec.tables

    @property
    def jobs(self) -> EntityJobs:
        return self.spec.job_names

    @property
    def features_table(self) -> str:
        return self.names.features

    @property
    def online_table(self) -> str:
        return self.names.online

    @property
    def store_asset(self) -> str:
        return self.names.online_store

    @functools.cached_property
    def contracts(self) -> tuple[tables.Table, tables.Table]:
        """(features, online) table contracts, shaped like customer_features / customer_features_online."""
        return tables.features_table(self.names, self.key), tables.online_table(self.names, self.key)

    @functools.cached_property
    def monitoring(self) -> tuple[tables.Table, tables.Table, tables.Table]:
        """(stats, baseline, alerts) contracts."""
        return tables.entity_monitoring(self.names)

    @functools.cached_property
    def patch_tables(self) -> tuple[tables.Table, tables.Table, tables.Table]:
        """(candidates, log, active): a patch on product's revenue_7d never touches the customer's
        (the patch layer reads the entity's active table)."""
        return tables.entity_patches(self.names)

    @property
    def retrain_job(self) -> str | None:
        """The job a drift of a feature its model uses requests (None: the entity has no model)."""
        return self.spec.model.retrain_job if self.spec.model else None



@functools.lru_cache(maxsize=64)
def resolve(spec: EntitySpec, population_table: str, population_key: str) -> Entity:
    """One record per (spec, population): equal specs resolve to the same object."""
    return Entity(spec, population_table, population_key)


CUSTOMER_TABLES = resolve(CUSTOMER, tables.RAW_EVENTS.name, CUSTOMER.key)


def entity_tables(name: str, sources: SourceCatalog | None = None) -> Entity:
    """The resolved entity `name` of `sources` (default: the sources file in force); a KeyError
    naming the file when it is not declared."""
    sources = sources or load_sources()
    e = sources.entity(name)
    src = sources.get(e.source)
    return resolve(e, src.raw_table, src.entity_column(e.name))


def all_entities(catalog: Catalog | None = None, sources: SourceCatalog | None = None) -> list[Entity]:
    """Every entity with features in `catalog` (default: the loaded one), the customer's first:
    what every asset factory iterates over."""
    catalog = catalog or load_catalog()
    sources = sources or load_sources()
    return [entity_tables(name, sources) for name in ("customer", *catalog.entities())]


def other_entities(catalog: Catalog | None = None) -> list[Entity]:
    """Every entity other than the customer with features in `catalog`, in the order first declared;
    [] without reading the sources file when there is none (the churn-only code location)."""
    names = (catalog or load_catalog()).entities()
    if not names:
        return []
    sources = load_sources()
    return [entity_tables(name, sources) for name in names]


def contracts(entity: Entity) -> tuple[tables.Table, tables.Table]:
    """The table contracts (columns and their descriptions) of the entity's feature and online tables."""
    return entity.contracts
