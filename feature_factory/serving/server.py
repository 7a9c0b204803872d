"""The HTTP feature server: a Starlette (ASGI) app served by uvicorn (`feature-factory serve`),
for one entity's store (the customer's by default; `serve --entity product` serves product ids).

- `POST /features` {"entity_ids": [...], "features": [...]?} -> per entity `found`, `snapshot_date`,
  `age_days`, `stale` and `values` (all null when stale: older than the TTL).
- `GET /schema`: the entity key the ids are values of (`customer_id`, `product_id`, ...), the served
  features (name, dtype, description; `pii`/`masked` on PII features), TTL, version, request limits.
- `GET /health`: 200 when a version is served, 503 while the store holds none yet or cannot be read.
- `GET /metrics`: Prometheus text (request counts, per key too, latency histogram, store version).

Access (`access.py`): with a keys file, /features and /schema need a key (401 without one, 403
outside its scope) and PII features are null for keys without the pii scope.
With a read log (`read_log.py`), each 200 answer also counts a read per served feature and key,
in memory; the counts are flushed to SQLite every `flush_seconds` off the loop and at shutdown.

A bad request is a 400 with a message saying what and where. A valid request never gets a 500
because the store is missing, being swapped, corrupt, replaced or unreachable: a missing store
answers found=false with store.state "missing"; a swap is invisible (the store reads one version
atomically); a store that cannot be read (a corrupt file, Redis down or stalled past its timeout)
is a 503 with the reason, and the next request after a republish (or Redis's return) is served
again, without a restart.

No request holds the event loop for more than a few milliseconds of work: `features` is
de-duplicated and bounded, ids are at most `max_ids`, large reads and answers run on worker
threads, and Redis is read through an async client with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.serving.access import OPEN, Denied, Policy, Scope, presented_key
from feature_factory.serving.answer import (
    DEFAULT_MAX_IDS, Answerer, BadRequest, Query, check_features, dedupe, parse_query,
)
from feature_factory.serving.prometheus import ServerMetrics
from feature_factory.serving.read_log import ReadLog
from feature_factory.serving.store import OnlineStore, StoreError, StoreMeta, off_loop, store_asset

log = logging.getLogger("feature_factory.serving")
MAX_BODY_BYTES = 1 << 20  # 1 MiB: far above 1000 ids
# Answers for more ids than this are built on a worker thread: a 1,000-id answer of decoded
# subsets is milliseconds of Python that would otherwise hold every other request (and /health).
INLINE_ANSWER_IDS = 64


def _closing(store: OnlineStore, read_log: ReadLog | None):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        flusher = None
        if read_log is not None:
            async def flush_every():
                while True:
                    await asyncio.sleep(read_log.flush_seconds)
                    await off_loop(read_log.flush_logged)
            flusher = asyncio.create_task(flush_every())
        try:
            yield
        finally:
            if flusher is not None:
                flusher.cancel()
                read_log.flush_logged()  # the counts since the last periodic flush
            await store.aclose()
    return lifespan


def _json(obj, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


def create_app(store: OnlineStore, max_ids: int = DEFAULT_MAX_IDS, ttl_days: int | None = None,
               entity: Entity = CUSTOMER_TABLES, policy: Policy | None = None,
               pii: Iterable[str] = (), read_log: ReadLog | None = None):
    """The app answering `entity`'s ids from `store` (that entity's store). `policy`: the API keys
    (None or empty: open); `pii`: features to treat as PII beside those the store's version marks
    (the catalog's marks as the server found them at start, so a mark added after the last publish
    still masks). `read_log`: where online reads per feature and key are counted (None: not counted)."""
    answerer = Answerer(ttl_days)
    metrics = ServerMetrics()
    policy = policy or Policy({})
    keyed = policy.enabled  # an open server reads no key header and counts no key
    pii_extra = frozenset(pii)
    masks: dict[tuple, frozenset] = {}  # (version, key name) -> masked features
    last_warning = [0.0]

    def warn_unavailable(reason: str) -> None:
        # Once per 10 s, not once per request: a stalled store under load would flood the log.
        now = time.monotonic()
        if now - last_warning[0] >= 10.0:
            last_warning[0] = now
            log.warning("online store unavailable (503s until it is back; logged at most every 10 s): %s", reason)

    def masked_for(caller: Scope, meta: StoreMeta | None) -> frozenset:
        if caller.pii or meta is None:
            return frozenset()
        got = masks.get((meta.version, caller.name))
        if got is None:
            if len(masks) > 1024:
                masks.clear()
            got = masks[meta.version, caller.name] = caller.masked((meta.pii_names | pii_extra) & set(meta.feature_names))
        return got

    async def features(scope, receive, send) -> None:
        """POST /features as a bare ASGI endpoint: the hot path skips Starlette's middleware and
        request objects (measured at about half the time per request)."""
        t0 = time.perf_counter()
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_BODY_BYTES:
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        key = None
        try:
            status, payload, key = await _features(b"".join(chunks), size, scope["headers"])
        except Exception as exc:  # a bug, not the request: say so rather than drop the connection
            log.exception("feature request failed")
            status, payload = 500, orjson.dumps({"error": f"internal error: {type(exc).__name__}: {exc}"})
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
        metrics.observe("/features", status, time.perf_counter() - t0, key if keyed else None)

    async def _features(raw: bytes, size: int, headers) -> tuple[int, bytes, str]:
        if keyed:
            try:
                caller = policy.authenticate(presented_key(headers), entity.name)
            except Denied as denied:
                log.info("POST /features denied (%s): %s", denied.status, denied.message)
                return denied.status, orjson.dumps({"error": denied.message}), denied.key
        else:
            caller = OPEN
        who = caller.name
        if size > MAX_BODY_BYTES:
            return 400, orjson.dumps({"error": f"the body is {size} bytes; at most {MAX_BODY_BYTES} are read"}), who
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return 400, orjson.dumps({"error": f"the body is not valid JSON: {exc}"}), who
        try:
            query = parse_query(body, max_ids)
            if query.features is not None and caller.features is not None:
                outside = [f for f in query.features if f not in caller.features]
                if outside:
                    return 403, orjson.dumps({"error": f"key {who!r} may not read feature(s) {outside[:10]}; "
                                              f"its features: {sorted(caller.features)}"}), who
            ids = query.entity_ids
            lookup = await store.alookup(dedupe(ids) if len(ids) > 1 else ids)
            meta = lookup.meta
            names = query.features
            if caller.features is not None and meta is not None:
                visible = caller.visible(meta.feature_names)
                check_features(names, meta, visible)
                if names is None and len(visible) < len(meta.feature_names):
                    names = visible
            else:
                check_features(names, meta)
            if names is not query.features:
                query = Query(ids, names)
            masked = masked_for(caller, meta)
            now = dt.datetime.now(dt.timezone.utc)
            if len(ids) > INLINE_ANSWER_IDS:
                answer = await off_loop(answerer.answer, query, lookup, now, masked)
            else:
                answer = answerer.answer(query, lookup, now, masked)
        except BadRequest as exc:
            return 400, orjson.dumps({"error": str(exc)}), who
        except StoreError as exc:
            warn_unavailable(str(exc))
            return 503, orjson.dumps({"error": f"online store unavailable: {exc}"}), who
        metrics.saw_version(store.kind, meta.version if meta else None, meta.rows if meta else None)
        metrics.count_entities(answer.found - answer.stale, answer.stale, answer.missing)
        if read_log is not None and meta is not None:
            read_log.record(who, query.features if query.features is not None else meta.feature_names)
        return 200, answer.body, who

    async def _current():
        try:
            return await store.acurrent(), None
        except StoreError as exc:
            return None, str(exc)

    async def schema(request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            caller = policy.authenticate(presented_key(request.scope["headers"]), entity.name)
        except Denied as denied:
            metrics.observe("/schema", denied.status, time.perf_counter() - t0, denied.key if keyed else None)
            return _error(denied.message, denied.status)
        meta, err = await _current()
        if err:
            metrics.observe("/schema", 503, time.perf_counter() - t0, caller.name if keyed else None)
            return _error(f"online store unavailable: {err}", 503)
        body = {"entity": entity.key, "store": store.kind, "max_ids_per_request": max_ids,
                "version": None, "ttl_days": ttl_days, "features": []}
        if policy.enabled:
            body["key"] = caller.name
        if meta is not None:
            hidden = masked_for(caller, meta)
            pii_names = meta.pii_names | pii_extra
            shown = [f for f in meta.features if caller.features is None or f.name in caller.features]
            body.update(version=meta.version, built_at=meta.built_at, reference_date=meta.reference_date,
                        rows=meta.rows, ttl_days=answerer.ttl(meta),
                        features=[{"name": f.name, "dtype": f.dtype, "description": f.description,
                                   **({"pii": True, "masked": f.name in hidden} if f.name in pii_names else {})}
                                  for f in shown])
        metrics.observe("/schema", 200, time.perf_counter() - t0, caller.name if keyed else None)
        return _json(body)

    async def health(request: Request) -> Response:
        meta, err = await _current()
        if err:
            status, body = 503, {"status": "unavailable", "store": store.describe(), "error": err}
        elif meta is None:
            status, body = 503, {"status": "no_version", "store": store.describe(),
                                 "hint": f"materialize {store_asset(entity.name)}"}
        else:
            status, body = 200, {"status": "ok", "store": store.describe(), "version": meta.version,
                                 "rows": meta.rows, "built_at": meta.built_at}
        metrics.observe("/health", status, 0.0)
        return _json(body, status)

    async def prometheus(request: Request) -> Response:
        meta, _ = await _current()
        if meta is not None:
            metrics.saw_version(store.kind, meta.version, meta.rows)
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    async def features_not_post(request: Request) -> Response:
        return _error("POST a JSON body like {\"entity_ids\": [\"c1\"]} to /features", 405)

    app = Starlette(routes=[
        Route("/features", features_not_post),
        Route("/schema", schema, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ], lifespan=_closing(store, read_log))
    app.state.store = store
    app.state.entity = entity
    app.state.metrics = metrics
    app.state.policy = policy
    app.state.read_log = read_log
    return FeatureApp(app, features)


class FeatureApp:
    """POST /features to the bare endpoint; everything else (other routes, lifespan) to Starlette."""

    def __init__(self, app: Starlette, features) -> None:
        self.app, self.features, self.state = app, features, app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/features":
            await self.features(scope, receive, send)
        else:
            await self.app(scope, receive, send)
