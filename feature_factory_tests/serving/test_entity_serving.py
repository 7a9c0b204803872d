"""Serving another entity (issue 18): `product_features_online` published into product's own
store (SQLite file / Redis key prefix beside the customer's, from the one OnlineStoreResource),
looked up on SQLite and a real Redis from a warehouse on DuckDB and Snowflake (fakesnow), served
over HTTP for product ids, and written by the catalog's `product_features_online_store` asset; the
customer's store, its file and prefix stay as they were."""

from __future__ import annotations

import importlib
from pathlib import Path

import dagster as dg
import orjson
import pytest
from serving_helpers import (
    ORDERS_CATALOG, ORDERS_SOURCES, catalog, product, product_catalog, seed_online, seed_product_online,
)
from starlette.testclient import TestClient

from feature_factory.catalog_resource import CatalogResource
from feature_factory.catalog import load_catalog
from feature_factory.features.assets import ONLINE_AUTOMATION
from feature_factory.serving import assets
from feature_factory.serving.config import OnlineStoreResource, entity_path, entity_prefix, make_store
from feature_factory.serving.publish import publish
from feature_factory.serving.server import create_app
from feature_factory.serving.store import FeatureField, StoreError

P_VALUES = {"P1": ("P1", "2024-03-10", 0, {"revenue_7d": 70.0, "orders_7d": 7}),
            "P2": ("P2", "2024-03-10", 0, {"revenue_7d": 40.0, "orders_7d": 1}),
            "P3": ("P3", "2024-03-05", 5, {"revenue_7d": 5.0, "orders_7d": 1}),
            "c00": ("c00", "2024-03-10", 0, {"revenue_7d": 999.0, "orders_7d": 99})}


def plain(rows: dict) -> dict:
    return {k: (*r[:3], orjson.loads(r[3])) for k, r in rows.items()}


@pytest.fixture
def sources(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(ORDERS_SOURCES))


def test_each_entity_gets_its_own_file_and_prefix(tmp_path):
    base = tmp_path / "online_store.sqlite"
    assert entity_path(base) == base and entity_path(base, "product") == tmp_path / "online_store.product.sqlite"
    assert entity_prefix(None) == "ff:customer_features" and entity_prefix(None, "product") == "ff:product_features"
    assert entity_prefix("shop", "customer") == "shop" and entity_prefix("shop", "product") == "shop:product"
    resource = OnlineStoreResource(path=str(base))
    assert resource.store().describe() == f"sqlite:{base}"  # the customer's: unchanged
    assert resource.store("product").describe() == f"sqlite:{tmp_path / 'online_store.product.sqlite'}"
    redis = OnlineStoreResource(type="redis", redis_url="redis://h:1/0")
    assert redis.store().describe() == "redis:redis://h:1/0 prefix ff:customer_features"
    assert redis.store("product").describe() == "redis:redis://h:1/0 prefix ff:product_features"
    assert make_store("redis", redis_prefix="shop", entity="product").prefix == "shop:product"


def test_product_publish_and_lookup_beside_the_customer_store(make_store, warehouse):
    """Both entities published through the one resource (SQLite or Redis, as the environment says)
    from either warehouse backend: each store answers its own rows, also for an id both have."""
    seed_online(warehouse)
    entity = seed_product_online(warehouse)
    resource = OnlineStoreResource.from_env()
    customer_store, product_store = resource.store(), resource.store("product")
    assert customer_store.describe() == make_store().describe()  # the customer's store as before
    assert product_store.describe() != customer_store.describe()
    customer_meta = publish(warehouse, customer_store, catalog(), ttl_days=2)
    meta = publish(warehouse, product_store, product_catalog(), ttl_days=2, page_rows=3, entity=entity)  # two pages
    assert (meta.rows, meta.source, meta.reference_date, meta.ttl_days) == (4, "product_features_online", "2024-03-10", 2)
    assert meta.features == (FeatureField("revenue_7d", "DOUBLE", "product revenue_7d"),
                             FeatureField("orders_7d", "BIGINT", "product orders_7d"))
    got = product_store.lookup(["P2", "P1", "P3", "c00", "c01", "nobody"])
    assert got.state == "ok" and got.meta == meta == product_store.current()
    assert plain(got.rows) == P_VALUES  # c01 is a customer only: not found here
    cust = customer_store.lookup(["c00", "P1"])
    assert cust.meta == customer_meta and cust.meta.source == "customer_features_online"
    assert plain(cust.rows) == {"c00": ("c00", "2024-03-10", 0, {"revenue_7d": 0.0, "purchases_7d": 0})}


