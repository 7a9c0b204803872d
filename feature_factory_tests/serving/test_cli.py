"""`feature-factory serve` options reach the app each uvicorn worker builds (through the environment)."""

from __future__ import annotations

import argparse

import pytest

from feature_factory.serving import cli
from feature_factory.serving.config import make_store


def test_serve_options_configure_the_app(monkeypatch, tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--store", "sqlite", "--path", str(tmp_path / "s.sqlite"), "--ttl-days", "5",
                              "--max-ids", "7"])
    started = {}
    monkeypatch.setattr("uvicorn.run", lambda target, **kw: started.update(target=target, **kw))
    for var in cli._ENV.values():
        monkeypatch.delenv(var, raising=False)
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
