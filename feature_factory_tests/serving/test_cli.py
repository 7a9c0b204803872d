"""`feature-factory serve` options reach the app each uvicorn worker builds (through the environment)."""

from __future__ import annotations

import argparse

import pytest

from feature_factory.serving import cli
from feature_factory.serving.config import make_store


def _clean_env(monkeypatch) -> None:
    """Unset the variables `run` sets, restored after the test (set first: monkeypatch only
    restores a variable it saw, and `run` writes os.environ itself)."""
    for var in cli._ENV.values():
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)


def test_serve_options_configure_the_app(monkeypatch, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--store", "sqlite", "--path", str(tmp_path / "s.sqlite"), "--ttl-days", "5",
                              "--max-ids", "7"])
    started = {}
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: started.update(target=target, **kw))
    _clean_env(monkeypatch)
    assert cli.run(args) == 0
    assert started["target"] == "feature_factory.serving.cli:app_from_env" and started["factory"] is True
    app = cli.app_from_env()  # what each worker builds
    assert app.state.store.describe() == f"sqlite:{tmp_path / 's.sqlite'}"
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        r = client.post("/features", json={"entity_ids": [f"c{i}" for i in range(8)]})
        assert r.status_code == 400 and "8 > 7" in r.json()["error"]
        assert client.get("/schema").json()["ttl_days"] == 5


def test_an_unknown_store_type_names_the_choices():
    with pytest.raises(ValueError, match="choose one of sqlite, redis"):
        make_store("memcached")


def test_serve_entity_product_serves_the_product_store(monkeypatch, tmp_path, capsys, duckdb_warehouse):
    """`serve --entity product`: the app each worker builds reads product's own store (beside the
    customer's file), answers product ids and names product_id as the key."""
    from serving_helpers import ORDERS_SOURCES, product_catalog, seed_product_online
    from starlette.testclient import TestClient

    from feature_factory.serving.publish import publish

    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(ORDERS_SOURCES))
    _clean_env(monkeypatch)
    base = tmp_path / "s.sqlite"
    entity = seed_product_online(duckdb_warehouse)
    publish(duckdb_warehouse, make_store("sqlite", str(base), entity="product"), product_catalog(), entity=entity)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: None)
    assert cli.run(parser.parse_args(["--entity", "product", "--path", str(base)])) == 0
    assert f"answering product_id values from sqlite:{tmp_path / 's.product.sqlite'} (version " in capsys.readouterr().out
    app = cli.app_from_env()
    assert app.state.store.describe() == f"sqlite:{tmp_path / 's.product.sqlite'}"
    with TestClient(app) as client:
        assert client.get("/schema").json()["entity"] == "product_id"
        (hit,) = client.post("/features", json={"entity_ids": ["P1"]}).json()["results"]
        assert (hit["found"], hit["values"]) == (True, {"revenue_7d": 70.0, "orders_7d": 7})


def test_serve_an_undeclared_entity_names_the_sources_file(monkeypatch, capsys):
    from serving_helpers import ORDERS_SOURCES

    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(ORDERS_SOURCES))
    _clean_env(monkeypatch)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: pytest.fail("must not start"))
    assert cli.run(parser.parse_args(["--entity", "store"])) == 2
    err = capsys.readouterr().err
    assert err.startswith("feature-factory serve: --entity store: entity 'store' is not declared in ")
    assert f"{ORDERS_SOURCES}" in err and "(declared: customer, product)" in err