def test_redis_keys_of_another_entity_live_under_its_prefix(redis_url, duckdb_warehouse):
    import redis

    entity = seed_product_online(duckdb_warehouse)
    seed_online(duckdb_warehouse)
    resource = OnlineStoreResource(type="redis", redis_url=redis_url, redis_prefix="t18f")
    publish(duckdb_warehouse, resource.store(), catalog())
    meta = publish(duckdb_warehouse, resource.store("product"), product_catalog(), entity=entity)
    client = redis.Redis.from_url(redis_url)
    assert client.get("t18f:product:current").decode() == meta.version
    assert sorted(k.decode() for k in client.hkeys(f"t18f:product:rows:{meta.version}")) == ["P1", "P2", "P3", "c00"]
    customer_version = client.get("t18f:current").decode()
    assert sorted(k.decode() for k in client.hkeys(f"t18f:rows:{customer_version}")) == [f"c0{i}" for i in range(6)]


def test_publish_without_the_product_online_table_names_it(make_store, duckdb_warehouse):
    with pytest.raises(StoreError, match="table product_features_online does not exist: materialize "
                       "product_features_online first"):
        publish(duckdb_warehouse, make_store(), product_catalog(), entity=product())


def test_server_answers_product_ids_and_names_the_product_key(make_store, duckdb_warehouse):
    entity = seed_product_online(duckdb_warehouse)
    store = OnlineStoreResource.from_env().store("product")
    with TestClient(create_app(store, entity=entity)) as client:
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["hint"] == "materialize product_features_online_store"
        meta = publish(duckdb_warehouse, OnlineStoreResource.from_env().store("product"), product_catalog(),
                       ttl_days=2, entity=entity)
        r = client.post("/features", json={"entity_ids": ["P1", "P3", "nobody", "c00"]})
        assert r.status_code == 200
        body = r.json()
        assert body["store"]["version"] == meta.version and body["features"] == ["revenue_7d", "orders_7d"]
        assert body["results"] == [
            {"entity_id": "P1", "found": True, "snapshot_date": "2024-03-10", "age_days": 0, "stale": False,
             "values": {"revenue_7d": 70.0, "orders_7d": 7}},
            {"entity_id": "P3", "found": True, "snapshot_date": "2024-03-05", "age_days": 5, "stale": True,
             "values": {"revenue_7d": None, "orders_7d": None}},  # 5 days old, TTL 2: never served as present
            {"entity_id": "nobody", "found": False, "snapshot_date": None, "age_days": None, "stale": None,
             "values": {"revenue_7d": None, "orders_7d": None}},
            {"entity_id": "c00", "found": True, "snapshot_date": "2024-03-10", "age_days": 0, "stale": False,
             "values": {"revenue_7d": 999.0, "orders_7d": 99}}]  # product c00's values, not customer c00's
        r = client.post("/features", json={"entity_ids": ["P2", "c00"], "features": ["orders_7d"]})
        assert [(x["entity_id"], x["values"]) for x in r.json()["results"]] == [
            ("P2", {"orders_7d": 1}), ("c00", {"orders_7d": 99})]
        schema = client.get("/schema").json()
        assert schema["entity"] == "product_id" and schema["version"] == meta.version and schema["rows"] == 4
        assert [f["name"] for f in schema["features"]] == ["revenue_7d", "orders_7d"]
        health = client.get("/health").json()
        assert (health["status"], health["version"], health["store"]) == ("ok", meta.version, store.describe())


def test_customer_schema_still_names_customer_id(make_store):
    with TestClient(create_app(make_store())) as client:
        assert client.get("/schema").json()["entity"] == "customer_id"
        assert client.get("/health").json()["hint"] == "materialize customer_features_online_store"


