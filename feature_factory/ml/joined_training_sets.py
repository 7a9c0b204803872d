"""Asset factory: each training set declared in the feature catalog (`training_sets:`,
catalog/training_sets.py) becomes one asset of the same name: the spine's rows (a source's raw
table) with each join's entity features as of the day before the row's event time, newest snapshot
within `ttl_days`, read through that entity's patch layer; one SQL statement in the warehouse
(`features/point_in_time.py`), swapped in atomically. E.g. `order_training_set`: every order line
with its buyer's customer_features and its product's product_features.
"""

import dagster as dg

from feature_factory import markdown as md
from feature_factory.catalog import load_catalog, load_sources
from feature_factory.catalog_resource import CatalogResource
from feature_factory.catalog.training_sets import TrainingSetSpec, load_training_sets
from feature_factory.features import patch_layer
from feature_factory.features.assets import feature_columns
from feature_factory.features.entities import entity_tables
from feature_factory.features.point_in_time import FeatureJoin, build_point_in_time
from feature_factory.warehouse.base import Warehouse, quote_ident

GROUP = "ml"


def feature_joins(warehouse: Warehouse, spec: TrainingSetSpec, catalogs: CatalogResource) -> list[FeatureJoin]:
    """The spec's joins, each entity's features (of the run's catalog) read through its own active patches."""
    catalog, sources = catalogs.catalog(), catalogs.sources()
    out = []
    for j in spec.joins:
        entity = entity_tables(j.entity, sources)
        specs = [f for f in catalog.for_entity(j.entity).computed() if f.name in j.features]
        read = patch_layer.patched_expressions(warehouse, specs, qualifier="f", table=entity.patch_tables[2])
        out.append(FeatureJoin(entity, j.on, j.features, j.prefix, read))
    return out


def training_set_asset(spec: TrainingSetSpec) -> dg.AssetsDefinition:
    sources = load_sources()
    entities = {j.entity: entity_tables(j.entity, sources) for j in spec.joins}
    by_entity = {e: load_catalog().for_entity(e) for e in entities}
    schema = dg.TableSchema(columns=[
        *(dg.TableColumn(c, description=f"From {spec.spine_table}.") for c in spec.columns),
        *(dg.TableColumn(j.prefix + c.name, c.type, description=f"{entities[j.entity].features_table}.{c.name} "
                         f"as of the day before {spec.time}: {c.description}")
          for j in spec.joins for c in feature_columns([f for f in by_entity[j.entity].features
                                                         if f.name in j.features])),
    ])
    lineage = dg.TableColumnLineage(deps_by_column={
        j.prefix + f: [dg.TableColumnDep(asset_key=dg.AssetKey(entities[j.entity].features_table), column_name=f)]
        for j in spec.joins for f in j.features})

    @dg.asset(
        name=spec.name, group_name=GROUP, kinds={"sql"}, owners=[f"team:{spec.owner}"] if spec.owner else None,
        deps=[dg.AssetKey(spec.spine_table), *(dg.AssetKey(e.features_table) for e in entities.values())],
        description=(f"{spec.description + ' ' if spec.description else ''}Point-in-time training set: every row "
                     f"of {spec.spine_table} with " + ", ".join(
                         f"{entities[j.entity].features_table} on {j.on}" for j in spec.joins)
                     + f" as of the day before its {spec.time} (newest snapshot at most {spec.ttl_days} days old, "
                     "read through the patch layer; older or missing: NULL). Declared under training_sets: in the "
                     "feature catalog; one SQL statement, replaced atomically."),
        metadata={"dagster/table_name": spec.name, "dagster/column_schema": schema},
    )
    def _training_set(warehouse: Warehouse, catalog: CatalogResource) -> dg.MaterializeResult:
        spine = f"SELECT {', '.join(quote_ident(c) for c in spec.columns)} FROM {quote_ident(spec.spine_table)}"
        rows = build_point_in_time(warehouse, spec.name, spine, spec.time, feature_joins(warehouse, spec, catalog),
                                   spec.ttl_days)
        found = {j.entity: j.prefix + j.features[0] for j in spec.joins}
        counts = warehouse.fetch_one("SELECT " + ", ".join(
            f"COUNT({quote_ident(c)})" for c in found.values()) + f" FROM {quote_ident(spec.name)}")
        preview = warehouse.fetch_df(f"SELECT * FROM {quote_ident(spec.name)} ORDER BY "
                                     f"{quote_ident(spec.time)} DESC LIMIT 10")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": rows,
            "rows_with_features": dg.MetadataValue.json(dict(zip(found, (int(n) for n in counts)))),
            "preview": dg.MetadataValue.md(md.frame_table(preview)),
            "dagster/column_schema": schema,
            "dagster/column_lineage": lineage,
        })

    return _training_set


def definitions() -> dg.Definitions:
    """One asset per training set of the catalog (none in the shipped catalog)."""
    return dg.Definitions(assets=[training_set_asset(s) for s in load_training_sets()])
