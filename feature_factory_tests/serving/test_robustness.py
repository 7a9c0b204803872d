"""Issue 29's failures, each fixed: hostile `features` lists are bounded and de-duplicated; a large
request never holds the event loop (/health answers meanwhile); a corrupt, deleted or replaced
SQLite file answers 503 or the new file, and recovers on republish without a restart, /health
telling the truth; a stalled or dead Redis costs a request at most its timeout (503), never stalls
the other endpoints, and is served again once back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

import httpx
import orjson
import pytest
import uvicorn
from serving_helpers import catalog, free_port, seed_online
from starlette.testclient import TestClient

from feature_factory.serving.answer import MAX_FEATURE_ENTRIES
from feature_factory.serving.publish import publish
from feature_factory.serving.redis_store import RedisOnlineStore
from feature_factory.serving.server import create_app
from feature_factory.serving.sqlite_store import SQLiteOnlineStore
from feature_factory.serving.store import FeatureField, StoreError, StoreMeta

IDS = [f"c{i:02d}" for i in range(6)]


def plain(rows: dict) -> dict:
    return {k: (*r[:3], orjson.loads(r[3])) for k, r in rows.items()}


@pytest.fixture
def served(make_store, duckdb_warehouse):
    seed_online(duckdb_warehouse)
    meta = publish(duckdb_warehouse, make_store(), catalog(), ttl_days=2)
    with TestClient(create_app(make_store())) as client:
        yield client, meta


def test_features_are_deduplicated_and_bounded(served):
    client, _ = served
    r = client.post("/features", json={"entity_ids": ["c03", "c02"],
                                       "features": ["purchases_7d", "revenue_7d", "purchases_7d"] * 300})
    assert r.status_code == 200 and r.json()["features"] == ["purchases_7d", "revenue_7d"]
    assert [x["values"] for x in r.json()["results"]] == [{"purchases_7d": 3, "revenue_7d": 30.0},
                                                          {"purchases_7d": 2, "revenue_7d": 20.0}]
    # The hostile body: one feature 70,000 times for 1,000 ids (~1 MB): refused before any work.
    hostile = orjson.dumps({"entity_ids": [f"c{i}" for i in range(1000)], "features": ["revenue_7d"] * 70_000})
    assert len(hostile) < 1 << 20
    r = client.post("/features", content=hostile, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == f"too many features: 70000 > {MAX_FEATURE_ENTRIES} entries; name each feature once"
    unknown = client.post("/features", json={"entity_ids": ["c01"], "features": [f"x{i}" * 50 for i in range(40)]})
    assert unknown.status_code == 400 and "and 30 more; served features" in unknown.json()["error"]
    assert len(unknown.text) < 2000  # the message names a few, not a megabyte of them


class Run:
    """The app on a real uvicorn server in a thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