def test_catalog_builds_product_store_asset_and_it_publishes(sources, make_store, duckdb_warehouse, monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(ORDERS_CATALOG))  # what a run reads
    (asset,) = assets.store_assets(load_catalog(ORDERS_CATALOG))
    assert asset.key == dg.AssetKey("product_features_online_store")
    assert asset.dependency_keys == {dg.AssetKey("product_features_online")}
    assert asset.group_names_by_key[asset.key] == "serving"
    assert asset.automation_conditions_by_key[asset.key] == ONLINE_AUTOMATION  # follows the online table
    assert "feature-factory serve --entity product" in asset.descriptions_by_key[asset.key]
    assert assets.store_assets(load_catalog(Path(assets.__file__).parents[1] / "catalog" / "features.yaml")) == []
    seed_product_online(duckdb_warehouse)
    result = dg.materialize([asset], resources={"warehouse": duckdb_warehouse,
                                                "online_store": OnlineStoreResource.from_env(),
                                                "catalog": CatalogResource(catalog_path=str(ORDERS_CATALOG),
                                                                           sources_path=str(ORDERS_SOURCES))})
    assert result.success
    md = result.asset_materializations_for_node("product_features_online_store")[0].metadata
    assert md["dagster/row_count"].value == 4 and md["served_features"].value == ["revenue_7d", "orders_7d"]
    assert '"<product_id>"' in md["sample_request"].value
    got = OnlineStoreResource.from_env().store("product").lookup(["P2"])
    assert plain(got.rows) == {"P2": P_VALUES["P2"]}
    assert got.meta.features[0].description.startswith("Sum of the product's placed order totals")  # the catalog's
    assert make_store().current() is None  # the customer's store: untouched


def test_code_location_serves_product_after_reload(sources, monkeypatch):
    import feature_factory.serving.definitions as sdefs

    monkeypatch.setenv("FEATURE_FACTORY_CATALOG", str(ORDERS_CATALOG))
    try:
        keys = {k.path[-1] for a in importlib.reload(sdefs).defs.assets for k in a.keys}
        assert keys == {"customer_features_online_store", "product_features_online_store"}
    finally:
        monkeypatch.delenv("FEATURE_FACTORY_SOURCES")
        monkeypatch.delenv("FEATURE_FACTORY_CATALOG")
        importlib.reload(sdefs)
    assert {k.path[-1] for a in sdefs.defs.assets for k in a.keys} == {"customer_features_online_store"}


def test_product_patch_apply_and_rollback_refresh_the_product_store(make_store, warehouse, monkeypatch):
    """Through the remediation hook (remediation/online_refresh.py) on SQLite and Redis, from DuckDB and
    Snowflake: apply a clip on product revenue_7d -> product's store serves the patched value (equal
    to product_features_online) -> rollback -> the original value; customer's store never written."""
    from product_patch_helpers import FEATURES, LAST, SOURCES, product_tables, seed_product_drift

    from feature_factory.catalog import Catalog
    from feature_factory.remediation import loop
    from feature_factory.remediation.online_refresh import rebuild_online_callback
    from feature_factory.remediation.scope import scope_for

    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    entity = product_tables()
    hi = seed_product_drift(warehouse, entity)
    scope, catalog, resource = scope_for(entity), Catalog(tuple(FEATURES)), OnlineStoreResource.from_env()
    events = []
    context = dg.build_op_context()
    context.log_event = events.append  # the materializations the hook reports
    rebuild = rebuild_online_callback(context, warehouse, catalog, resource, scope)
    (clip,) = [r for r in loop.propose(warehouse, catalog, alert_date=LAST, scope=scope).new if r["action"] == "clip"]
    loop.decide(warehouse, catalog, [clip["patch_id"]], approver="alice", scope=scope)

    def served() -> dict:
        got = resource.store("product").lookup(["p0000", "p0100"])
        return {k: orjson.loads(r[3])["revenue_7d"] for k, r in got.rows.items()}

    def table() -> dict:
        return dict(warehouse.fetch_all("SELECT product_id, revenue_7d FROM product_features_online "
                                        "WHERE product_id IN ('p0000', 'p0100')"))

    original = table()
    assert original["p0000"] == 5000.0
    loop.apply_approved(warehouse, catalog, actor="alice", patch_ids=[clip["patch_id"]], rebuild=rebuild, scope=scope)
    patched = served()
    assert patched == pytest.approx(table()) and patched["p0000"] == pytest.approx(hi)
    assert patched["p0100"] == pytest.approx(original["p0100"])  # inside the clip: unchanged
    assert [e.asset_key.path[-1] for e in events] == ["product_features_online", "product_features_online_store"]
    assert events[1].metadata["dagster/row_count"].value == 300
    loop.rollback(warehouse, catalog, clip["patch_id"], actor="bob", rebuild=rebuild, scope=scope)
    assert served() == pytest.approx(original)
    assert resource.store().current() is None  # the customer's store: never written
