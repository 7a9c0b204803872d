"""Online reads per feature and API key: counted in memory by the server, added to the read log's
SQLite file on flush (periodic, and at shutdown), and read back for the usage ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from serving_helpers import seed_online
from starlette.testclient import TestClient
from test_access import KEYS, bearer, pii_catalog, write_keys

from feature_factory.serving.access import load_policy
from feature_factory.serving.publish import publish
from feature_factory.serving.read_log import OnlineRead, ReadLog, load
from feature_factory.serving.server import create_app
from feature_factory.serving.sqlite_store import SQLiteOnlineStore


def test_flushes_add_up_and_a_failed_flush_loses_nothing(tmp_path):
    log = ReadLog(tmp_path / "reads.sqlite")
    assert load(log.path) == [] and log.flush() == 0
    log.record("ops", ["a", "b"])
    log.record("ops", ["a"])
    assert log.flush() == 2 and log.pending() == {}
    log.record("ops", ["a"])
    log.record("anonymous", ["b"])
    assert log.flush() == 2
    assert [(r.feature, r.reader, r.reads) for r in load(log.path)] == [
        ("a", "ops", 3), ("b", "anonymous", 1), ("b", "ops", 1)]

    blocked = ReadLog(tmp_path / "a_dir")
    blocked.path.mkdir()  # a directory where the file should be: the flush fails
    blocked.record("ops", ["a"])
    with pytest.raises(Exception):
        blocked.flush()
    blocked.record("ops", ["a"])
    assert blocked.pending() == {("a", "ops"): 2}  # kept and merged with the newer read
    with pytest.raises(ValueError, match="flush_seconds"):
        ReadLog(tmp_path / "x", flush_seconds=0)


def test_server_counts_reads_per_feature_and_key_and_flushes_at_shutdown(duckdb_warehouse, tmp_path):
    seed_online(duckdb_warehouse)
    path = tmp_path / "online.sqlite"
    publish(duckdb_warehouse, SQLiteOnlineStore(path), pii_catalog(), ttl_days=2)
    reads = ReadLog(tmp_path / "online_reads.sqlite", flush_seconds=3600)  # only the shutdown flush
    app = create_app(SQLiteOnlineStore(path), policy=load_policy(write_keys(tmp_path)), read_log=reads)
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with TestClient(app) as client:
        ids = {"entity_ids": ["c03", "c05", "nobody"]}
        assert client.post("/features", json=ids, headers=bearer("scoring")).status_code == 200
        assert client.post("/features", json=ids, headers=bearer("scoring")).status_code == 200
        assert client.post("/features", json={**ids, "features": ["revenue_7d"]},
                           headers=bearer("ops")).status_code == 200
        assert client.post("/features", json=ids, headers=bearer("marketing")).status_code == 200  # sees revenue_7d
        # Denied or bad requests read nothing.
        assert client.post("/features", json={**ids, "features": ["purchases_7d"]},
                           headers=bearer("marketing")).status_code == 403
        assert client.post("/features", json=ids).status_code == 401
        assert client.post("/features", json={"entity_ids": []}, headers=bearer("ops")).status_code == 400
        assert load(reads.path) == []  # nothing written per request
    got = load(reads.path)
    assert [(r.feature, r.reader, r.reads) for r in got] == [
        ("purchases_7d", "scoring", 2), ("revenue_7d", "marketing", 1), ("revenue_7d", "ops", 1),
        ("revenue_7d", "scoring", 2)]
    assert all(before <= r.last_read <= dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) for r in got)
    assert KEYS["ops"] not in reads.path.read_bytes().decode("latin-1")  # names, never keys


def test_open_server_counts_anonymous_reads(duckdb_warehouse, tmp_path):
    seed_online(duckdb_warehouse)
    path = tmp_path / "online.sqlite"
    publish(duckdb_warehouse, SQLiteOnlineStore(path), pii_catalog(), ttl_days=2)
    reads = ReadLog(tmp_path / "reads.sqlite", flush_seconds=3600)
    with TestClient(create_app(SQLiteOnlineStore(path), read_log=reads)) as client:
        assert client.post("/features", json={"entity_ids": ["c01"], "features": ["purchases_7d"]}).status_code == 200
        reads.flush()
        assert [(r.feature, r.reader, r.reads) for r in load(reads.path)] == [("purchases_7d", "anonymous", 1)]
    assert isinstance(load(reads.path)[0], OnlineRead)
