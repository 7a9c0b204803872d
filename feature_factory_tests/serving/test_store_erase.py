"""OnlineStore.erase on SQLite and a real redis-server: every kept version, the meta, and the bytes
at rest (SQLite main file + WAL; Redis's RDB dump)."""

from __future__ import annotations

from pathlib import Path

from feature_factory.serving.redis_store import RedisOnlineStore
from feature_factory.serving.store import StoreMeta

GONE, KEPT = b"ERASE-ME-0042", b"KEEP-ME-0007"


def _meta(version: str) -> StoreMeta:
    return StoreMeta(version, "2024-01-02T00:00:00", "2024-01-02", 2, 0)


def _publish_twice(store) -> None:
    for version in ("20240101T000000000000", "20240102T000000000000"):
        store.write(_meta(version), [[(GONE.decode(), "2024-01-02", 0, b'{"f": 1.0}'),
                                      (KEPT.decode(), "2024-01-02", 0, b'{"f": 2.0}')]])


def test_erase_reaches_every_kept_version(make_store, store_kind):
    store = make_store()
    _publish_twice(store)
    done = store.erase([GONE.decode(), "never-stored"])
    assert (done.erased, done.remaining) == (2, 0)  # current + the previous version kept for readers
    found = store.lookup([GONE.decode(), KEPT.decode()])
    assert list(found.rows) == [KEPT.decode()]
    if store_kind == "sqlite":
        assert found.meta.rows == 1  # the version's meta counts what it holds now
        assert store.erase([GONE.decode()]).erased == 0


def test_sqlite_bytes_gone_from_main_file_and_wal(tmp_path):
    from feature_factory.serving.sqlite_store import SQLiteOnlineStore

    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    _publish_twice(store)
    files = [store.path, store.path.with_name(store.path.name + "-wal")]

    def scan(needle):
        return sum(f.read_bytes().count(needle) for f in files if f.exists())

    assert scan(GONE) > 0
    store.erase([GONE.decode()])
    assert scan(GONE) == 0 and scan(KEPT) > 0
    assert not files[1].exists() or files[1].stat().st_size == 0  # the WAL emptied, not just checkpointed


def test_redis_dump_rewritten_without_the_ids(redis_url):
    import uuid

    store = RedisOnlineStore(redis_url, f"erase:{uuid.uuid4().hex[:8]}", grace_seconds=60, timeout=5.0)
    _publish_twice(store)
    store.client.save()  # a dump holding the id, as a server that persists has
    dump = Path(store.client.config_get("dir")["dir"]) / store.client.config_get("dbfilename")["dbfilename"]
    assert GONE in dump.read_bytes()
    done = store.erase([GONE.decode()])
    assert (done.erased, done.remaining) == (2, 0) and "SAVE (RDB dump rewritten)" in done.detail
    assert GONE not in dump.read_bytes() and KEPT in dump.read_bytes()
