"""The HTTP feature server: a Starlette (ASGI) app served by uvicorn (`feature-factory serve`),
for one entity's store (the customer's by default; `serve --entity product` serves product ids).

- `POST /features` {"entity_ids": [...], "features": [...]?} -> per entity `found`, `snapshot_date`,
  `age_days`, `stale` and `values` (all null when stale: older than the TTL).
- `GET /schema`: the entity key the ids are values of (`customer_id`, `product_id`, ...), the served
  features (name, dtype, description), TTL, version, request limits.
- `GET /health`: 200 when a version is served, 503 while the store holds none yet.
- `GET /metrics`: Prometheus text (request counts, latency histogram, store version).

A bad request is a 400 with a message saying what and where. A valid request never gets a 500
because the store is missing or being swapped: a missing store answers found=false with
store.state "missing"; a swap is invisible (the store reads one version atomically). An
unreachable backend (Redis down) is a 503 with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from feature_factory.features.entities import CUSTOMER_TABLES, EntityTables
from feature_factory.serving.answer import DEFAULT_MAX_IDS, Answerer, BadRequest, check_features, dedupe, parse_query
from feature_factory.serving.metrics import ServerMetrics
from feature_factory.serving.store import OnlineStore, StoreError, store_asset

log = logging.getLogger("feature_factory.serving")
MAX_BODY_BYTES = 1 << 20  # 1 MiB: far above 1000 ids


def _closing(store: OnlineStore):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        store.close()
    return lifespan


def _json(obj, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


def create_app(store: OnlineStore, max_ids: int = DEFAULT_MAX_IDS, ttl_days: int | None = None,
               entity: EntityTables = CUSTOMER_TABLES):
    """The app answering `entity`'s ids from `store` (that entity's store)."""
    answerer = Answerer(ttl_days)
    metrics = ServerMetrics()

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
        try:
            status, payload = await _features(b"".join(chunks), size)
        except Exception as exc:  # a bug, not the request: say so rather than drop the connection
            log.exception("feature request failed")
            status, payload = 500, orjson.dumps({"error": f"internal error: {type(exc).__name__}: {exc}"})
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
        metrics.observe("/features", status, time.perf_counter() - t0)

    async def _features(raw: bytes, size: int) -> tuple[int, bytes]:
        if size > MAX_BODY_BYTES:
            return 400, orjson.dumps({"error": f"the body is {size} bytes; at most {MAX_BODY_BYTES} are read"})
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return 400, orjson.dumps({"error": f"the body is not valid JSON: {exc}"})
        try:
            query = parse_query(body, max_ids)
            lookup = await store.alookup(dedupe(query.entity_ids))
            check_features(query.features, lookup.meta)
        except BadRequest as exc:
            return 400, orjson.dumps({"error": str(exc)})
        except StoreError as exc:
            log.warning("online store unavailable: %s", exc)
            return 503, orjson.dumps({"error": f"online store unavailable: {exc}"})
        answer = answerer.answer(query, lookup, dt.datetime.now(dt.timezone.utc))
        meta = lookup.meta
        metrics.saw_version(store.kind, meta.version if meta else None, meta.rows if meta else None)
        metrics.count_entities(answer.found - answer.stale, answer.stale, answer.missing)
        return 200, answer.body

    def _current():
        try:
            return store.current(), None
        except StoreError as exc:
            return None, str(exc)

    async def schema(request: Request) -> Response:
        meta, err = _current()
        if err:
            return _error(f"online store unavailable: {err}", 503)
        body = {"entity": entity.key, "store": store.kind, "max_ids_per_request": max_ids,
                "version": None, "ttl_days": ttl_days, "features": []}
        if meta is not None:
            body.update(version=meta.version, built_at=meta.built_at, reference_date=meta.reference_date,
                        rows=meta.rows, ttl_days=answerer.ttl(meta),
                        features=[{"name": f.name, "dtype": f.dtype, "description": f.description}
                                  for f in meta.features])
        metrics.observe("/schema", 200, 0.0)
        return _json(body)

    async def health(request: Request) -> Response:
        meta, err = _current()
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
        meta, _ = _current()
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
    ], lifespan=_closing(store))
    app.state.store = store
    app.state.entity = entity
    app.state.metrics = metrics
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
