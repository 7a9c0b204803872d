"""Which online store: a config with a `type` discriminator (sqlite | redis), read from the
environment in one place so the asset, the apply/rollback hook and `feature-factory serve` agree.

- `FEATURE_FACTORY_ONLINE_STORE`: `sqlite` (default) or `redis`.
- `FEATURE_FACTORY_ONLINE_STORE_PATH`: the SQLite file (default `<home>/online_store.sqlite`).
- `FEATURE_FACTORY_REDIS_URL`: default `redis://localhost:6379/0`; `FEATURE_FACTORY_REDIS_PREFIX`;
  `FEATURE_FACTORY_REDIS_TIMEOUT`: seconds a server's Redis connect or read may take (default 1).

One store per entity, derived from that one configuration (`store(entity)`), so they never collide:

| entity | SQLite file | Redis key prefix |
|---|---|---|
| `customer` | the configured file (`online_store.sqlite`) | the configured prefix (`ff:customer_features`) |
| another, e.g. `product` | `<stem>.<entity><suffix>` beside it (`online_store.product.sqlite`) | `<prefix>:<entity>`, or `ff:<entity>_features` when no prefix is set |

A file per entity rather than per-entity tables in one file: each file has its own WAL write
lock, so publishing one entity never waits on (or blocks) another's swap, and the customer's file,
its statements and its read path stay exactly as they were. Entity names are snake_case (no `.`
or `:`), so no derived name can equal another entity's or the customer's.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from feature_factory.catalog.sources import CUSTOMER as CUSTOMER_ENTITY
from feature_factory.serving.redis_store import DEFAULT_PREFIX, DEFAULT_URL, GRACE_SECONDS, READ_TIMEOUT, RedisOnlineStore
from feature_factory.serving.sqlite_store import SQLITE_FILE, SQLiteOnlineStore, default_path
from feature_factory.serving.store import OnlineStore, store_asset

STORE_TYPES = ("sqlite", "redis")
CUSTOMER = CUSTOMER_ENTITY.name  # the churn example's entity: the store as configured
DEFAULT_PORT = 6570  # beside Feast's 6566, so both can run on one machine


def entity_path(path: str | Path, entity: str = CUSTOMER) -> Path:
    """The entity's SQLite file: the customer's is `path`; another's sits beside it."""
    path = Path(path)
    return path if entity == CUSTOMER else path.with_name(f"{path.stem}.{entity}{path.suffix}")


def entity_prefix(prefix: str | None, entity: str = CUSTOMER) -> str:
    """The entity's Redis key prefix: the customer's is `prefix` (default ff:customer_features)."""
    if entity == CUSTOMER:
        return prefix or DEFAULT_PREFIX
    return f"{prefix}:{entity}" if prefix else f"ff:{entity}_features"


def make_store(type: str = "sqlite", path: str | None = None, redis_url: str | None = None,
               redis_prefix: str | None = None, grace_seconds: int = GRACE_SECONDS,
               entity: str = CUSTOMER, redis_timeout: float | None = None) -> OnlineStore:
    """The store of `entity` (the customer's by default) on the chosen backend."""
    kind = (type or "sqlite").strip().lower()
    if kind == "sqlite":
        return SQLiteOnlineStore(entity_path(path or default_path(), entity))
    if kind == "redis":
        return RedisOnlineStore(redis_url or DEFAULT_URL, entity_prefix(redis_prefix, entity), grace_seconds,
                                asset=store_asset(entity), timeout=redis_timeout or READ_TIMEOUT)
    raise ValueError(f"online store type {type!r} is not known; choose one of {', '.join(STORE_TYPES)} "
                     "(FEATURE_FACTORY_ONLINE_STORE)")


class OnlineStoreResource(dg.ConfigurableResource):
    """The online store the pipeline writes and `feature-factory serve` reads."""

    type: str = Field(default="sqlite", description="Backend: 'sqlite' (one WAL-mode file under the "
                      "project home) or 'redis'.")
    path: str | None = Field(default=None, description="SQLite file of the customer store; default "
                             "<FEATURE_FACTORY_HOME>/online_store.sqlite. Another entity's is beside it, "
                             "<stem>.<entity>.sqlite.")
    redis_url: str | None = Field(default=None, description=f"Redis URL; default {DEFAULT_URL}.")
    redis_prefix: str | None = Field(default=None, description=f"Key prefix of the customer store in Redis; "
                                     f"default {DEFAULT_PREFIX}. Another entity's is <prefix>:<entity> "
                                     "(ff:<entity>_features by default).")
    grace_seconds: int = Field(default=GRACE_SECONDS, ge=0, description="Redis: how long the previous "
                               "version stays readable after a swap.")
    redis_timeout: float | None = Field(default=None, gt=0, description=f"Redis: seconds a connect or a "
                                        f"read of the feature server may take before it answers 503 "
                                        f"(default {READ_TIMEOUT}).")

    def store(self, entity: str = CUSTOMER) -> OnlineStore:
        """The store of `entity` (each entity has its own: file or key prefix, see the module doc)."""
        return make_store(self.type, self.path, self.redis_url, self.redis_prefix, self.grace_seconds, entity,
                          self.redis_timeout)

    @classmethod
    def from_env(cls, home: Path | None = None) -> OnlineStoreResource:
        """The environment's store; a SQLite file under `home` (when given) unless
        FEATURE_FACTORY_ONLINE_STORE_PATH names another."""
        default = str(home / SQLITE_FILE) if home else None
        timeout = os.environ.get("FEATURE_FACTORY_REDIS_TIMEOUT") or None
        try:
            timeout = float(timeout) if timeout else None
        except ValueError:
            raise ValueError(f"FEATURE_FACTORY_REDIS_TIMEOUT={timeout!r} is not a number of seconds") from None
        return cls(redis_timeout=timeout, type=os.environ.get("FEATURE_FACTORY_ONLINE_STORE") or "sqlite",
                   path=os.environ.get("FEATURE_FACTORY_ONLINE_STORE_PATH") or default,
                   redis_url=os.environ.get("FEATURE_FACTORY_REDIS_URL") or None,
                   redis_prefix=os.environ.get("FEATURE_FACTORY_REDIS_PREFIX") or None)


def store_from_env(entity: str = CUSTOMER) -> OnlineStore:
    """The entity's store as the environment configures it (`serve` uses it)."""
    return OnlineStoreResource.from_env().store(entity)
