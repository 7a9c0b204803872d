"""Online serving benchmark: our feature server (SQLite and Redis stores) vs Feast 0.67's Python
feature server (`feast serve`, SQLite online store) vs a bare ASGI dict floor, the same entities
and 13 features, loaded over loopback by `loadgen`.

Setup (unmeasured) writes N entities x 13 features (synthetic values in DuckDB) as
`customer_features_online` in a DuckDB file, publishes it to our SQLite store, exports Parquet and
writes Feast's registry and SQLite online store from it. Each contender starts its server as a
subprocess, waits until it answers, then measures: sequential p50/p99 at 1, 10 and 100 entities per
request, and throughput at 32 concurrent clients (1 entity per request; and 100 per request).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bench import loadgen, synth

SIZES = (1, 10, 100)


def _paths(params: dict) -> dict[str, Path]:
    base = Path(params["dir"]) / "data"
    return {"base": base, "duckdb": base / "online.duckdb", "sqlite": base / "ours.sqlite",
            "parquet": base / "features.parquet", "feast": base / "feast_repo"}


def _ids(n: int) -> list[str]:
    return [f"C{i:07d}" for i in range(n)]


def setup(params: dict, meter) -> dict:
    import duckdb

    p = _paths(params)
    if synth.cached(p["base"], params):
        return {"cached": True}
    shutil.rmtree(p["base"], ignore_errors=True)
    p["base"].mkdir(parents=True)
    specs = synth.features()
    n = int(params["entities"])
    cols = ", ".join(f"{synth.value_sql(s, k, 'i', 0, params['seed'])} AS {s.name}" for k, s in enumerate(specs))
    con = duckdb.connect(str(p["duckdb"]))
    con.execute(f"CREATE TABLE customer_features_online AS SELECT {synth.customer_id('i')} AS customer_id, "
                f"DATE '2024-04-10' AS snapshot_date, {cols}, CAST(0 AS BIGINT) AS snapshot_age_days, "
                "FALSE AS is_stale, TIMESTAMP '2024-04-11 01:00:00' AS computed_at, "
                "TIMESTAMP '2024-04-11 01:00:00' AS built_at FROM range(" + str(n) + ") t(i)")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    con.execute(f"COPY (SELECT customer_id, TIMESTAMP '{now}' AS event_timestamp, "
                f"{', '.join(s.name for s in specs)} FROM customer_features_online) TO '{p['parquet']}' (FORMAT parquet)")
    con.close()
    _publish(params, "sqlite")
    out = {"entities": n, "features": len(specs)}
    if _feast_available():
        t0 = time.perf_counter()
        _feast_write(params, specs)
        out["feast_write_s"] = time.perf_counter() - t0
    synth.mark_built(p["base"], params)
    return out


def _publish(params: dict, kind: str, redis_url: str | None = None):
    from feature_factory.serving.config import make_store
    from feature_factory.serving.publish import publish
    from feature_factory.warehouse import DuckDBWarehouse

    p = _paths(params)
    store = make_store(kind, path=str(p["sqlite"]), redis_url=redis_url)
    meta = publish(DuckDBWarehouse(path=str(p["duckdb"])), store, ttl_days=36500)
    store.close()
    return meta


# -- Feast -------------------------------------------------------------------------------------------
def _feast_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("feast") is not None


def _feast_write(params: dict, specs) -> None:
    os.environ.setdefault("FEAST_USAGE", "False")
    import pyarrow.parquet as pq
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float64, Int64

    p = _paths(params)
    repo = p["feast"]
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        "project: bench\nprovider: local\n"
        f"registry: {repo / 'registry.db'}\n"
        f"online_store:\n  type: sqlite\n  path: {repo / 'online.db'}\n"
        "entity_key_serialization_version: 3\n")
    store = FeatureStore(repo_path=str(repo))
    customer = Entity(name="customer", join_keys=["customer_id"])
    view = FeatureView(
        name="customer_features", entities=[customer], ttl=dt.timedelta(days=3650), online=True,
        schema=[Field(name=s.name, dtype=Int64 if s.dtype.sql_type == "BIGINT" else Float64) for s in specs],
        source=FileSource(path=str(p["parquet"]), timestamp_field="event_timestamp"),
    )
    store.apply([customer, view])
    table = pq.read_table(p["parquet"])
    for start in range(0, table.num_rows, 20_000):
        store.write_to_online_store("customer_features", table.slice(start, 20_000).to_pandas())


# -- servers -----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess in its own session (its whole tree is stopped at the end)."""

    def __init__(self, cmd: list[str], port: int, probe: bytes, log: Path, env: dict | None = None) -> None:
        self.port, self.probe = port, probe
        self.log = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **(env or {})})

    def wait(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                got = asyncio.run(loadgen.sequential(self.port, [self.probe], warmup=0))
                if got["errors"] == 0:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer within {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def _bodies(kind: str, names: list[str], n_entities: int, size: int, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed * 1000 + size)
    out = []
    for _ in range(count):
        ids = [f"C{rng.randrange(n_entities):07d}" for _ in range(size)]
        if kind == "feast":
            body = {"features": [f"customer_features:{n}" for n in names], "entities": {"customer_id": ids}}
        else:
            body = {"entity_ids": ids}
        out.append(json.dumps(body).encode())
    return out


def _measure(params: dict, meter, kind: str, server: Server, path: str) -> dict:
    names = [s.name for s in synth.features()]
    n, port = int(params["entities"]), server.port
    req = lambda size, count: [loadgen.http_request(path, b, port)  # noqa: E731
                               for b in _bodies(kind, names, n, size, count, params["seed"])]
    out: dict = {"latency": {}, "concurrent": {}}
    check = asyncio.run(_check(port, path, kind, names))
    with meter.measure():
        for size in SIZES:
            out["latency"][str(size)] = asyncio.run(loadgen.sequential(port, req(size, params["sequential"][str(size)])))
        for size in (1, 100):
            out["concurrent"][str(size)] = asyncio.run(loadgen.concurrent(
                port, req(size, 2000), params["clients"], params["seconds"][str(size)]))
    out["values_checked"] = check
    return out


async def _check(port: int, path: str, kind: str, names: list[str]) -> str:
    """How many of one entity's values the server returns (a server answering nothing is not fast)."""
    body = (json.dumps({"features": [f"customer_features:{n}" for n in names], "entities": {"customer_id": ["C0000003"]}})
            if kind == "feast" else json.dumps({"entity_ids": ["C0000003"]})).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        status, raw = await loadgen._roundtrip(reader, writer, loadgen.http_request(path, body, port))
    finally:
        writer.close()
    if status != 200:
        raise RuntimeError(f"check request failed: HTTP {status}: {raw[:300]!r}")
    data = json.loads(raw)
    if kind == "feast":
        got = {n: r["values"][0] for n, r in zip(data["metadata"]["feature_names"], data["results"])
               if n in names}
    else:
        got = data["results"][0]["values"]
    return f"{sum(v is not None for v in got.values())} of {len(names)} values present for C0000003"


def _serve_ours(params: dict, meter, store: str, extra_env: dict | None = None, workers: int = 1) -> dict:
    p = _paths(params)
    port = _free_port()
    cmd = [sys.executable, "-m", "feature_factory.cli", "serve", "--store", store, "--port", str(port),
           "--workers", str(workers), "--max-ids", "1000"]
    if store == "sqlite":
        cmd += ["--path", str(p["sqlite"])]
    env = {"FEATURE_FACTORY_ONLINE_STORE_PATH": str(p["sqlite"]), **(extra_env or {})}
    probe = loadgen.http_request("/features", b'{"entity_ids": ["C0000001"]}', port)
    server = Server(cmd, port, probe, Path(params["dir"]) / f"server_ours_{store}_{workers}w.log", env)
    try:
        server.wait()
        return {**_measure(params, meter, "ours", server, "/features"), "workers": workers}
    finally:
        server.stop()


def ours_sqlite(params: dict, meter) -> dict:
    return _serve_ours(params, meter, "sqlite")


def ours_sqlite_2w(params: dict, meter) -> dict:
    return _serve_ours(params, meter, "sqlite", workers=2)


@contextmanager
def _redis_server(params: dict, name: str):
    """A private redis-server for one contender (its folder `<dir>/<name>`), published with the
    store's rows; yields its URL. Stopped whatever happens."""
    port = _free_port()
    folder = Path(params["dir"]) / name
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        _publish(params, "redis", url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


NO_REDIS = {"skipped": "redis-server not installed (scripts/ensure-redis.sh)"}


def ours_redis(params: dict, meter, workers: int = 1) -> dict:
    if shutil.which("redis-server") is None:
        return dict(NO_REDIS)
    with _redis_server(params, "redis") as url:
        return _serve_ours(params, meter, "redis", {"FEATURE_FACTORY_REDIS_URL": url}, workers=workers)


def ours_redis_2w(params: dict, meter) -> dict:
    return ours_redis(params, meter, workers=2)


def dict_floor(params: dict, meter) -> dict:
    p = _paths(params)
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench.serving_floor:app",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    probe = loadgen.http_request("/", b'{"entity_ids": ["C0000001"]}', port)
    server = Server(cmd, port, probe, Path(params["dir"]) / "server_floor.log",
                    {"FF_BENCH_FLOOR_PARQUET": str(p["parquet"])})
    try:
        server.wait()
        return _measure(params, meter, "floor", server, "/")
    finally:
        server.stop()


def _feast(params: dict, meter, extra: list[str], name: str) -> dict:
    if not _feast_available():
        return {"skipped": "feast is not installed here (a benchmark-only extra: run `make bench`)"}
    p = _paths(params)
    port = _free_port()
    feast = str(Path(sys.executable).parent / "feast")
    cmd = [feast, "-c", str(p["feast"]), "serve", "-h", "127.0.0.1", "-p", str(port), *extra]
    names = [s.name for s in synth.features()]
    probe = loadgen.http_request("/get-online-features", json.dumps(
        {"features": [f"customer_features:{n}" for n in names], "entities": {"customer_id": ["C0000001"]}}).encode(), port)
    server = Server(cmd, port, probe, Path(params["dir"]) / f"server_{name}.log", {"FEAST_USAGE": "False"})
    try:
        server.wait()
        return _measure(params, meter, "feast", server, "/get-online-features")
    finally:
        server.stop()


def feast_default(params: dict, meter) -> dict:
    return _feast(params, meter, [], "feast_default")


def feast_tuned(params: dict, meter) -> dict:
    """2 workers, no access log, no worker recycling (Feast restarts a worker every 1000 requests
    by default), registry refreshed hourly."""
    return _feast(params, meter, ["-w", "2", "--no-access-log", "--max-requests", "10000000", "-r", "3600"],
                  "feast_tuned")


# -- hostile requests (issue 29): does one client's large request hold everyone else's? ------------------
def _status_and_time(port: int, data: bytes) -> tuple[int, float]:
    async def once():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            t0 = time.perf_counter()
            status, _ = await loadgen._roundtrip(reader, writer, data)
            return status, time.perf_counter() - t0
        finally:
            writer.close()
    return asyncio.run(once())


def _hostile(params: dict, meter, store: str, extra_env: dict | None = None) -> dict:
    """Ours (1 worker): the issue's body (1,000 ids, one feature named 70,000 times, ~1 MB) once;
    then /health p50/p99 alone and while 4 clients send the widest valid request (1,000 ids,
    every feature named twice: the de-duplicated, decoded-subset path)."""
    import threading

    p = _paths(params)
    port = _free_port()
    cmd = [sys.executable, "-m", "feature_factory.cli", "serve", "--store", store, "--port", str(port), "--max-ids", "1000"]
    if store == "sqlite":
        cmd += ["--path", str(p["sqlite"])]
    env = {"FEATURE_FACTORY_ONLINE_STORE_PATH": str(p["sqlite"]), **(extra_env or {})}
    probe = loadgen.http_request("/features", b'{"entity_ids": ["C0000001"]}', port)
    server = Server(cmd, port, probe, Path(params["dir"]) / f"server_hostile_{store}.log", env)
    names = [s.name for s in synth.features()]
    ids = _ids(1000)
    issue = loadgen.http_request("/features", json.dumps({"entity_ids": ids, "features": [names[0]] * 70_000}).encode(), port)
    widest = loadgen.http_request("/features", json.dumps({"entity_ids": ids, "features": names * 2}).encode(), port)
    health = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    seconds = float(params["seconds"]["100"])
    try:
        server.wait()
        with meter.measure():
            status, took = _status_and_time(port, issue)
            widest_status, widest_took = _status_and_time(port, widest)
            alone = asyncio.run(loadgen.sequential(port, [health] * 300, warmup=20))
            load: dict = {}
            t = threading.Thread(target=lambda: load.update(asyncio.run(loadgen.concurrent(port, [widest] * 20, 4, seconds))))
            t.start()
            time.sleep(0.3)
            busy = asyncio.run(loadgen.sequential(port, [health] * 300, warmup=0))
            t.join()
        return {"hostile": {"issue_body": {"status": status, "ms": took * 1000},
                            "widest_valid": {"status": widest_status, "ms": widest_took * 1000},
                            "health_alone": alone, "health_under_load": busy,
                            "load": {"rps": load.get("rps"), "errors": load.get("errors")}}}
    finally:
        server.stop()


def hostile_sqlite(params: dict, meter) -> dict:
    return _hostile(params, meter, "sqlite")


def hostile_redis(params: dict, meter) -> dict:
    if shutil.which("redis-server") is None:
        return dict(NO_REDIS)
    with _redis_server(params, "redis_hostile") as url:
        return _hostile(params, meter, "redis", {"FEATURE_FACTORY_REDIS_URL": url})
