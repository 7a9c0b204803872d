"""Serving fixtures: a real redis-server on a free port in tmp (skipped only when the binary is
absent: `scripts/ensure-redis.sh` installs Debian's package), and a small online table."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "remediation"))  # remediation_helpers

from feature_factory.serving.redis_store import RedisOnlineStore  # noqa: E402
from feature_factory.serving.sqlite_store import SQLiteOnlineStore  # noqa: E402
from serving_helpers import free_port  # noqa: E402


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed: run scripts/ensure-redis.sh (Debian's redis-server package)")
    port, folder = free_port(), tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request):
    return request.param


@pytest.fixture
def make_store(store_kind, tmp_path, request, monkeypatch):
    """A fresh store of the parametrized kind; also configured in the environment (the apply hook
    and `serve` read it from there)."""
    if store_kind == "sqlite":
        path = tmp_path / "online.sqlite"
        monkeypatch.setenv("FEATURE_FACTORY_ONLINE_STORE", "sqlite")
        monkeypatch.setenv("FEATURE_FACTORY_ONLINE_STORE_PATH", str(path))
        return lambda: SQLiteOnlineStore(path)
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FEATURE_FACTORY_ONLINE_STORE", "redis")
    monkeypatch.setenv("FEATURE_FACTORY_REDIS_URL", url)
    monkeypatch.setenv("FEATURE_FACTORY_REDIS_PREFIX", prefix)
    # A generous read timeout: these tests run the server in the process of a Dagster run on a
    # shared, loaded machine (its event loop can wait its turn); the stall tests set their own.
    return lambda: RedisOnlineStore(url, prefix, grace_seconds=5, timeout=5.0)
