"""The feature server over SQLite and a real Redis: answers equal the online table, expired
values are null with stale: true, bad requests are 400s with clear messages, a missing store is
never a 500, and /schema, /health, /metrics report the served version."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from serving_helpers import catalog, seed_online
from starlette.testclient import TestClient

from feature_factory.features.online import get_online_features
from feature_factory.serving.answer import Answerer, Query
from feature_factory.serving.publish import publish
from feature_factory.serving.server import create_app
from feature_factory.serving.store import Lookup, StoreMeta


@pytest.fixture
def served(make_store, duckdb_warehouse):
    seed_online(duckdb_warehouse)
    meta = publish(duckdb_warehouse, make_store(), catalog(), ttl_days=2)
    with TestClient(create_app(make_store(), max_ids=50)) as client:
        yield client, duckdb_warehouse, meta


def test_answers_equal_the_online_table_and_expired_values_are_null(served):
    client, warehouse, meta = served
    ids = ["c03", "c01", "nobody", "c05", "c03"]
    r = client.post("/features", json={"entity_ids": ids})
    assert r.status_code == 200
    body = r.json()
    assert body["store"]["state"] == "ok" and body["store"]["version"] == meta.version
    assert body["features"] == ["revenue_7d", "purchases_7d"]
    expected = get_online_features(warehouse, ids)
    got = body["results"]
    assert [g["entity_id"] for g in got] == ids  # request order, duplicates kept
    for g, (_, e) in zip(got, expected.iterrows()):
        assert g["found"] == bool(e["found"])
        if not g["found"]:
            assert g == {"entity_id": "nobody", "found": False, "snapshot_date": None, "age_days": None,
                         "stale": None, "values": {"revenue_7d": None, "purchases_7d": None}}
            continue
        assert g["snapshot_date"] == e["snapshot_date"].isoformat()
        assert g["age_days"] == e["snapshot_age_days"] and g["stale"] == bool(e["is_stale"])
        if g["stale"]:  # c05: 5 days old, TTL 2: never served as present
            assert g["entity_id"] == "c05" and g["values"] == {"revenue_7d": None, "purchases_7d": None}
        else:
            want = {f: (None if e[f] is None or e[f] != e[f] else e[f]) for f in body["features"]}
            assert g["values"] == want
    assert got[0]["values"] == {"revenue_7d": 30.0, "purchases_7d": 3}
    assert got[1]["values"] == {"revenue_7d": None, "purchases_7d": 1}  # a NULL feature, found


def test_a_feature_subset_in_the_asked_order(served):
    client, _, _ = served
    r = client.post("/features", json={"entity_ids": ["c04", "c02", 7], "features": ["purchases_7d"]})
    assert r.status_code == 200
    assert [(x["entity_id"], x["found"], x["values"]) for x in r.json()["results"]] == [
        ("c04", True, {"purchases_7d": 4}), ("c02", True, {"purchases_7d": 2}),
        ("7", False, {"purchases_7d": None})]  # an integer id is looked up as its string


BAD = [
    (b"{not json", "the body is not valid JSON"),
    (b'["c01"]', "the body must be a JSON object"),
    (b'{"entity_ids": []}', "entity_ids must be a non-empty list"),
    (b'{"entity_ids": ["c01", {"a": 1}]}', "entity_ids[1] is {'a': 1}"),
    (b'{"entity_ids": ["c01"], "features": ["revenue_7d", "nope"]}', "unknown feature(s) ['nope']"),
    (b'{"entity_ids": ["c01"], "feature": ["revenue_7d"]}', "unknown field(s) ['feature']"),
    (b'{"entity_ids": [' + b",".join(b'"c%d"' % i for i in range(51)) + b"]}", "too many entity_ids: 51 > 50"),
]


def test_bad_requests_are_400_with_a_clear_message(served):
    client, _, _ = served
    for body, message in BAD:  # one fixture for all cases: each publish costs a warehouse read
        r = client.post("/features", content=body, headers={"content-type": "application/json"})
        assert (r.status_code, message in r.json()["error"]) == (400, True), (body, r.text)


def test_schema_health_and_metrics(served):
    client, _, meta = served
    schema = client.get("/schema").json()
    assert schema["version"] == meta.version and schema["ttl_days"] == 2 and schema["max_ids_per_request"] == 50
    assert schema["features"] == [{"name": "revenue_7d", "dtype": "DOUBLE", "description": "about revenue_7d"},
                                  {"name": "purchases_7d", "dtype": "BIGINT", "description": "about purchases_7d"}]
    assert client.get("/health").json() == {"status": "ok", "store": client.app.state.store.describe(),
                                            "version": meta.version, "rows": 6, "built_at": meta.built_at}
    for _ in range(3):
        client.post("/features", json={"entity_ids": ["c00", "c05", "zz"]})
    client.post("/features", content=b"{")
    text = client.get("/metrics").text
    assert 'ff_serving_requests_total{endpoint="/features",status="200"} 3.0' in text
    assert 'ff_serving_requests_total{endpoint="/features",status="400"} 1.0' in text
    assert 'ff_serving_request_duration_seconds_count{endpoint="/features"} 4.0' in text
    assert 'ff_serving_request_duration_seconds_bucket{endpoint="/features",le="0.003"}' in text
    for outcome in ("found", "stale", "missing"):
        assert f'ff_serving_entities_total{{outcome="{outcome}"}} 3.0' in text
    assert f'ff_serving_store_version_info{{backend="{client.app.state.store.kind}",version="{meta.version}"}} 1.0' in text


def test_a_missing_store_answers_not_found_never_500(make_store):
    with TestClient(create_app(make_store())) as client:
        r = client.post("/features", json={"entity_ids": ["c01"], "features": ["revenue_7d"]})
        assert r.status_code == 200
        assert r.json() == {"store": {"state": "missing", "version": None}, "features": ["revenue_7d"],
                            "results": [{"entity_id": "c01", "found": False, "snapshot_date": None,
                                         "age_days": None, "stale": None, "values": {"revenue_7d": None}}]}
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "no_version"
        assert client.get("/features").status_code == 405


def test_values_expire_as_the_store_ages_and_the_ttl_can_be_overridden():
    meta = StoreMeta(version="v1", built_at="2024-03-10T02:00:00", reference_date="2024-03-10", ttl_days=2,
                     rows=1, features=())
    lookup = Lookup(meta, {"c1": ("c1", "2024-03-09", 1, b"{}")})
    query = Query(["c1"], None)

    def answer(now, ttl=None):
        (r,) = orjson.loads(Answerer(ttl).answer(query, lookup, now).body)["results"]
        return r["age_days"], r["stale"]

    assert answer(dt.datetime(2024, 3, 10, 23)) == (1, False)
    assert answer(dt.datetime(2024, 3, 11, 1)) == (2, False)
    assert answer(dt.datetime(2024, 3, 12, 0)) == (3, True)  # the pipeline stopped: the value expired
    assert answer(dt.datetime(2024, 3, 12, 0), ttl=5) == (3, False)
