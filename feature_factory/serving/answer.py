"""Pure request checking and answer building for the feature server (no HTTP here).

Freshness: a row's age is its snapshot's age when the version was built plus the whole days since
then (a store the pipeline stopped refreshing ages, it is not frozen fresh). A row older than the
TTL is served as `stale: true` with every value null: an expired value is never served as present.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from feature_factory.serving.store import Lookup, StoreMeta

DEFAULT_MAX_IDS = 1000
REQUEST_KEYS = ("entity_ids", "features")


class BadRequest(ValueError):
    """A request the server refuses with a 400; the message says what is wrong and where."""


@dataclass(frozen=True)
class Query:
    entity_ids: list[str]
    features: list[str] | None


def parse_query(body, max_ids: int = DEFAULT_MAX_IDS) -> Query:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object like {{\"entity_ids\": [\"c1\"]}}, got {type(body).__name__}")
    unknown = sorted(set(body) - set(REQUEST_KEYS))
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown}; a request has {list(REQUEST_KEYS)}")
    ids = body.get("entity_ids")
    if not isinstance(ids, list) or not ids:
        raise BadRequest("entity_ids must be a non-empty list of entity id strings")
    if len(ids) > max_ids:
        raise BadRequest(f"too many entity_ids: {len(ids)} > {max_ids} per request; split the request")
    out = []
    for i, v in enumerate(ids):
        if isinstance(v, str) and v:
            out.append(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(str(v))
        else:
            raise BadRequest(f"entity_ids[{i}] is {v!r}: an entity id is a non-empty string (or an integer)")
    features = body.get("features")
    if features is not None:
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise BadRequest("features must be a list of feature names (or omitted for all served features)")
    return Query(out, features)


def check_features(features: list[str] | None, meta: StoreMeta | None) -> list[str] | None:
    if features is None or meta is None:
        return features
    served = meta.feature_names
    unknown = [f for f in features if f not in served]
    if unknown:
        raise BadRequest(f"unknown feature(s) {unknown}; served features: {list(served)}")
    return features


@dataclass
class Answer:
    body: bytes  # the JSON response
    found: int = 0
    stale: int = 0
    missing: int = 0


_PLAIN_ID = re.compile(r'^[^"\\\x00-\x1f]*$')


class Answerer:
    """Builds the JSON answer. The store keeps each row's values as JSON, so a fresh row asked for
    all features is spliced in as it is; a subset is decoded and re-encoded; stale and missing rows
    get all-null values. Layouts are cached per (version, features)."""

    def __init__(self, ttl_override: int | None = None) -> None:
        self.ttl_override = ttl_override
        self._plans: dict[tuple, tuple] = {}

    def ttl(self, meta: StoreMeta) -> int:
        return meta.ttl_days if self.ttl_override is None else self.ttl_override

    def _plan(self, meta: StoreMeta | None, features: list[str] | None, state: str) -> tuple:
        key = (meta.version if meta else state, None if features is None else tuple(features))
        plan = self._plans.get(key)
        if plan is None:
            names = (list(meta.feature_names) if meta else []) if features is None else list(features)
            nulls = orjson.dumps(dict.fromkeys(names))
            missing_tail = b'","found":false,"snapshot_date":null,"age_days":null,"stale":null,"values":' + nulls + b"}"
            if len(self._plans) > 256:
                self._plans.clear()
            if meta is None:
                store = {"state": state, "version": None}
            else:
                store = {"state": "ok", "version": meta.version, "built_at": meta.built_at, "ttl_days": self.ttl(meta)}
            head = b'{"store":' + orjson.dumps(store) + b',"features":' + orjson.dumps(names) + b',"results":['
            built = meta.built_at_dt().date() if meta else None
            plan = self._plans[key] = (names, nulls, missing_tail, features is not None, head, built)
        return plan

    def answer(self, query: Query, lookup: Lookup, now: dt.datetime) -> Answer:
        meta = lookup.meta
        names, nulls, missing_tail, subset, head, built = self._plan(meta, query.features, lookup.state)
        out = Answer(b"")
        parts = []
        if meta is not None:
            ttl = self.ttl(meta)
            aged = max(0, (now.date() - built).days)  # whole days since the version was built
        rows = lookup.rows
        for e in query.entity_ids:
            # An id needs JSON escaping only with a quote, a backslash or a control character.
            key = e.encode() if _PLAIN_ID.match(e) else orjson.dumps(e)[1:-1]
            row = rows.get(e)
            if row is None:
                out.missing += 1
                parts.append(b'{"entity_id":"%s%s' % (key, missing_tail))
                continue
            out.found += 1
            age = None if row[2] is None else row[2] + aged
            stale = age is None or age > ttl
            if stale:
                out.stale += 1
                values = nulls
            elif subset:
                have = orjson.loads(row[3])
                values = orjson.dumps({n: have.get(n) for n in names})
            else:
                values = row[3]
            parts.append(b'{"entity_id":"%s","found":true,"snapshot_date":%s,"age_days":%s,"stale":%s,"values":%s}' % (
                key, b"null" if row[1] is None else b'"%s"' % row[1].encode(),
                b"null" if age is None else b"%d" % age, b"true" if stale else b"false", values))
        out.body = head + b",".join(parts) + b"]}"
        return out


def dedupe(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))