class HeldStore(SQLiteOnlineStore):
    """A SQLite store whose reads of many ids wait until released: a stand-in for a slow read."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.entered, self.release = threading.Event(), threading.Event()

    def lookup(self, entity_ids):
        if len(entity_ids) > self.inline_ids:
            self.entered.set()
            assert self.release.wait(20)
        return super().lookup(entity_ids)


def test_a_large_request_does_not_hold_the_loop(tmp_path, duckdb_warehouse):
    """While a 1,000-id request is being read, /health and a 1-id request are answered."""
    seed_online(duckdb_warehouse)
    path = tmp_path / "online.sqlite"
    meta = publish(duckdb_warehouse, SQLiteOnlineStore(path), catalog(), ttl_days=2)
    store = HeldStore(path)
    big = {"entity_ids": [f"c{i:02d}" for i in range(1000)], "features": ["revenue_7d"]}
    with Run(create_app(store)) as url, httpx.Client(base_url=url, timeout=10) as client:
        got = {}
        worker = threading.Thread(target=lambda: got.update(r=httpx.post(f"{url}/features", json=big, timeout=30)))
        worker.start()
        assert store.entered.wait(10)
        try:
            health = client.get("/health")
            small = client.post("/features", json={"entity_ids": ["c03"]})
            assert worker.is_alive()  # the big one is still waiting on its read
        finally:
            store.release.set()
            worker.join(30)
        assert health.status_code == 200 and health.json()["version"] == meta.version
        assert small.json()["results"][0]["values"] == {"revenue_7d": 30.0, "purchases_7d": 3}
        body = got["r"].json()
        assert len(body["results"]) == 1000 and body["results"][3]["values"] == {"revenue_7d": 30.0}
        assert sum(x["found"] for x in body["results"]) == 6


def test_large_answers_are_built_off_the_event_loop(served, monkeypatch):
    client, _ = served
    from feature_factory.serving.answer import Answerer

    threads = []
    original = Answerer.answer
    monkeypatch.setattr(Answerer, "answer", lambda self, *a: threads.append(threading.get_ident()) or original(self, *a))
    client.post("/features", json={"entity_ids": ["c01"]})
    client.post("/features", json={"entity_ids": [f"id{i}" for i in range(500)]})
    loop_thread, big_thread = threads
    assert loop_thread != big_thread


def _garble(path, how: str) -> None:
    """Overwrite the file's bytes in place (same inode), or cut it short."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        if how == "garbage":
            f.write(os.urandom(size))
        else:
            f.truncate(size // 3)


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_corrupt_sqlite_store_answers_503_and_recovers_on_republish(how, tmp_path, duckdb_warehouse):
    seed_online(duckdb_warehouse)
    path = tmp_path / "online.sqlite"
    publish(duckdb_warehouse, SQLiteOnlineStore(path), catalog(), ttl_days=2)
    with TestClient(create_app(SQLiteOnlineStore(path))) as client:
        assert client.post("/features", json={"entity_ids": IDS}).status_code == 200
        _garble(path, how)  # its -wal and -shm stay
        for body in ({"entity_ids": ["c01"]}, {"entity_ids": IDS}, {"entity_ids": IDS, "features": ["revenue_7d"]}):
            r = client.post("/features", json=body)
            assert r.status_code == 503, r.text
            assert r.json()["error"].startswith(f"online store unavailable: cannot read online store {path}: ")
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert client.get("/schema").status_code == 503
        seed_online(duckdb_warehouse, offset=1.0)
        meta = publish(duckdb_warehouse, SQLiteOnlineStore(path), catalog(), ttl_days=2)  # no restart
        r = client.post("/features", json={"entity_ids": ["c03"]})
        assert r.status_code == 200 and r.json()["results"][0]["values"] == {"revenue_7d": 31.0, "purchases_7d": 3}
        assert client.get("/health").json()["version"] == meta.version
    (aside,) = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert aside.startswith("online.sqlite.corrupt-")  # the unreadable file is kept, not deleted


def test_a_deleted_then_republished_sqlite_store_is_served_without_a_restart(tmp_path, duckdb_warehouse):
    seed_online(duckdb_warehouse)
    path = tmp_path / "online.sqlite"
    first = publish(duckdb_warehouse, SQLiteOnlineStore(path), catalog(), ttl_days=2)
    with TestClient(create_app(SQLiteOnlineStore(path))) as client:
        assert client.post("/features", json={"entity_ids": IDS}).json()["store"]["version"] == first.version
        path.unlink()  # the main file only: its -wal and -shm stay behind
        r = client.post("/features", json={"entity_ids": ["c03"]})
        assert r.status_code == 200 and r.json()["store"] == {"state": "missing", "version": None}
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "no_version"
        seed_online(duckdb_warehouse, customers=4, offset=2.0)
        second = publish(duckdb_warehouse, SQLiteOnlineStore(path), catalog(), ttl_days=2)
        for _ in range(2):  # the big path (a worker thread's reader) and the one-id path
            body = client.post("/features", json={"entity_ids": [*IDS, *(f"x{i}" for i in range(40))]}).json()
            assert body["store"]["version"] == second.version
            assert [x["found"] for x in body["results"][:6]] == [True] * 4 + [False] * 2
            assert body["results"][2]["values"] == {"revenue_7d": 22.0, "purchases_7d": 2}
        assert client.post("/features", json={"entity_ids": ["c00"]}).json()["results"][0]["values"]["revenue_7d"] == 2.0
        assert client.get("/health").json()["version"] == second.version
    assert SQLiteOnlineStore(path).current() == second  # the new file intact after the readers closed


def test_a_replaced_sqlite_store_is_served_from_the_new_file(tmp_path, duckdb_warehouse):
    seed_online(duckdb_warehouse)
    path, other = tmp_path / "online.sqlite", tmp_path / "other.sqlite"
    first = publish(duckdb_warehouse, SQLiteOnlineStore(path), catalog(), ttl_days=2)
    seed_online(duckdb_warehouse, offset=5.0)
    replacement = publish(duckdb_warehouse, SQLiteOnlineStore(other), catalog(), ttl_days=2)
    with TestClient(create_app(SQLiteOnlineStore(path))) as client:
        assert client.post("/features", json={"entity_ids": ["c03"]}).json()["store"]["version"] == first.version
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        shutil.copy(other, tmp_path / "staged.sqlite")
        os.replace(tmp_path / "staged.sqlite", path)  # a new file under the same name
        r = client.post("/features", json={"entity_ids": ["c03"]}).json()
        assert r["store"]["version"] == replacement.version
        assert r["results"][0]["values"] == {"revenue_7d": 35.0, "purchases_7d": 3}
        assert client.get("/health").json()["version"] == replacement.version


# -- Redis stalled (SIGSTOP) and killed ----------------------------------------------------------------
def _start_redis(port: int, folder) -> subprocess.Popen:
    import redis

    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test alone (it is stopped and killed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed: run scripts/ensure-redis.sh (Debian's redis-server package)")
    port = free_port()
    procs = [_start_redis(port, tmp_path)]
    yield port, procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)


def test_a_stalled_redis_costs_its_timeout_then_503_and_stalls_nothing_else(own_redis, duckdb_warehouse):
    port, (proc,) = own_redis
    url = f"redis://127.0.0.1:{port}/0"
    seed_online(duckdb_warehouse)
    meta = publish(duckdb_warehouse, RedisOnlineStore(url, "t29"), catalog(), ttl_days=2)
    store = RedisOnlineStore(url, "t29", timeout=0.3)
    with Run(create_app(store)) as base, httpx.Client(base_url=base, timeout=5) as client:
        assert client.post("/features", json={"entity_ids": ["c03"]}).json()["store"]["version"] == meta.version
        proc.send_signal(signal.SIGSTOP)
        try:
            answers = {}

            def ask(name, method, path, **kw):
                with httpx.Client(base_url=base, timeout=5) as c:
                    answers[name] = getattr(c, method)(path, **kw)

            threads = [threading.Thread(target=ask, args=(f"f{i}", "post", "/features"),
                                        kwargs={"json": {"entity_ids": IDS}}) for i in range(4)]
            threads.append(threading.Thread(target=ask, args=("health", "get", "/health")))
            threads.append(threading.Thread(target=ask, args=("metrics", "get", "/metrics")))
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert not any(t.is_alive() for t in threads)  # every one answered during the stall
            for i in range(4):
                r = answers[f"f{i}"]
                assert r.status_code == 503 and "cannot read online store redis:" in r.json()["error"]
            assert answers["health"].status_code == 503 and answers["health"].json()["status"] == "unavailable"
            assert answers["metrics"].status_code == 200
        finally:
            proc.send_signal(signal.SIGCONT)
        r = client.post("/features", json={"entity_ids": ["c03"]})
        assert r.status_code == 200 and r.json()["results"][0]["values"] == {"revenue_7d": 30.0, "purchases_7d": 3}
        assert client.get("/health").json()["version"] == meta.version


def test_a_killed_redis_answers_503_and_recovers_when_it_is_back(own_redis, duckdb_warehouse, tmp_path):
    port, procs = own_redis
    url = f"redis://127.0.0.1:{port}/0"
    seed_online(duckdb_warehouse)
    publish(duckdb_warehouse, RedisOnlineStore(url, "t29k"), catalog(), ttl_days=2)
    with TestClient(create_app(RedisOnlineStore(url, "t29k", timeout=0.3))) as client:
        assert client.post("/features", json={"entity_ids": IDS}).status_code == 200
        procs[0].kill()
        procs[0].wait(10)
        r = client.post("/features", json={"entity_ids": IDS})
        assert r.status_code == 503 and r.json()["error"].startswith("online store unavailable: cannot read online store redis:")
        assert client.get("/health").status_code == 503
        procs.append(_start_redis(port, tmp_path))  # back, empty (no persistence): republished
        assert client.post("/features", json={"entity_ids": ["c03"]}).json()["store"] == {"state": "missing", "version": None}
        meta = publish(duckdb_warehouse, RedisOnlineStore(url, "t29k"), catalog(), ttl_days=2)
        r = client.post("/features", json={"entity_ids": ["c03"]})
        assert r.status_code == 200 and r.json()["store"]["version"] == meta.version
        assert client.get("/health").json()["version"] == meta.version


def test_a_redis_url_password_never_reaches_health():
    store = RedisOnlineStore("redis://:s3cret@127.0.0.1:1/0", "t", timeout=0.2)
    assert "s3cret" not in store.describe() and store.describe().startswith("redis:redis://:***@127.0.0.1:1/0")
    with TestClient(create_app(store)) as client:
        health = client.get("/health")
        assert health.status_code == 503 and "s3cret" not in health.text


# -- store reads (moved here from test_store.py to keep that file as main has it) --------------------
def test_concurrent_redis_lookups_share_calls_and_each_gets_its_rows(redis_url, duckdb_warehouse):
    """The server's async reads: lookups in flight together go to Redis in one script call, and
    each still gets exactly its own ids' rows (the same as a lookup alone), from one version."""
    import asyncio

    from feature_factory.serving.redis_store import RedisOnlineStore

    store = RedisOnlineStore(redis_url, "test:coalesce")
    seed_online(duckdb_warehouse)
    meta = publish(duckdb_warehouse, store, catalog())
    asks = [["c00"], ["c05", "nobody"], ["c01", "c02", "c03"], ["zz"], ["c04", "c04x", "c00"]] * 4
    calls = []

    original = store._call

    async def counted(ids):
        calls.append(list(ids))
        return await original(ids)

    store._call = counted

    async def run():
        try:
            return await asyncio.gather(*(store.alookup(ids) for ids in asks))
        finally:
            await store.aclose()

    got = asyncio.run(run())
    for ids, lookup in zip(asks, got):
        alone = store.lookup(ids)
        assert lookup.meta == meta and lookup.rows == alone.rows and set(lookup.rows) <= set(ids)
    assert plain(got[2].rows)["c02"] == ("c02", "2024-03-10", 0, {"revenue_7d": 20.0, "purchases_7d": 2})
    assert len(calls) < len(asks) and sum(len(c) for c in calls) == sum(len(a) for a in asks)


def test_a_meta_written_by_a_newer_release_is_read_and_a_garbled_one_is_a_store_error():
    meta = StoreMeta(version="v1", built_at="2024-03-10T02:00:00", reference_date=None, ttl_days=2, rows=1,
                     features=(FeatureField("a", "DOUBLE", "about a", pii=True),))
    data = orjson.loads(meta.to_json())
    data["features"][0]["unit"] = "EUR"  # fields a later release may add
    data["lineage"] = ["x"]
    assert StoreMeta.from_json(orjson.dumps(data)) == meta and meta.pii_names == {"a"}
    with pytest.raises(StoreError, match="a version's meta is unreadable .* the store is corrupt; publish it again"):
        StoreMeta.from_json(b'{"version": 1')
