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


# -- issue 29: start-up errors in one line; Redis down is not one of them -------------------------------
def _serve(monkeypatch, argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    started = {}
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: started.update(target=target, **kw))
    _clean_env(monkeypatch)
    return cli.run(parser.parse_args(argv)), started


def _one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


def test_a_garbage_store_file_stops_serve_with_one_line(monkeypatch, tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database, it is garbage" * 100)
    rc, started = _serve(monkeypatch, ["--path", str(path)])
    assert rc == 2 and started == {}
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"feature-factory serve: cannot read online store {path}: file is not a database")


def test_bad_options_stop_serve_with_one_line(monkeypatch, tmp_path, capsys):
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys: [1, 2]\n")
    rc, _ = _serve(monkeypatch, ["--path", str(tmp_path / "s.sqlite"), "--keys", str(keys)])
    assert rc == 2
    assert _one_line(capsys.readouterr().err).startswith(f"feature-factory serve: --keys: keys file {keys}: expected one mapping")
    rc, _ = _serve(monkeypatch, ["--store", "redis", "--redis-url", "http://localhost:6379"])
    assert rc == 2 and "Redis URL 'http://localhost:6379'" in _one_line(capsys.readouterr().err)
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc, started = _serve(monkeypatch, ["--path", str(tmp_path / "s.sqlite"), "--port", str(port)])
    assert rc == 2 and started == {}
    assert _one_line(capsys.readouterr().err).startswith(f"feature-factory serve: cannot listen on 127.0.0.1:{port}: ")


def test_serve_starts_with_redis_down_and_serves_once_it_is_back(monkeypatch, tmp_path, capsys, duckdb_warehouse):
    """A Redis that is not running yet: serve starts (503 meanwhile), then answers once Redis is up
    and the store published, without a restart."""
    import shutil
    import subprocess
    import time

    import redis
    from serving_helpers import catalog, free_port, seed_online
    from starlette.testclient import TestClient

    from feature_factory.serving.publish import publish
    from feature_factory.serving.redis_store import RedisOnlineStore

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed: run scripts/ensure-redis.sh")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setenv("FEATURE_FACTORY_REDIS_PREFIX", "t29cli")
    rc, started = _serve(monkeypatch, ["--store", "redis", "--redis-url", url, "--redis-timeout", "0.3"])
    assert rc == 0 and started["factory"] is True
    out = capsys.readouterr().out
    assert f"answering customer_id values from redis:{url} prefix t29cli (Redis is unreachable now (" in out
    assert "answering 503 until it is back)" in out and "no API keys: open to every caller" in out
    monkeypatch.setenv("FEATURE_FACTORY_REDIS_PREFIX", "t29cli")
    app = cli.app_from_env()
    assert app.state.store.timeout == 0.3
    with TestClient(app) as client:
        r = client.post("/features", json={"entity_ids": ["c03"]})
        assert r.status_code == 503 and "cannot read online store redis:" in r.json()["error"]
        assert client.get("/health").json()["status"] == "unavailable"
        proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    redis.Redis(port=port).ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            seed_online(duckdb_warehouse)
            meta = publish(duckdb_warehouse, RedisOnlineStore(url, "t29cli"), catalog(), ttl_days=2)
            r = client.post("/features", json={"entity_ids": ["c03"]})
            assert r.status_code == 200 and r.json()["results"][0]["values"] == {"revenue_7d": 30.0, "purchases_7d": 3}
            assert client.get("/health").json()["version"] == meta.version
        finally:
            proc.kill()
            proc.wait(10)


def test_new_key_prints_a_key_and_its_entry_only_hashed(monkeypatch, capsys, tmp_path):
    from feature_factory.serving.access import hash_key, load_policy

    rc, started = _serve(monkeypatch, ["--new-key", "churn-model"])
    assert rc == 0 and started == {}
    out = capsys.readouterr().out
    key = out.splitlines()[1]
    assert key.startswith("ffk_") and len(key) > 40
    entry = out.split("under `keys:`:\n", 1)[1]
    assert key not in entry and hash_key(key) in entry
    (tmp_path / "keys.yaml").write_text("keys:\n" + entry)
    assert load_policy(tmp_path / "keys.yaml").authenticate(key, "customer").name == "churn-model"
