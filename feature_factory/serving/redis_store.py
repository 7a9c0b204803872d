"""The production online store: Redis (the `redis` client; the server reads with `redis.asyncio`).

Layout under a key prefix `<p>` (one per entity: `config.entity_prefix`): `<p>:rows:<version>` is a hash entity id -> the row
(snapshot_date, age_days and the values JSON, joined by 0x1f); `<p>:meta:<version>` the version's
meta; `<p>:current` the current version. A write fills the new hash (invisible until the pointer moves), then moves the
pointer and gives the previous version an expiry (the grace period) in one MULTI/EXEC. A read is one
Lua script (pointer + HMGET + meta), which Redis runs atomically: never a mix of versions.

Every call has a deadline. The server's reads go through `redis.asyncio` (hiredis parser) from a
bounded pool, with connect and read timeouts (`timeout`, default 1 s): a stalled or dead Redis
costs a request at most that long and answers 503, and never holds the event loop, so /health and
the other requests keep being answered. A connection refused is retried once (a Redis restart
leaves dead pooled connections); a timeout is not retried.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from feature_factory.serving.store import Erasure, Lookup, OnlineStore, Row, StoreError, StoreMeta, store_asset

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "ff:customer_features"
GRACE_SECONDS = 60  # the previous version lives this long after a swap
READ_TIMEOUT = 1.0  # seconds: connect and read deadline of the server's calls (a p99 is ~ms; 0.5 s
# gave spurious 503s on this 2-core machine at load 11, when the server shared its process with a run)
WRITE_TIMEOUT = 30.0  # seconds: a publish's calls (a batch of thousands of rows)
POOL_SIZE = 64  # connections of one server process; a request waits at most READ_TIMEOUT for one
BATCH_IDS = 2000  # ids of concurrent requests read in one script call
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
    if not isinstance(parts, list) or len(parts) != len(ids) + 2:
        raise StoreError(f"online store: the lookup answered {type(parts).__name__} of an unexpected length; "
                         f"is the prefix another program's keys? materialize {asset} again")
    if meta is None:
        if not parts[1]:
            raise StoreError("online store: the current version's meta is missing (a write in progress "
                             f"crashed?); materialize {asset} again")
        metas.clear()
        meta = metas[parts[0]] = StoreMeta.from_json(parts[1])
    rows: dict[str, Row] = {}
    try:
        for i, raw in enumerate(parts[2:]):
            if raw:  # Lua turns a nil into false, which the client returns as None
                day, age, values = raw.split(SEP, 2)
                rows[ids[i]] = (ids[i], day.decode() or None, int(age) if age else None, values)
    except (ValueError, TypeError, AttributeError) as exc:
        raise StoreError(f"online store: a stored row is malformed ({exc}); materialize {asset} again") from exc
    return Lookup(meta, rows, "ok")


class RedisOnlineStore(OnlineStore):
    kind = "redis"

    def __init__(self, url: str = DEFAULT_URL, prefix: str = DEFAULT_PREFIX,
                 grace_seconds: int = GRACE_SECONDS, batch_size: int = 5000, asset: str = store_asset(),
                 timeout: float = READ_TIMEOUT, pool_size: int = POOL_SIZE) -> None:
        from redis.connection import parse_url

        try:
            parse_url(url)
        except ValueError as exc:
            raise ValueError(f"Redis URL {_safe_url(url)!r}: {exc} (FEATURE_FACTORY_REDIS_URL, --redis-url)") from None
        self.url, self.prefix, self.grace_seconds, self.batch_size = url, prefix, grace_seconds, batch_size
        self.asset = asset  # the asset that writes this store (named in errors)
        self.timeout, self.pool_size = timeout, pool_size
        self._sync = None
        self._script = None
        self._async = None  # (event loop, client, script): a redis.asyncio client serves one loop
        self._metas: dict[bytes, StoreMeta] = {}  # parsed once per version
        self._queue: deque = deque()  # (ids, future) of lookups waiting for the next script call
        self._draining = False

    def describe(self) -> str:
        return f"redis:{_safe_url(self.url)} prefix {self.prefix}"

    def _retry(self):
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.retry import Retry

        return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))

    @property
    def client(self):
        """The synchronous client (publishing, the CLI's start-up check, tests)."""
        if self._sync is None:
            import redis

            self._sync = redis.Redis.from_url(self.url, socket_connect_timeout=max(self.timeout, 2.0),
                                              socket_timeout=WRITE_TIMEOUT, retry=self._retry())
            self._script = self._sync.register_script(_LOOKUP)
        return self._sync

    def _aclient(self):
        """(loop, client, script, connection) of the running event loop: the pooled client for
        small calls (/health) and one connection of its own for the lookups, which are
        serialised by `alookup` anyway (one call in flight), so they skip the pool."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            from redis.asyncio import BlockingConnectionPool, Redis
            from redis.asyncio.connection import Connection, parse_url

            options = dict(socket_connect_timeout=self.timeout, socket_timeout=self.timeout, retry=self._retry())
            pool = BlockingConnectionPool.from_url(self.url, max_connections=self.pool_size, timeout=self.timeout,
                                                   **options)
            client = Redis(connection_pool=pool)
            kwargs = parse_url(self.url)
            conn = kwargs.pop("connection_class", Connection)(**kwargs, **options)
            self._async = (loop, client, client.register_script(_LOOKUP), conn)
            self._queue, self._draining = deque(), False  # nothing carries over from another loop
        return self._async

    async def _call(self, ids: Sequence[str]):
        """One lookup script call for `ids` on the lookup connection (loading the script into a
        Redis that does not have it, e.g. after a restart)."""
        from redis.exceptions import NoScriptError

        _, _, script, conn = self._aclient()
        known = next(iter(self._metas), b"")  # the version whose meta we hold
        args = (1, self._key("current"), self.prefix, known, *ids)
        try:
            try:
                await conn.send_command("EVALSHA", script.sha, *args)
                return await conn.read_response()
            except NoScriptError:
                await conn.send_command("SCRIPT", "LOAD", _LOOKUP)
                await conn.read_response()
                await conn.send_command("EVALSHA", script.sha, *args)
                return await conn.read_response()
        except BaseException:
            await conn.disconnect(nowait=True)  # a reply may still be on its way: never read it as the next one
            raise

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def erase(self, entity_ids: Sequence[str]) -> Erasure:
        """HDEL the ids from every version's hash under the prefix (the current one and the previous
        one in its grace period), then rewrite what Redis keeps on disk: SAVE when it writes RDB
        dumps (configured, or one was saved since it started), BGREWRITEAOF when the AOF is on."""
        import redis

        ids = list(entity_ids)
        try:
            r = self.client
            keys = list(r.scan_iter(match=f"{self.prefix}:rows:*", count=1000))
            erased = sum(int(r.hdel(k, *ids)) for k in keys) if ids else 0
            pipe = r.pipeline(transaction=False)
            for k in keys:
                pipe.hmget(k, ids)
            remaining = sum(v is not None for got in (pipe.execute() if keys and ids else []) for v in got)
            done = []
            try:
                info = r.info("persistence")
                saves = str(r.config_get("save").get("save", "")).strip()
                if saves or int(info.get("rdb_saves", 0) or 0):  # a dump exists or will be written
                    r.save()
                    done.append("SAVE (RDB dump rewritten)")
                if int(info.get("aof_enabled", 0) or 0):
                    r.bgrewriteaof()
                    done.append("BGREWRITEAOF (append-only file rewritten)")
            except redis.ResponseError as exc:  # managed Redis may refuse CONFIG / SAVE
                done.append(f"persistence not rewritten ({exc}): run SAVE / BGREWRITEAOF on the server")
        except redis.RedisError as exc:
            raise StoreError(f"cannot erase from online store {self.describe()}: {exc}") from exc
        at_rest = "; ".join(done) or "no RDB or AOF persistence in use"
        return Erasure(erased, remaining, f"{self.describe()}: HDEL from {len(keys)} version(s); {at_rest}")

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

    async def alookup(self, entity_ids: Sequence[str]) -> Lookup:
        """The lookups of concurrent requests share script calls: one call is in flight at a time;
        the requests arriving meanwhile queue and go together in the next call (up to BATCH_IDS
        ids). One Lua call reads one version, so every request still gets one whole version; a
        request alone makes its own call at once. Under load this replaces N round trips through
        redis.asyncio (whose per-call cost, not Redis's, was the limit) with one."""
        loop = self._aclient()[0]
        if self._draining:
            future = loop.create_future()
            self._queue.append((entity_ids, future))
            return await future
        self._draining = True
        try:
            parts = await self._call(entity_ids)
        except (_redis_errors() + (OSError,)) as exc:
            error = StoreError(f"cannot read online store {self.describe()}: {_reason(exc)}")
            self._fail_queue(error)  # the queued requests would each wait for the same Redis
            raise error from exc
        finally:
            if self._queue:
                loop.create_task(self._drain())  # it keeps _draining until the queue is empty
            else:
                self._draining = False
        return _decode(parts, entity_ids, self._metas, self.asset)

    def _fail_queue(self, error: StoreError) -> None:
        while self._queue:
            _, future = self._queue.popleft()
            if not future.done():
                future.set_exception(error)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, taken = [], 0
                while self._queue and (not batch or taken + len(self._queue[0][0]) <= BATCH_IDS):
                    item = self._queue.popleft()
                    batch.append(item)
                    taken += len(item[0])
                try:
                    parts = await self._call([e for item in batch for e in item[0]])
                except (_redis_errors() + (OSError,)) as exc:
                    error = StoreError(f"cannot read online store {self.describe()}: {_reason(exc)}")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    self._fail_queue(error)
                    continue
                offset = 2
                for wanted, future in batch:
                    piece = parts[:2] + parts[offset:offset + len(wanted)] if parts else parts
                    offset += len(wanted)
                    if future.done():  # its request was cancelled (client gone)
                        continue
                    try:
                        future.set_result(_decode(piece, wanted, self._metas, self.asset))
                    except StoreError as exc:
                        future.set_exception(exc)
        finally:
            self._draining = False

    def current(self) -> StoreMeta | None:
        import redis

        try:
            version = self.client.get(self._key("current"))
            raw = self.client.get(self._key("meta", version.decode())) if version else None
        except redis.RedisError as exc:
            raise StoreError(f"cannot read online store {self.describe()}: {_reason(exc)}") from exc
        return StoreMeta.from_json(raw) if raw else None

    async def acurrent(self) -> StoreMeta | None:
        import redis

        try:
            # The lookup script with no ids: pointer and meta in one round trip, on the pool (not
            # queued behind the lookups), so /health answers while large reads are in flight.
            _, _, script, _ = self._aclient()
            parts = await script(keys=[self._key("current")], args=[self.prefix, b""])
        except (redis.RedisError, OSError) as exc:
            raise StoreError(f"cannot read online store {self.describe()}: {_reason(exc)}") from exc
        if not parts:
            return None
        if not parts[1]:
            raise StoreError(f"online store {self.describe()}: the current version's meta is missing; "
                             f"materialize {self.asset} again")
        return StoreMeta.from_json(parts[1])

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        self._async = None  # its loop is gone or closes it (aclose)

    async def aclose(self) -> None:
        if self._async is not None:
            _, client, _, conn = self._async
            self._async = None
            await conn.disconnect()
            await client.aclose()
        self.close()


def _redis_errors() -> tuple:
    import redis

    return (redis.RedisError,)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{text} (timed out)" if "timeout" in type(exc).__name__.lower() and "time" not in text.lower() else text


def _safe_url(url: str) -> str:
    """The URL without its password (describe() reaches logs and /health)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + netloc, parts.path, parts.query, parts.fragment))
