"""Online stores (SQLite and a real Redis): publish, read, atomic swap, failed writes, missing."""

from __future__ import annotations

import orjson
import pytest
from serving_helpers import catalog, seed_online

from feature_factory.serving.publish import publish
from feature_factory.serving.store import FeatureField, StoreError, StoreMeta


def plain(rows: dict) -> dict:
    return {k: (*r[:3], orjson.loads(r[3])) for k, r in rows.items()}


def test_publish_then_lookup_returns_the_online_table(make_store, warehouse):
    seed_online(warehouse)
    store = make_store()
    meta = publish(warehouse, store, catalog(), ttl_days=2, page_rows=4)  # two pages
    assert meta.rows == 6 and meta.reference_date == "2024-03-10" and meta.ttl_days == 2
    assert meta.features == (FeatureField("revenue_7d", "DOUBLE", "about revenue_7d"),
                             FeatureField("purchases_7d", "BIGINT", "about purchases_7d"))
    got = store.lookup(["c02", "c01", "c05", "nobody"])
    assert got.state == "ok" and got.meta.version == meta.version
    assert plain(got.rows) == {
        "c02": ("c02", "2024-03-10", 0, {"revenue_7d": 20.0, "purchases_7d": 2}),
        "c01": ("c01", "2024-03-10", 0, {"revenue_7d": None, "purchases_7d": 1}),
        "c05": ("c05", "2024-03-05", 5, {"revenue_7d": 50.0, "purchases_7d": 5}),
    }
    assert store.current() == got.meta


def test_a_new_version_replaces_the_old_one_whole(make_store, duckdb_warehouse):
    store = make_store()
    seed_online(duckdb_warehouse)
    first = publish(duckdb_warehouse, store, catalog())
    seed_online(duckdb_warehouse, customers=3, offset=1.0)  # c03.. gone, values moved
    second = publish(duckdb_warehouse, store, catalog())
    assert second.version > first.version and second.rows == 3
    got = store.lookup(["c00", "c02", "c04"])
    assert got.meta.version == second.version
    assert plain(got.rows) == {"c00": ("c00", "2024-03-10", 0, {"revenue_7d": 1.0, "purchases_7d": 0}),
                               "c02": ("c02", "2024-03-05", 5, {"revenue_7d": 21.0, "purchases_7d": 2})}


def test_a_failed_write_leaves_the_current_version_served(make_store, duckdb_warehouse):
    store = make_store()
    seed_online(duckdb_warehouse)
    first = publish(duckdb_warehouse, store, catalog())
    meta = StoreMeta(version="29990101T000000000000", built_at="2999-01-01T00:00:00", reference_date=None,
                     ttl_days=2, rows=0, features=first.features)

    def batches():
        yield [("c00", "2999-01-01", 0, b'{"revenue_7d": 999.0, "purchases_7d": 9}')]
        raise RuntimeError("warehouse connection lost")

    with pytest.raises(RuntimeError, match="connection lost"):
        store.write(meta, batches())
    got = store.lookup(["c00"])
    assert got.meta.version == first.version and orjson.loads(got.rows["c00"][3])["revenue_7d"] == 0.0


def test_an_empty_store_is_missing_not_an_error(make_store):
    store = make_store()
    got = store.lookup(["c00"])
    assert (got.state, got.meta, got.rows) == ("missing", None, {})
    assert store.current() is None


def test_publish_without_an_online_table_says_what_to_materialize(make_store, duckdb_warehouse):
    with pytest.raises(StoreError, match="materialize customer_features_online first"):
        publish(duckdb_warehouse, make_store(), catalog())


def test_redis_keeps_the_previous_version_for_the_grace_period_only(redis_url, duckdb_warehouse):
    import redis

    from feature_factory.serving.redis_store import RedisOnlineStore

    store = RedisOnlineStore(redis_url, "test:grace", grace_seconds=7)
    seed_online(duckdb_warehouse)
    first = publish(duckdb_warehouse, store, catalog())
    publish(duckdb_warehouse, store, catalog())
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(f"test:grace:rows:{first.version}") <= 7
    assert client.ttl(f"test:grace:rows:{store.current().version}") == -1  # the current never expires
