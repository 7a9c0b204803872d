"""The online store contract: versioned snapshots of `customer_features_online` (or another
entity's `<entity>_features_online`, each in its own store), swapped atomically.

A store holds whole versions. `write` builds a new version beside the current one and switches the
current pointer in one atomic step; a reader always sees one version entirely (the old or the new,
never a mix). The previous version is kept for a grace period so a reader that resolved the old
pointer just before a swap still finishes on it. Backends: `sqlite_store` (embedded default, one
WAL-mode file under the project home) and `redis_store` (production).

Rows carry the entity id, the snapshot date, the snapshot's age in days when the version was built
and the served feature values as one JSON object (in `StoreMeta.features` order), serialised once
when the version is written so the server answers without re-encoding every value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

Row = tuple  # (entity_id, snapshot_date 'YYYY-MM-DD' | None, age_days at build | None, values JSON bytes)


# The one worker thread large reads and answers run on, off the server's event loop. One, not a
# pool: Python threads share one interpreter lock, so N threads building answers would each take
# turns before the event loop got its own; with one, the loop waits at most one switch interval
# (see `cli.app_from_env`), and large requests queue behind each other, not in front of small ones.
_OFF_LOOP = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ff-serving-off-loop")


async def off_loop(fn, *args):
    """`fn(*args)` on the serving worker thread, awaited from the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_OFF_LOOP, fn, *args)


class StoreError(RuntimeError):
    """The store cannot be written or read; the message names the store and the fix."""


@dataclass(frozen=True)
class FeatureField:
    name: str
    dtype: str  # 'BIGINT' | 'DOUBLE' | 'BOOLEAN' | 'VARCHAR'
    description: str = ""
    pii: bool = False  # the catalog's `pii: true`: masked for callers whose key lacks the pii scope


@dataclass(frozen=True)
class StoreMeta:
    """What a version holds: its id, when and from what it was built, and the served features."""

    version: str
    built_at: str  # ISO UTC timestamp
    reference_date: str | None  # the day snapshot ages were measured from
    ttl_days: int
    rows: int
    features: tuple[FeatureField, ...] = field(default_factory=tuple)
    source: str = "customer_features_online"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> StoreMeta:
        """The meta a version was written with; StoreError when it is not (a corrupt store)."""
        try:
            data = json.loads(text)
            # Fields this code does not know (a store published by a newer release) are ignored, so
            # a publisher can be upgraded before its servers.
            names = FeatureField.__dataclass_fields__
            data["features"] = tuple(FeatureField(**{k: v for k, v in f.items() if k in names})
                                     for f in data.get("features", ()))
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StoreError(f"a version's meta is unreadable ({type(exc).__name__}: {exc}): the store is "
                             "corrupt; publish it again") from exc

    @property
    def pii_names(self) -> frozenset[str]:
        """Served features the catalog marks `pii: true` (masked for callers without the pii scope)."""
        return frozenset(f.name for f in self.features if f.pii)

    def built_at_dt(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.built_at)


def store_asset(entity: str = "customer") -> str:
    """The asset that writes the entity's store: its online table's name + `_store`
    (`customer_features_online_store`, `product_features_online_store`)."""
    return f"{entity}_features_online_store"


def new_version(now: dt.datetime | None = None) -> str:
    """Sortable, unique enough for one writer at a time (writes are serialised by the pipeline)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S%f")


@dataclass(frozen=True)
class Lookup:
    """One read: the version it came from (None when the store holds none yet) and the rows found,
    by entity id."""

    meta: StoreMeta | None
    rows: dict[str, Row]
    state: str = "ok"  # ok | missing (no version written yet)


@dataclass(frozen=True)
class Erasure:
    """What `OnlineStore.erase` did: entries removed (over every kept version), entries of those
    ids still found afterwards (0 verifies it), and what was done to the bytes at rest."""

    erased: int
    remaining: int
    detail: str


class OnlineStore(ABC):
    """An online store backend. Writes are atomic swaps of whole versions; reads are consistent."""

    kind: str = "abstract"

    @abstractmethod
    def write(self, meta: StoreMeta, batches: Iterable[Sequence[Row]]) -> StoreMeta:
        """Write a new version from row batches, then make it current atomically. Returns the meta
        with the row count written. On failure the current version is unchanged."""

    @abstractmethod
    def lookup(self, entity_ids: Sequence[str]) -> Lookup:
        """Rows of the current version for these ids (missing ids are absent from `rows`). Never
        raises because the store is missing or mid-swap: that is `state='missing'` or the old or
        new version."""

    async def alookup(self, entity_ids: Sequence[str]) -> Lookup:
        """`lookup` for the server, never holding its event loop for long: a backend with an async
        client overrides it; one doing blocking work moves large reads to a thread."""
        return self.lookup(entity_ids)

    async def acurrent(self) -> StoreMeta | None:
        """`current` for the server (same rule as `alookup`)."""
        return self.current()

    @abstractmethod
    def current(self) -> StoreMeta | None:
        """The current version's meta, or None when nothing was written yet."""

    def describe(self) -> str:
        return self.kind

    def erase(self, entity_ids: Sequence[str]) -> Erasure:
        """Remove these ids from every version the store keeps (the current and the previous one),
        and their bytes from what the backend keeps at rest (issue 30: erasure). A backend that
        cannot says so with a StoreError, never by leaving them silently."""
        raise StoreError(f"online store {self.describe()} cannot erase ids")

    def close(self) -> None:  # pragma: no cover - backends override when they hold connections
        pass

    async def aclose(self) -> None:
        """Close from the server's event loop (a backend with an async client overrides it)."""
        self.close()
