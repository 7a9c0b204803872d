"""Training sets declared in the catalog (issue 18): `order_training_set` of the orders example is
an asset joining every order line to its buyer's customer_features and its product's
product_features point in time, through each entity's patch layer, on DuckDB and Snowflake
(fakesnow); bad declarations name the file, the training set and the field."""

from __future__ import annotations

import dagster as dg
import pytest
from features_helpers import D, events_frame, write_raw_events
from test_entities import CATALOG, ORDER_LINES_AS_OF, SOURCES, _ingest

from feature_factory.catalog_resource import CatalogResource
from feature_factory.catalog import CatalogError, load_catalog, load_sources
from feature_factory.catalog.training_sets import load_training_sets, parse_training_sets
from feature_factory.features.entities import entity_tables
from feature_factory.features.snapshots import write_snapshots
from feature_factory.ml import joined_training_sets

ORDERS = {"name": "t", "spine": {"source": "orders", "columns": ["order_line_id", "customer_id", "product_id"]},
          "time": "placed_at", "joins": [{"entity": "product", "key": "product_id", "features": ["orders_7d"]}]}


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(CATALOG))


def test_example_declares_order_training_set(env):
    (spec,) = load_training_sets()
    assert (spec.name, spec.spine_table, spec.time, spec.ttl_days) == ("order_training_set", "raw_orders",
                                                                       "placed_at", 2)
    assert spec.output_columns == ("order_line_id", "customer_id", "product_id", "status", "placed_at",
                                   "purchases_7d", "revenue_7d", "product_orders_7d", "product_revenue_7d")
    assert load_training_sets(CATALOG.parent.parent.parent / "feature_factory" / "catalog" / "features.yaml") == ()


@pytest.mark.parametrize("change, message", [
    ({"spine": {"source": "shop"}}, r"spine.source: unknown source 'shop'"),
    ({"time": "event_date"}, r"time 'event_date' is not the event_time of source 'orders' \(placed_at\)"),
    ({"spine": {"source": "orders", "columns": ["sku"]}}, r"spine.columns \['sku'\] are not columns of source 'orders'"),
    ({"joins": [{"entity": "store", "key": "product_id", "features": ["x"]}]}, r"joins\[0\]: entity: entity 'store' is not declared"),
    ({"joins": [{"entity": "product", "key": "buyer", "features": ["orders_7d"]}]}, r"joins\[0\]: key 'buyer' is not a spine column"),
    ({"joins": [{"entity": "product", "key": "product_id", "features": ["purchases_7d"]}]},
     r"joins\[0\]: features \['purchases_7d'\] are not computed features of entity 'product'"),
    ({"joins": [{"entity": "customer", "key": "customer_id", "features": ["revenue_7d"]},
                {"entity": "product", "key": "product_id", "features": ["revenue_7d"]}]},
     r"output column 'revenue_7d' of the product join is also in the customer join; give the join a prefix"),
    ({"ttl_days": 0}, r"ttl_days must be a positive integer, got 0"),
    ({"label": "status"}, r"unknown field\(s\) \['label'\]"),
])
def test_bad_training_set_names_file_entry_and_field(env, change, message):
    catalog = load_catalog(CATALOG)
    with pytest.raises(CatalogError, match=f"^cat.yaml: training set #1 \\('t'\\): {message}"):
        parse_training_sets([{**ORDERS, **change}], (*catalog.features, *catalog.others), load_sources(SOURCES),
                            "cat.yaml")


def test_order_training_set_asset_joins_buyer_and_product_point_in_time(warehouse, env, tmp_path):
    """The values of test_entities' function-level PIT test, now through the declared asset."""
    _ingest(warehouse, tmp_path)
    catalog = load_catalog(CATALOG)
    write_snapshots(warehouse, catalog.for_entity("product").features, D("2024-03-01"), D("2024-03-10"),
                    entity=entity_tables("product", load_sources(SOURCES)))
    events = [("u0", "purchase", "web", 5.0, f"2024-03-{d:02d}") for d in range(1, 11)]
    events += [("u1", "purchase", "web", 5.0, "2024-03-05")]
    write_raw_events(warehouse, events_frame(events))
    write_snapshots(warehouse, [catalog.get("purchases_7d"), catalog.get("revenue_7d")], D("2024-03-01"),
                    D("2024-03-10"))
    (asset,) = joined_training_sets.definitions().assets
    assert asset.key == dg.AssetKey("order_training_set")
    assert {k.path[-1] for k in asset.dependency_keys} == {"raw_orders", "customer_features", "product_features"}
    schema = asset.metadata_by_key[asset.key]["dagster/column_schema"]
    assert [c.name for c in schema.columns][-4:] == ["purchases_7d", "revenue_7d", "product_orders_7d",
                                                     "product_revenue_7d"]
    result = dg.materialize([asset], resources={"warehouse": warehouse, "catalog": CatalogResource()})
    md = {k: v.value for k, v in result.asset_materializations_for_node("order_training_set")[0].metadata.items()}
    assert md["dagster/row_count"] == 13
    got = warehouse.fetch_all("SELECT order_line_id, customer_id, product_id, purchases_7d, revenue_7d, "
                              "product_orders_7d, product_revenue_7d FROM order_training_set "
                              "WHERE placed_at >= CAST('2024-03-09' AS TIMESTAMP) ORDER BY order_line_id")
    assert got == ORDER_LINES_AS_OF
    # No product snapshot the day before (l1 on the first day, l12 on B2's first day): NULL, the row kept.
    assert warehouse.fetch_all("SELECT order_line_id FROM order_training_set WHERE product_orders_7d IS NULL "
                               "ORDER BY order_line_id") == [("l1",), ("l12",)]
    buyers = warehouse.fetch_one("SELECT COUNT(purchases_7d) FROM order_training_set")[0]
    assert 0 < buyers < 13 and md["rows_with_features"] == {"customer": buyers, "product": 11}
