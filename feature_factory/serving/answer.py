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

from feature_factory.serving.store import Lookup, StoreError, StoreMeta

DEFAULT_MAX_IDS = 1000
# Entries of `features` as sent (duplicates included). Duplicates are dropped before any work, so a
# real request never comes near this; it bounds the parsing of a hostile list (issue 29: one small
# body naming a feature 70,000 times for 1,000 ids held the event loop for seconds).
MAX_FEATURE_ENTRIES = 1000
REQUEST_KEYS = ("entity_ids", "features")


class BadRequest(ValueError):
    """A request the server refuses with a 400; the message says what is wrong and where."""


@dataclass(frozen=True)
class Query:
    entity_ids: list[str]
    features: list[str] | None


def _show(value, limit: int = 60) -> str:
    """A value for an error message, cut short (a hostile value may be a megabyte)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def parse_query(body, max_ids: int = DEFAULT_MAX_IDS) -> Query:
    """The request, checked: ids as strings (in request order, duplicates kept: the answer has one
    result per id asked), `features` de-duplicated in the asked order and bounded."""
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
            raise BadRequest(f"entity_ids[{i}] is {_show(v)}: an entity id is a non-empty string (or an integer)")
    features = body.get("features")
    if features is not None:
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise BadRequest("features must be a list of feature names (or omitted for all served features)")
        if len(features) > MAX_FEATURE_ENTRIES:
            raise BadRequest(f"too many features: {len(features)} > {MAX_FEATURE_ENTRIES} entries; "
                             "name each feature once")
        features = list(dict.fromkeys(features))
    return Query(out, features)


def check_features(features: list[str] | None, meta: StoreMeta | None,
                   visible: Sequence[str] | None = None) -> list[str] | None:
    """`features` when the store serves them all; else a 400 naming the unknown ones and listing
    the served features (`visible`: those the caller may read, when its key restricts them)."""
    if features is None or meta is None:
        return features
    served = meta.feature_names if visible is None else tuple(visible)
    unknown = [f for f in features if f not in served]
    if unknown:
        shown = [_show(f, 80) for f in unknown[:10]]
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise BadRequest(f"unknown feature(s) [{', '.join(shown)}]{more}; served features: {list(served)}")
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
    all features is spliced in as it is; a subset (or an answer with masked features: PII the
    caller may not read, always null) is decoded and re-encoded; stale and missing rows get
    all-null values. Layouts are cached per (version, features, masked)."""

    def __init__(self, ttl_override: int | None = None) -> None:
        self.ttl_override = ttl_override
        self._plans: dict[tuple, tuple] = {}

    def ttl(self, meta: StoreMeta) -> int:
        return meta.ttl_days if self.ttl_override is None else self.ttl_override

    def _plan(self, meta: StoreMeta | None, features: list[str] | None, state: str, masked: frozenset) -> tuple:
        key = (meta.version if meta else state, None if features is None else tuple(features), masked)
        plan = self._plans.get(key)
        if plan is None:
            names = (list(meta.feature_names) if meta else []) if features is None else list(features)
            masked_here = [n for n in names if n in masked]
            nulls = orjson.dumps(dict.fromkeys(names))
            missing_tail = b'","found":false,"snapshot_date":null,"age_days":null,"stale":null,"values":' + nulls + b"}"
            if len(self._plans) > 256:
                self._plans.clear()
            if meta is None:
                store = {"state": state, "version": None}
            else:
                store = {"state": "ok", "version": meta.version, "built_at": meta.built_at, "ttl_days": self.ttl(meta)}
            head = b'{"store":' + orjson.dumps(store) + b',"features":' + orjson.dumps(names)
            if masked_here:
                head += b',"masked":' + orjson.dumps(masked_here)
            head += b',"results":['
            built = meta.built_at_dt().date() if meta else None
            decode = features is not None or bool(masked_here)
            plan = self._plans[key] = (names, nulls, missing_tail, decode, head, built, frozenset(masked_here))
        return plan

    def answer(self, query: Query, lookup: Lookup, now: dt.datetime, masked: frozenset = frozenset()) -> Answer:
        """The answer to `query` from `lookup`; features in `masked` are null for every entity.
        A row whose stored values are not JSON (a corrupt store) raises StoreError: never a broken
        answer, never a 500."""
        meta = lookup.meta
        names, nulls, missing_tail, decode, head, built, hidden = self._plan(meta, query.features, lookup.state, masked)
        out = Answer(b"")
        parts = []
        if meta is not None:
            ttl = self.ttl(meta)
            aged = max(0, (now.date() - built).days)  # whole days since the version was built
        rows = lookup.rows
        e = None
        try:
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
                elif decode:
                    have = orjson.loads(row[3])
                    values = orjson.dumps({n: None if n in hidden else have.get(n) for n in names})
                else:
                    values = row[3]
                    if values[:1] != b"{" or values[-1:] != b"}":
                        raise ValueError("the values are not a JSON object")
                parts.append(b'{"entity_id":"%s","found":true,"snapshot_date":%s,"age_days":%s,"stale":%s,"values":%s}' % (
                    key, b"null" if row[1] is None else orjson.dumps(row[1]),
                    b"null" if age is None else b"%d" % age, b"true" if stale else b"false", values))
        except (TypeError, ValueError, AttributeError) as exc:
            # Only a store whose rows are not what `write` stored gets here (a corrupt file).
            raise StoreError(f"the stored row of {_show(e)} is malformed ({exc}): the store is corrupt; "
                             "publish it again") from exc
        out.body = head + b",".join(parts) + b"]}"
        return out


def dedupe(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))
