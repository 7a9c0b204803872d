"""Entities from configuration: a `product` entity declared in the sources file, features with
`entity: product` over an `orders` source with its own column names, built by the asset factory
into product_features / product_features_online, on DuckDB and Snowflake (fakesnow), from landed
CSVs through quarantine; the churn example's customer features are untouched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml
from features_helpers import D

from feature_factory.catalog_resource import CatalogResource
from feature_factory import tables
from feature_factory.catalog import CatalogError, load_catalog, load_sources
from feature_factory.catalog.loader import parse_entries
from feature_factory.catalog.sources import parse_entities, parse_sources
from feature_factory.events.assets import source_assets
from feature_factory.events.ingestion import ingest_source_range
from feature_factory.features import entity_assets
from feature_factory.features.entities import CUSTOMER_TABLES, entity_tables
from feature_factory.features.online import build_online_table, get_online_features
from feature_factory.features.snapshots import FeatureBuildError, write_snapshots
from feature_factory.homes import HomesResource

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
SOURCES = EXAMPLES / "sources_orders.yaml"
CATALOG = EXAMPLES / "features_orders.yaml"
PRODUCT_FEATURES = ["days_since_last_order", "orders_7d", "revenue_7d", "avg_order_total_30d", "return_rate_30d"]
HEADER = "line_no,sku,buyer,placed_at,order_total,status"


@pytest.fixture
def catalog(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    return load_catalog(CATALOG)


@pytest.fixture
def product():
    return entity_tables("product", load_sources(SOURCES))


# -- configuration -------------------------------------------------------------------------------------
def test_product_entity_and_features_from_yaml(catalog, product):
    assert catalog.features == load_catalog().features  # customer_features: the churn example, unchanged
    assert catalog.entities() == ["product"]
    p = catalog.for_entity("product")
    assert p.names() == PRODUCT_FEATURES
    rev = p.get("revenue_7d")  # same name as the customer's revenue_7d: names are per entity
    assert (rev.entity, rev.source, rev.source_table, rev.source_key, rev.value_sql, rev.filter_sql) == (
        "product", "orders", "raw_orders", "product_id", "order_total", "(status = 'placed')")
    assert catalog.get("revenue_7d").entity == "customer"
    assert (product.key, product.features_table, product.online_table, product.population_table,
            product.population_key) == ("product_id", "product_features", "product_features_online",
                                        "raw_orders", "product_id")
    assert entity_tables("customer") is CUSTOMER_TABLES


def _orders_source(**entity_keys):
    return {"orders": {"location": {"landing_folder": "orders"}, "row_id": "line_id",
                       "tables": {"raw": "orders_features"},
                       "entity_keys": entity_keys or {"product": "sku"}, "event_time": "ts",
                       "columns": {"line_id": "string", "sku": "string", "buyer": "string", "ts": "timestamp"}}}


@pytest.mark.parametrize("entities, message", [
    ({"product": {"key": "product_id"}}, "entity 'product': missing required field 'source'"),
    ({"product": {"key": "product_id", "source": "shop"}}, "entity 'product': source: unknown source 'shop'"),
    ({"store": {"key": "store_id", "source": "orders"}},
     "entity 'store': source 'orders' has no key column for 'store' .*add entity_keys.store to the source"),
    # The customer is declared like any entity (issue 27): here over a source without its key.
    ({"customer": {"key": "customer_id", "source": "orders"}},
     "entity 'customer': source 'orders' has no key column for 'customer'"),
    ({"product": {"key": "product_id", "source": "orders", "table": "x"}}, r"entity 'product': unknown field\(s\) \['table'\]"),
    ({"orders": {"key": "k", "source": "orders"}, "x": {"key": "k", "source": "orders"}},
     "entity 'orders': its features table 'orders_features' is already claimed by source 'orders' \\(tables.raw\\)"),
])
def test_bad_entity_declaration_names_file_entity_and_field(entities, message):
    sources = parse_sources(_orders_source(), "my_sources.yaml")
    with pytest.raises(CatalogError, match=f"^my_sources.yaml: {message}"):
        parse_entities(entities, sources, "my_sources.yaml")


def _feature(**kw):
    return {"name": "orders_7d", "description": "d", "owner": "o", "dtype": "int", "lifecycle": "active",
            "window_days": 7, "entity": "product", "aggregate": {"agg": "count"}, **kw}


@pytest.mark.parametrize("entry, message", [
    (_feature(entity="store"), "entity 'store' is not declared in .*declared: customer, product.*entities:"),
    (_feature(source="events"), "source 'events' has no product key .*product features need entity_keys.product"),
    (_feature(aggregate={"agg": "sum", "value": "amount"}),
     "aggregate.value 'amount' references unknown column of source 'orders' 'amount'"),
    (_feature(name="product_id"), "name 'product_id' is the key column of product_features"),
    (_feature(aggregate={"agg": "days_since_last_event"}, dtype="int", source="support"),
     "source 'support' is not declared"),
])
def test_bad_product_feature_names_entry_and_field(entry, message, catalog):
    with pytest.raises(CatalogError, match=f"cat.yaml: entry #1 \\('{entry['name']}'\\): {message}"):
        parse_entries([entry], source="cat.yaml", sources=load_sources(SOURCES))


def test_duplicate_names_within_an_entity_are_refused(catalog):
    with pytest.raises(CatalogError, match=r"entry #2 \('orders_7d'\): duplicate .* #1\) of entity 'product'"):
        parse_entries([_feature(), _feature()], source="cat.yaml", sources=load_sources(SOURCES))


def test_factory_builds_product_assets_with_schema_lineage_and_descriptions(catalog):
    defs = entity_assets.definitions(catalog)
    by_key = {a.key.path[-1]: a for a in defs.assets}
    assert sorted(by_key) == ["product_features", "product_features_online"]
    feats, online = by_key["product_features"], by_key["product_features_online"]
    assert feats.dependency_keys == {dg.AssetKey("raw_orders")}
    assert online.dependency_keys == {feats.key}
    assert feats.partitions_def is not None and online.partitions_def is None
    schema = feats.metadata_by_key[feats.key]["dagster/column_schema"]
    assert [c.name for c in schema.columns] == ["product_id", "snapshot_date", *PRODUCT_FEATURES, "computed_at"]
    assert "per product" in feats.descriptions_by_key[feats.key]
    assert [c.name for c in online.metadata_by_key[online.key]["dagster/column_schema"].columns][:2] == [
        "product_id", "snapshot_date"]
    assert len(entity_assets.definitions(load_catalog()).assets or []) == 0  # the shipped catalog: none


# -- end to end: landed orders -> quarantine -> product_features -> online -------------------------------
def _land_orders(folder: Path) -> None:
    """a1: one placed 10 EUR line a day 03-01..03-10 and a return on 03-10; b2: 20 on 03-02, 40 on
    03-09; four bad lines."""
    rows = [f"l{d},a1,u{d % 3},2024-03-{d:02d}T10:00:00Z,10,ok" for d in range(1, 11)]
    rows += ["l11,A1,u1,2024-03-10T11:00:00Z,10,RTN", "l12, b2 ,u2,2024-03-02T09:00:00Z,20,ok",
             "l13,b2,u0,2024-03-09T09:00:00Z,40,ok"]
    rows += ["l14,b2,u0,2024-03-09T09:30:00Z,-5,ok",     # negative_order_total
             "l15,b2,u0,2024-03-09T09:40:00Z,5,lost",    # unknown_status
             "l16,,u0,2024-03-09T09:50:00Z,5,ok",        # null_or_empty_key
             "l13,c3,u0,2024-03-09T10:00:00Z,5,ok"]      # duplicate_order_line_id_in_batch
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders_2024-03.csv").write_text("\n".join([HEADER, *rows]) + "\n")


def _ingest(warehouse, tmp_path):
    folder = tmp_path / "orders"
    _land_orders(folder)
    result = ingest_source_range(warehouse, load_sources(SOURCES).get("orders"), D("2024-03-01"), D("2024-03-11"),
                                 folder=folder, now=dt.datetime(2024, 4, 1), start_date=D("2024-01-01"))
    assert sorted(warehouse.fetch_all("SELECT order_line_id, reason FROM orders_quarantine")) == [
        ("l13", "duplicate_order_line_id_in_batch"), ("l14", "negative_order_total"), ("l15", "unknown_status"),
        ("l16", "null_or_empty_key")]
    return result


A1_0310 = (0, 7, 70.0, 10.0, 1 / 11)  # days_since, orders_7d, revenue_7d, avg_30d, return_rate_30d
B2_0310 = (1, 1, 40.0, 30.0, 0.0)


def test_landed_orders_to_product_features_and_online(warehouse, catalog, product, tmp_path):
    result = _ingest(warehouse, tmp_path)
    assert result.rows_accepted == 13
    assert sorted(warehouse.fetch_all("SELECT DISTINCT product_id, status FROM raw_orders")) == [
        ("A1", "placed"), ("A1", "returned"), ("B2", "placed")]  # sku upper-cased and trimmed, ok/rtn mapped
    features = catalog.for_entity("product").features
    cols = ", ".join(PRODUCT_FEATURES)
    # The window plan over the range, then the direct plan re-writes the last day: same values.
    out = write_snapshots(warehouse, features, D("2024-03-01"), D("2024-03-10"), strategy="window", entity=product)
    assert (out.plan.strategy, out.rows, out.customers) == ("window", 10 + 9, 2)  # b2 from 03-02
    assert warehouse.fetch_all("SELECT product_id FROM product_features WHERE snapshot_date = "
                               "CAST('2024-03-01' AS DATE)") == [("A1",)]
    for strategy in ("window", "direct"):
        if strategy == "direct":
            assert write_snapshots(warehouse, features, D("2024-03-10"), D("2024-03-10"), strategy="direct",
                                   entity=product).rows == 2
        got = dict((r[0], r[1:]) for r in warehouse.fetch_all(
            f"SELECT product_id, {cols} FROM product_features WHERE snapshot_date = CAST('2024-03-10' AS DATE)"))
        for key, want in (("A1", A1_0310), ("B2", B2_0310)):
            assert got[key][:3] == want[:3]
            assert got[key][3:] == pytest.approx(want[3:])
    assert warehouse.fetch_one("SELECT COUNT(*) FROM product_features")[0] == 19  # re-run replaced, not added
    assert not warehouse.table_exists("customer_features")

    served = build_online_table(warehouse, catalog.for_entity("product"), entity=product)
    assert (served.rows, served.features) == (2, tuple(PRODUCT_FEATURES))
    got = get_online_features(warehouse, ["B2", "ZZ"], ["orders_7d", "revenue_7d"], entity=product)
    assert list(got.columns[:2]) == ["product_id", "found"]
    assert got["found"].tolist() == [True, False]
    assert got["orders_7d"].tolist()[0] == 1 and got["revenue_7d"].tolist()[0] == pytest.approx(40.0)


def test_product_build_errors_name_table_and_entity(duckdb_warehouse, catalog, product):
    with pytest.raises(FeatureBuildError, match="table raw_orders does not exist: materialize raw_orders first"):
        write_snapshots(duckdb_warehouse, catalog.for_entity("product").features, D("2024-03-10"), D("2024-03-10"),
                        entity=product)
    with pytest.raises(FeatureBuildError, match=r"feature\(s\) \['purchases_7d'\] are not of entity 'product'"):
        write_snapshots(duckdb_warehouse, [catalog.get("purchases_7d")], D("2024-03-10"), D("2024-03-10"),
                        entity=product)


def test_materialize_factory_assets_from_landed_files(duckdb_warehouse, catalog, tmp_path, monkeypatch):
    """The code location's way: the orders ingestion asset, then the factory's product assets."""
    folder = tmp_path / "landing_orders"
    _land_orders(folder)
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))  # what a run reads, as in the code location
    factory = entity_assets.definitions(catalog)
    defs = [source_assets(load_sources(SOURCES).get("orders")), *factory.assets, *factory.asset_checks]
    # 4 of 17 lines are bad: above the default 5 % the blocking check would stop the features.
    run_config = {"ops": {"ingest_orders": {"config": {"landing_dir": str(folder), "max_quarantine_rate": 0.3}}}}
    tags = {"dagster/asset_partition_range_start": "2024-03-01", "dagster/asset_partition_range_end": "2024-03-10"}
    result = dg.materialize(defs, resources={"warehouse": duckdb_warehouse, "homes": HomesResource(), "catalog": CatalogResource()}, run_config=run_config, tags=tags,
                            raise_on_error=False)
    assert result.success
    mats = {e.event_specific_data.materialization.asset_key.path[-1]: e.event_specific_data.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert mats["product_features"]["dagster/row_count"].value == 19
    evaluations = {(e.asset_check_evaluation_data.asset_key.path[-1], e.asset_check_evaluation_data.check_name):
                   e.asset_check_evaluation_data.passed for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert {k: v for k, v in evaluations.items() if k[0] == "product_features"} == {
        ("product_features", "no_duplicate_keys"): True, ("product_features", "days_since_last_order_expectations"): True,
        ("product_features", "orders_7d_expectations"): True, ("product_features", "revenue_7d_expectations"): True,
        ("product_features", "return_rate_30d_expectations"): True}
    assert mats["product_features_online"]["dagster/row_count"].value == 2
    assert [d.column_name for d in mats["product_features"]["dagster/column_lineage"].value.deps_by_column[
        "return_rate_30d"]] == ["event_date", "order_line_id", "status"]
    assert duckdb_warehouse.fetch_one("SELECT orders_7d FROM product_features_online WHERE product_id = 'A1'") == (7,)


def test_code_location_shows_product_assets_after_reload(tmp_path, monkeypatch):
    """Pointing the environment at the example files and reloading adds the product assets."""
    import importlib

    import feature_factory.features.definitions as fdefs

    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))
    try:
        keys = {k.path[-1] for a in importlib.reload(fdefs).defs.assets for k in a.keys}
        assert {"customer_features", "customer_features_online", "product_features", "product_features_online"} <= keys
    finally:
        monkeypatch.delenv("FEATURE_FACTORY_SOURCES")
        monkeypatch.delenv("FEATURE_FACTORY_CATALOG")
        importlib.reload(fdefs)
    assert "product_features" not in {k.path[-1] for a in fdefs.defs.assets for k in a.keys}
    assert yaml.safe_load(SOURCES.read_text())["entities"]["product"]["source"] == "orders"


# -- a training set joining two feature tables point in time ---------------------------------------------
# Order lines of 03-09 and 03-10: (line, buyer, product, buyer's purchases_7d and revenue_7d, product's
# orders_7d and revenue_7d), also what the declared order_training_set asset holds (test_training_sets.py).
ORDER_LINES_AS_OF = [
    ("l10", "u1", "A1", 1, 5.0, 7, 70.0),   # 03-10: buyer and product as of 03-09
    ("l11", "u1", "A1", 1, 5.0, 7, 70.0),
    ("l13", "u0", "B2", 7, 35.0, 1, 20.0),  # 03-09: as of 03-08 (B2's 03-02 order only)
    ("l9", "u0", "A1", 7, 35.0, 7, 70.0),
]


def test_order_lines_get_buyer_and_product_features_as_of_the_day_before(warehouse, catalog, product, tmp_path):
    from features_helpers import events_frame, write_raw_events

    from feature_factory.features.point_in_time import FeatureJoin, PointInTimeError, build_point_in_time

    _ingest(warehouse, tmp_path)
    write_snapshots(warehouse, catalog.for_entity("product").features, D("2024-03-01"), D("2024-03-10"),
                    entity=product)
    events = [("u0", "purchase", "web", 5.0, f"2024-03-{d:02d}") for d in range(1, 11)]
    events += [("u1", "purchase", "web", 5.0, "2024-03-05")]  # u2: no events, so no customer row
    write_raw_events(warehouse, events_frame(events))
    write_snapshots(warehouse, [catalog.get("purchases_7d"), catalog.get("revenue_7d")], D("2024-03-01"),
                    D("2024-03-10"))
    spine = ("SELECT order_line_id, customer_id, product_id, placed_at FROM raw_orders "
             "WHERE event_date >= CAST('2024-03-09' AS DATE)")
    buyer = FeatureJoin(CUSTOMER_TABLES, "customer_id", ("purchases_7d", "revenue_7d"))
    with pytest.raises(PointInTimeError, match="output column 'revenue_7d' appears twice: give the product join"):
        build_point_in_time(warehouse, "order_training_set", spine, "placed_at",
                            [buyer, FeatureJoin(product, "product_id", ("revenue_7d",))])
    joins = [buyer, FeatureJoin(product, "product_id", ("orders_7d", "revenue_7d"), prefix="product_")]
    assert build_point_in_time(warehouse, "order_training_set", spine, "placed_at", joins) == 4
    assert build_point_in_time(warehouse, "order_training_set", spine, "placed_at", joins) == 4  # replaced
    got = warehouse.fetch_all("SELECT order_line_id, customer_id, product_id, purchases_7d, revenue_7d, "
                              "product_orders_7d, product_revenue_7d FROM order_training_set ORDER BY order_line_id")
    assert got == ORDER_LINES_AS_OF


# -- the entity spec (issue 27): the customer is declared like any other entity ------------------------
def test_the_shipped_customer_is_the_built_in_one_and_names_every_table_and_job():
    from feature_factory.catalog.entity_spec import CUSTOMER

    shipped = load_sources().entity("customer")
    assert shipped == CUSTOMER and load_sources().declared_entities[0] == shipped
    assert shipped.tables.all() == ("customer_features", "customer_features_online", "customer_features_online_store",
                                    "feature_stats", "feature_stats_baseline", "drift_alerts", "drift_report",
                                    "patch_candidates", "feature_patch_log", "feature_patches_active",
                                    "customer_first_seen", "customer_first_seen_days", "attribution_baseline")
    assert shipped.job_names.all() == ("daily_refresh_job", "capture_baseline_job", "remediation_job",
                                       "apply_patches_job", "drift_sensor")
    assert (shipped.attribute_by, shipped.model.retrain_job, shipped.key_prefix) == (
        ("event_type", "channel"), "retrain_job", "")
    assert entity_tables("customer").contracts == (tables.CUSTOMER_FEATURES, tables.CUSTOMER_FEATURES_ONLINE)


def test_a_sources_file_without_a_customer_gets_the_built_in_one_first(product):
    from feature_factory.catalog.entity_spec import CUSTOMER

    sources = load_sources(SOURCES)  # docs/examples/sources_orders.yaml declares only product
    assert [e.name for e in sources.declared_entities] == ["customer", "product"]
    assert sources.entity("customer") is CUSTOMER and entity_tables("customer", sources) is CUSTOMER_TABLES
    # product's names derive from its name; its contracts are the customer's columns about its tables
    assert product.names.all() == ("product_features", "product_features_online", "product_features_online_store",
                                   "product_feature_stats", "product_feature_stats_baseline", "product_drift_alerts",
                                   "product_drift_report", "product_patch_candidates", "product_feature_patch_log",
                                   "product_feature_patches_active", "product_first_seen", "product_first_seen_days",
                                   "product_attribution_baseline")
    assert product.jobs.all() == ("product_refresh_job", "capture_product_baseline_job", "product_remediation_job",
                                  "product_apply_patches_job", "product_drift_sensor")
    assert (product.retrain_job, product.spec.attribute_by, product.spec.key_prefix) == (None, ("status",), "product:")
    features, online = product.contracts
    assert features.names == ("product_id", "snapshot_date", "computed_at")
    assert features.descriptions["product_id"] == "Product (seen within the last 90 days)."
    assert online.schema[1:] == tables.CUSTOMER_FEATURES_ONLINE.schema[1:]
    log = product.patch_tables[1]
    assert (log.descriptions["feature"], log.descriptions["alert_date"]) == (
        "The product_features column the patch changes.", "The product_drift_alerts day that led to the patch.")


def test_an_entity_may_name_its_tables_and_jobs_and_declares_what_it_attributes_by(tmp_path):
    doc = yaml.safe_load(SOURCES.read_text())
    doc["entities"]["product"].update(tables={"alerts": "sku_drift"}, jobs={"refresh": "sku_refresh"},
                                      attribute_by=["status"], drift_key_prefix="sku/")
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    p = load_sources(path).entity("product")
    assert (p.tables.alerts, p.tables.features, p.job_names.refresh, p.job_names.remediation) == (
        "sku_drift", "product_features", "sku_refresh", "product_remediation_job")
    assert (p.attribute_by, p.key_prefix, p.tables.qualified) == (("status",), "sku/", True)
    for change, message in (
            ({"attribute_by": ["order_total"]}, "attribute_by 'order_total' must be a string column that is not a key"),
            ({"attribute_by": ["colour"]}, "attribute_by 'colour' is not a column of source 'orders'"),
            ({"tables": {"alerts": "drift_alerts"}}, "its drift_alerts table 'drift_alerts' is already claimed by "
                                                     "entity 'customer'"),
            ({"tables": {"alert": "x"}}, r"tables: unknown field\(s\) \['alert'\]"),
            ({"model": {"asset": "m"}}, "model: missing required field 'label'")):
        bad = yaml.safe_load(SOURCES.read_text())
        bad["entities"]["product"].update(change)
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(CatalogError, match=f"^{path}: entity 'product': .*{message}"):
            load_sources(path)


def test_each_entity_is_attributed_by_its_spec():
    """The customer's attribution source is attribution.CUSTOMER; product's names its population
    (raw_orders, product_id), the dimensions its spec declares and caches named after it."""
    from feature_factory.monitoring.explain import attribution
    from feature_factory.monitoring.subject import CUSTOMER, subject_for

    assert CUSTOMER.attribution == attribution.CUSTOMER
    doc = yaml.safe_load(SOURCES.read_text())
    product = subject_for(entity_tables("product", load_sources(SOURCES))).attribution
    assert product == attribution.AttributionSource.for_entity(
        "product", "raw_orders", "product_id", "product_features", "product_id",
        doc["entities"]["product"].get("attribute_by", ()), source="orders")
