"""Which online store: a config with a `type` discriminator (sqlite | redis), read from the
environment in one place so the asset, the apply/rollback hook and `feature-factory serve` agree.

- `FEATURE_FACTORY_ONLINE_STORE`: `sqlite` (default) or `redis`.
- `FEATURE_FACTORY_ONLINE_STORE_PATH`: the SQLite file (default `<home>/online_store.sqlite`).
- `FEATURE_FACTORY_REDIS_URL`: default `redis://localhost:6379/0`; `FEATURE_FACTORY_REDIS_PREFIX`.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from feature_factory.serving.redis_store import DEFAULT_PREFIX, DEFAULT_URL, GRACE_SECONDS, RedisOnlineStore
from feature_factory.serving.sqlite_store import SQLITE_FILE, SQLiteOnlineStore, default_path
from feature_factory.serving.store import OnlineStore

STORE_TYPES = ("sqlite", "redis")
DEFAULT_PORT = 6570  # beside Feast's 6566, so both can run on one machine


def make_store(type: str = "sqlite", path: str | None = None, redis_url: str | None = None,
               redis_prefix: str | None = None, grace_seconds: int = GRACE_SECONDS) -> OnlineStore:
    kind = (type or "sqlite").strip().lower()
    if kind == "sqlite":
        return SQLiteOnlineStore(path or default_path())
    if kind == "redis":
        return RedisOnlineStore(redis_url or DEFAULT_URL, redis_prefix or DEFAULT_PREFIX, grace_seconds)
    raise ValueError(f"online store type {type!r} is not known; choose one of {', '.join(STORE_TYPES)} "
                     "(FEATURE_FACTORY_ONLINE_STORE)")


class OnlineStoreResource(dg.ConfigurableResource):
    """The online store the pipeline writes and `feature-factory serve` reads."""

    type: str = Field(default="sqlite", description="Backend: 'sqlite' (one WAL-mode file under the "
                      "project home) or 'redis'.")
    path: str | None = Field(default=None, description="SQLite file; default <FEATURE_FACTORY_HOME>/online_store.sqlite.")
    redis_url: str | None = Field(default=None, description=f"Redis URL; default {DEFAULT_URL}.")
    redis_prefix: str | None = Field(default=None, description=f"Key prefix in Redis; default {DEFAULT_PREFIX}.")
    grace_seconds: int = Field(default=GRACE_SECONDS, ge=0, description="Redis: how long the previous "
                               "version stays readable after a swap.")

    def store(self) -> OnlineStore:
        return make_store(self.type, self.path, self.redis_url, self.redis_prefix, self.grace_seconds)

    @classmethod
    def from_env(cls, home: Path | None = None) -> OnlineStoreResource:
        """The environment's store; a SQLite file under `home` (when given) unless
        FEATURE_FACTORY_ONLINE_STORE_PATH names another."""
        default = str(home / SQLITE_FILE) if home else None
        return cls(type=os.environ.get("FEATURE_FACTORY_ONLINE_STORE") or "sqlite",
                   path=os.environ.get("FEATURE_FACTORY_ONLINE_STORE_PATH") or default,
                   redis_url=os.environ.get("FEATURE_FACTORY_REDIS_URL") or None,
                   redis_prefix=os.environ.get("FEATURE_FACTORY_REDIS_PREFIX") or None)


def store_from_env() -> OnlineStore:
    """The store the environment configures (the apply/rollback hook and `serve` use it)."""
    return OnlineStoreResource.from_env().store()
