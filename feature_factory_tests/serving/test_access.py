"""API keys on the feature server (SQLite and a real Redis): deny by default once keys are
configured (401 without or with an unknown key, 403 outside the key's entities or features), the
same on /schema, `pii: true` features null for keys without the pii scope, per-key counts in
/metrics, and keys never in a log line or a metric."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from serving_helpers import catalog, seed_online
from starlette.testclient import TestClient

from feature_factory.catalog import Catalog
from feature_factory.catalog.loader import CatalogError, parse_entry
from feature_factory.serving.access import AccessError, hash_key, key_entry, load_policy, new_key
from feature_factory.serving.publish import publish
from feature_factory.serving.server import create_app

KEYS = {name: new_key() for name in ("ops", "scoring", "marketing", "products")}


def pii_catalog() -> Catalog:
    """The test catalog with purchases_7d marked `pii: true`."""
    return Catalog(tuple(dataclasses.replace(f, pii=f.name == "purchases_7d") for f in catalog().features))


def write_keys(folder) -> str:
    path = folder / "keys.yaml"
    path.write_text(f"""keys:
  ops:        {{sha256: {hash_key(KEYS['ops'])}, entities: ["*"], features: ["*"], pii: true}}
  scoring:    {{sha256: {hash_key(KEYS['scoring'])}, entities: [customer], features: ["*"]}}
  marketing:  {{sha256: {hash_key(KEYS['marketing'])}, entities: [customer], features: [revenue_7d]}}
  products:   {{sha256: {hash_key(KEYS['products'])}, entities: [product], features: ["*"], pii: true}}
