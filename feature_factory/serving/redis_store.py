"""The production online store: Redis (the `redis` client).

Layout under a key prefix `<p>` (one per entity: `config.entity_prefix`): `<p>:rows:<version>` is a hash entity id -> the row
(snapshot_date, age_days and the values JSON, joined by 0x1f); `<p>:meta:<version>` the version's
meta; `<p>:current` the current version. A write fills the new hash (invisible until the pointer moves), then moves the
pointer and gives the previous version an expiry (the grace period) in one MULTI/EXEC. A read is one
Lua script (pointer + HMGET + meta), which Redis runs atomically: never a mix of versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from feature_factory.serving.store import Lookup, OnlineStore, Row, StoreError, StoreMeta, store_asset

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "ff:customer_features"
GRACE_SECONDS = 60  # the previous version lives this long after a swap
SEP = b"\x1f"  # unit separator: never in a date, an integer or JSON text (control chars are escaped)

# KEYS[1] = current pointer; ARGV[1] = prefix, ARGV[2] = the version whose meta the caller has
# (the meta is sent only for another version), ARGV[3..] = ids.
# Returns {version, meta or false, values...} or {} when no version exists.
_LOOKUP = """
local v = redis.call('GET', KEYS[1])
if not v then return {} end
local meta = false
if v ~= ARGV[2] then meta = redis.call('GET', ARGV[1] .. ':meta:' .. v) end
local out = {v, meta}
if #ARGV > 2 then
  local vals = redis.call('HMGET', ARGV[1] .. ':rows:' .. v, unpack(ARGV, 3))
  for i = 1, #vals do out[i + 2] = vals[i] end
end
return out
"""


def _encode(row: Row) -> bytes:
    day = (row[1] or "").encode()
    age = b"" if row[2] is None else str(int(row[2])).encode()
    return day + SEP + age + SEP + row[3]


def _decode(parts, ids: Sequence[str], metas: dict, asset: str = store_asset()) -> Lookup:
    if not parts:
        return Lookup(None, {}, "missing")
    meta = metas.get(parts[0])
    if meta is None:
        if not parts[1]:
            raise StoreError("online store: the current version's meta is missing (a write in progress "
                             f"crashed?); materialize {asset} again")
        metas.clear()
        meta = metas[parts[0]] = StoreMeta.from_json(parts[1])
    rows: dict[str, Row] = {}
    for i, raw in enumerate(parts[2:]):
        if raw:  # Lua turns a nil into false, which the client returns as None
            day, age, values = raw.split(SEP, 2)
            rows[ids[i]] = (ids[i], day.decode() or None, int(age) if age else None, values)
    return Lookup(meta, rows, "ok")


class RedisOnlineStore(OnlineStore):
    kind = "redis"

    def __init__(self, url: str = DEFAULT_URL, prefix: str = DEFAULT_PREFIX,
                 grace_seconds: int = GRACE_SECONDS, batch_size: int = 5000, asset: str = store_asset()) -> None:
        self.url, self.prefix, self.grace_seconds, self.batch_size = url, prefix, grace_seconds, batch_size
        self.asset = asset  # the asset that writes this store (named in errors)
        self._sync = None
        self._script = None
        self._metas: dict[bytes, StoreMeta] = {}  # parsed once per version

    def describe(self) -> str:
        return f"redis:{self.url} prefix {self.prefix}"

    @property
    def client(self):
        if self._sync is None:
            import redis

            self._sync = redis.Redis.from_url(self.url)
            self._script = self._sync.register_script(_LOOKUP)
        return self._sync

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def write(self, meta: StoreMeta, batches: Iterable[Sequence[Row]]) -> StoreMeta:
        import redis

        rows_key = self._key("rows", meta.version)
        try:
            r = self.client
            r.delete(rows_key)  # a crashed earlier attempt at the same version
            rows = 0
            for batch in batches:
                pipe = r.pipeline(transaction=False)
                for i in range(0, len(batch), self.batch_size):
                    chunk = batch[i:i + self.batch_size]
                    pipe.hset(rows_key, mapping={row[0]: _encode(row) for row in chunk})
                pipe.execute()
                rows += len(batch)
            meta = StoreMeta(**{**meta.__dict__, "rows": rows})
            previous = r.get(self._key("current"))
            pipe = r.pipeline(transaction=True)
            pipe.set(self._key("meta", meta.version), meta.to_json())
            pipe.set(self._key("current"), meta.version)
            if previous and previous.decode() != meta.version:
                old = previous.decode()
                pipe.expire(self._key("rows", old), self.grace_seconds)
                pipe.expire(self._key("meta", old), self.grace_seconds)
            pipe.execute()
        except redis.RedisError as exc:
            leftover = ""
            try:
                self.client.delete(rows_key)
            except redis.RedisError as cleanup:  # said in the error: the half-written key stays behind
                leftover = f" (and the partly written key {rows_key} could not be deleted: {cleanup})"
            raise StoreError(f"cannot write online store {self.describe()}: {exc}; is redis-server "
                             f"running at that URL?{leftover}") from exc
        return meta

    def lookup(self, entity_ids: Sequence[str]) -> Lookup:
        import redis

        self.client
        try:
            known = next(iter(self._metas), b"")  # the version whose meta we hold
            parts = self._script(keys=[self._key("current")], args=[self.prefix, known, *entity_ids])
        except redis.RedisError as exc:
            raise StoreError(f"cannot read online store {self.describe()}: {exc}") from exc
        return _decode(parts, entity_ids, self._metas, self.asset)

    # No async override: the synchronous client answers a loopback EVALSHA in tens of microseconds,
    # and redis.asyncio's per-call overhead measured several times that on this machine.

    def current(self) -> StoreMeta | None:
        import redis

        try:
            version = self.client.get(self._key("current"))
            raw = self.client.get(self._key("meta", version.decode())) if version else None
        except redis.RedisError as exc:
            raise StoreError(f"cannot read online store {self.describe()}: {exc}") from exc
        return StoreMeta.from_json(raw) if raw else None

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None
