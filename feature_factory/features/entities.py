"""The tables of one entity's features, resolved from the sources file (no Dagster here).

`customer` is the churn example: customer_features / customer_features_online over raw_events,
keyed by customer_id (the data contract). Any other entity declared under `entities:` in the
sources file gets `<entity>_features` / `<entity>_features_online`, keyed by its `key` column, with
its population (who gets a snapshot row) from the raw table of its `source`.
"""

from __future__ import annotations

from dataclasses import dataclass

from feature_factory import tables
from feature_factory.catalog.loader import Catalog, load_catalog
from feature_factory.catalog.sources import CUSTOMER, SourceCatalog, load_sources


@dataclass(frozen=True)
class EntityTables:
    name: str
    key: str  # key column of the feature and online tables
    features_table: str
    online_table: str
    population: str  # the source whose rows make the population
    population_table: str  # its raw table
    population_key: str  # its column holding the key
    description: str = ""

    @property
    def patch_tables(self) -> tuple[tables.Table, tables.Table, tables.Table]:
        """(candidates, log, active): customer's patch_candidates, feature_patch_log and
        feature_patches_active; another entity's `<entity>_patch_candidates`, ... (the patch layer
        reads the active one, so a patch on product's revenue_7d never touches the customer's)."""
        if self.name == CUSTOMER.name:
            return tables.PATCH_CANDIDATES, tables.FEATURE_PATCH_LOG, tables.FEATURE_PATCHES_ACTIVE
        return tables.entity_patches(self.name, self.features_table)


CUSTOMER_TABLES = EntityTables(
    CUSTOMER.name, CUSTOMER.key, tables.CUSTOMER_FEATURES.name, tables.CUSTOMER_FEATURES_ONLINE.name,
    CUSTOMER.source, tables.RAW_EVENTS.name, "customer_id", CUSTOMER.description)


def entity_tables(name: str, sources: SourceCatalog | None = None) -> EntityTables:
    """The tables of entity `name` (KeyError naming the sources file if it is not declared)."""
    if name == CUSTOMER.name:
        return CUSTOMER_TABLES
    sources = sources or load_sources()
    e = sources.entity(name)
    src = sources.get(e.source)
    return EntityTables(e.name, e.key, e.features_table, e.online_table, src.name, src.raw_table,
                        src.entity_column(e.name), e.description)


def other_entities(catalog: Catalog | None = None) -> list[EntityTables]:
    """The tables of every entity other than customer with features in `catalog` (default: the
    loaded one), in the order first declared; [] without reading the sources file when there is
    none (the churn-only code location). What every per-entity asset factory iterates over."""
    names = (catalog or load_catalog()).entities()
    if not names:
        return []
    sources = load_sources()
    return [entity_tables(name, sources) for name in names]


def contracts(entity: EntityTables) -> tuple[tables.Table, tables.Table]:
    """The table contracts (columns and their descriptions) of the entity's feature and online
    tables, shaped like customer_features / customer_features_online."""
    if entity.name == CUSTOMER.name:
        return tables.CUSTOMER_FEATURES, tables.CUSTOMER_FEATURES_ONLINE
    what = entity.description.rstrip(".") or entity.name.capitalize()
    features = tables.Table(
        entity.features_table, "features", f"Daily feature snapshot per {entity.name}.",
        tables._cols(
            (entity.key, "VARCHAR", f"{what} (seen in {entity.population_table} within the last 90 days)."),
            ("snapshot_date", "DATE", "Features as of the END of this day."),
            ("computed_at", "TIMESTAMP", "When the run computed the row (UTC)."),
        ),
        features_after="snapshot_date",
    )
    online = tables.Table(
        entity.online_table, "features", f"Latest snapshot per {entity.name}.",
        tables._cols(
            (entity.key, "VARCHAR", f"{what} (one row each: the newest snapshot)."),
            *((c.name, c.type, c.description) for c in tables.CUSTOMER_FEATURES_ONLINE.columns[1:]),
        ),
        features_after="snapshot_date",
    )
    return features, online