""")
    return str(path)


def bearer(name: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[name]}"}


@pytest.fixture
def guarded(make_store, duckdb_warehouse, tmp_path):
    seed_online(duckdb_warehouse)
    meta = publish(duckdb_warehouse, make_store(), pii_catalog(), ttl_days=2)
    assert [(f.name, f.pii) for f in meta.features] == [("revenue_7d", False), ("purchases_7d", True)]
    app = create_app(make_store(), policy=load_policy(write_keys(tmp_path)))
    with TestClient(app) as client:
        yield client, meta


def ask(client, headers=None, **body):
    return client.post("/features", json={"entity_ids": ["c03", "c05", "nobody"], **body}, headers=headers or {})


def test_no_key_or_an_unknown_key_reads_nothing(guarded):
    client, _ = guarded
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"X-API-Key": "ffk_guess"},
                    {"Authorization": f"Basic {KEYS['ops']}"}):
        for r in (ask(client, headers), ask(client, headers, features=["revenue_7d"]), client.get("/schema", headers=headers)):
            assert r.status_code == 401, (headers, r.text)
            assert "values" not in r.text and "revenue_7d" not in r.text
    assert ask(client).json() == {"error": "an API key is required: send `Authorization: Bearer <key>` "
                                           "(or `X-API-Key: <key>`)"}
    assert ask(client, {"X-API-Key": "wrong"}).json() == {"error": "the API key is not recognised"}
    assert client.get("/health").status_code == 200  # probes stay open; they name no feature


def test_a_key_reads_only_its_entities_and_features(guarded):
    client, _ = guarded
    r = ask(client, bearer("products"))
    assert r.status_code == 403 and r.json()["error"] == "key 'products' may not read customer features (its entities: ['product'])"
    assert client.get("/schema", headers=bearer("products")).status_code == 403
    r = ask(client, bearer("marketing"), features=["revenue_7d", "purchases_7d"])
    assert r.status_code == 403
    assert r.json()["error"] == "key 'marketing' may not read feature(s) ['purchases_7d']; its features: ['revenue_7d']"
    r = ask(client, {"X-API-Key": KEYS["marketing"]})  # features omitted: the key's features only
    assert r.status_code == 200 and r.json()["features"] == ["revenue_7d"]
    assert [x["values"] for x in r.json()["results"]] == [{"revenue_7d": 30.0}, {"revenue_7d": None}, {"revenue_7d": None}]
    r = ask(client, bearer("marketing"), features=["nope"])  # outside its scope: 403 before "unknown"
    assert r.status_code == 403
    schema = client.get("/schema", headers=bearer("marketing")).json()
    assert schema["key"] == "marketing"
    assert schema["features"] == [{"name": "revenue_7d", "dtype": "DOUBLE", "description": "about revenue_7d"}]


def test_pii_is_masked_without_the_pii_scope(guarded):
    client, _ = guarded
    masked = ask(client, bearer("scoring")).json()
    assert masked["features"] == ["revenue_7d", "purchases_7d"] and masked["masked"] == ["purchases_7d"]
    assert [x["values"] for x in masked["results"]] == [
        {"revenue_7d": 30.0, "purchases_7d": None}, {"revenue_7d": None, "purchases_7d": None},
        {"revenue_7d": None, "purchases_7d": None}]
    asked = ask(client, bearer("scoring"), features=["purchases_7d"]).json()  # asked by name: still masked
    assert asked["masked"] == ["purchases_7d"] and asked["results"][0]["values"] == {"purchases_7d": None}
    full = ask(client, bearer("ops")).json()
    assert "masked" not in full and full["results"][0]["values"] == {"revenue_7d": 30.0, "purchases_7d": 3}
    schema = client.get("/schema", headers=bearer("scoring")).json()["features"]
    assert schema[1] == {"name": "purchases_7d", "dtype": "BIGINT", "description": "about purchases_7d",
                         "pii": True, "masked": True}
    assert client.get("/schema", headers=bearer("ops")).json()["features"][1]["masked"] is False


def test_a_catalog_mark_masks_a_store_published_before_it(make_store, duckdb_warehouse):
    """The server is given the catalog's PII marks at start: a store published without the mark
    is masked all the same; an open server (no keys) masks PII for every caller."""
    seed_online(duckdb_warehouse)
    publish(duckdb_warehouse, make_store(), catalog(), ttl_days=2)  # no pii mark in this version
    from feature_factory.serving.access import Policy, Scope

    policy = Policy({hash_key("k"): Scope("k", None, None, pii=False)})
    with TestClient(create_app(make_store(), policy=policy, pii={"revenue_7d"})) as client:
        body = client.post("/features", json={"entity_ids": ["c03"]}, headers={"X-API-Key": "k"}).json()
        assert body["masked"] == ["revenue_7d"] and body["results"][0]["values"] == {"revenue_7d": None, "purchases_7d": 3}
    with TestClient(create_app(make_store(), pii={"revenue_7d"})) as client:  # no keys: open, PII still masked
        body = client.post("/features", json={"entity_ids": ["c03"]}).json()
        assert body["masked"] == ["revenue_7d"] and body["results"][0]["values"] == {"revenue_7d": None, "purchases_7d": 3}
        schema = client.get("/schema").json()["features"]
        assert schema[0] == {"name": "revenue_7d", "dtype": "DOUBLE", "description": "about revenue_7d",
                             "pii": True, "masked": True}


def test_per_key_counts_and_no_key_in_metrics_or_logs(guarded, caplog):
    client, _ = guarded
    caplog.set_level(logging.DEBUG)
    for _ in range(2):
        ask(client, bearer("marketing"))
    ask(client, bearer("marketing"), features=["purchases_7d"])
    ask(client, {"Authorization": "Bearer ffk_stolen_guess"})
    ask(client)
    client.get("/schema", headers=bearer("ops"))
    text = client.get("/metrics").text
    assert 'ff_serving_key_requests_total{endpoint="/features",key="marketing",status="200"} 2.0' in text
    assert 'ff_serving_key_requests_total{endpoint="/features",key="marketing",status="403"} 1.0' in text
    assert 'ff_serving_key_requests_total{endpoint="/features",key="unknown",status="401"} 1.0' in text
    assert 'ff_serving_key_requests_total{endpoint="/features",key="anonymous",status="401"} 1.0' in text
    assert 'ff_serving_key_requests_total{endpoint="/schema",key="ops",status="200"} 1.0' in text
    logged = caplog.text
    for secret in (*KEYS.values(), "ffk_stolen_guess", *(hash_key(k) for k in KEYS.values())):
        assert secret not in text and secret not in logged


def test_keys_file_errors_name_the_file_and_the_key(tmp_path):
    path = tmp_path / "k.yaml"
    cases = [
        ("keys:\n  a: {sha256: ffk_plain_key, entities: [customer], features: ['*']}\n",
         "key 'a': sha256 must be the 64 hex digits of the key's SHA-256"),
        (f"keys:\n  a: {{sha256: {'ab' * 32}, entities: [customer], features: ['*'], scope: x}}\n",
         "key 'a': unknown field(s) ['scope']"),
        (f"keys:\n  a: {{sha256: {'ab' * 32}, entities: [], features: ['*']}}\n",
         "key 'a': entities must be a non-empty list"),
        (f"keys:\n  a: {{sha256: {'ab' * 32}, features: ['*']}}\n", "key 'a': missing ['entities']"),
        (f"keys:\n  a: {{sha256: {'ab' * 32}, entities: ['*'], features: ['*'], pii: 'yes'}}\n",
         "key 'a': pii must be true or false"),
        ("- a\n", "expected one mapping `keys:`"),
    ]
    for text, message in cases:
        path.write_text(text)
        with pytest.raises(AccessError, match=None) as info:
            load_policy(path)
        assert str(info.value).startswith(f"keys file {path}") and message in str(info.value), str(info.value)
    with pytest.raises(AccessError, match="cannot read keys file"):
        load_policy(tmp_path / "absent.yaml")
    assert not load_policy(None).enabled


def test_a_new_key_entry_loads_and_holds_only_the_hash(tmp_path):
    key = new_key()
    entry = key_entry("churn-model", key)
    assert key not in entry and hash_key(key) in entry
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n" + entry)
    policy = load_policy(path)
    scope = policy.authenticate(key, "customer")
    assert (scope.name, scope.entities, scope.features, scope.pii) == ("churn-model", frozenset({"customer"}), None, False)


def test_catalog_pii_mark_is_a_boolean():
    base = {"name": "email_domain_count", "description": "d", "owner": "o", "dtype": "int",
            "lifecycle": "active", "window_days": 7, "aggregate": {"agg": "count"}}
    assert parse_entry({**base, "pii": True}, "entry #1").pii is True
    assert parse_entry(base, "entry #1").pii is False
    with pytest.raises(CatalogError, match="entry #1: pii must be true or false, got 'yes'"):
        parse_entry({**base, "pii": "yes"}, "entry #1")
