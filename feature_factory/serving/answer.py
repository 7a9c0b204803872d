"""Pure request checking and answer building for the feature server (no HTTP here).

Freshness: a row's age is its snapshot's age when the version was built plus the whole days since
then (a store the pipeline stopped refreshing ages, it is not frozen fresh). A row older than the
TTL is served as `stale: true` with every value null: an expired value is never served as present.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

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


def age_now(age_at_build: int | None, built_at: dt.datetime, today: dt.date) -> int | None:
    if age_at_build is None:
        return None
    return int(age_at_build) + max(0, (today - built_at.date()).days)


class Answerer:
    """Builds answers for one version's layout (cached per version and feature list)."""

    def __init__(self, ttl_override: int | None = None) -> None:
        self.ttl_override = ttl_override
        self._plans: dict[tuple, tuple] = {}

    def ttl(self, meta: StoreMeta) -> int:
        return meta.ttl_days if self.ttl_override is None else self.ttl_override

    def _plan(self, meta: StoreMeta, features: list[str] | None) -> tuple:
        key = (meta.version, None if features is None else tuple(features))
        plan = self._plans.get(key)
        if plan is None:
            names = list(meta.feature_names) if features is None else features
            index = {f.name: i for i, f in enumerate(meta.features)}
            bools = {f.name for f in meta.features if f.dtype == "BOOLEAN"}
            plan = (names, [(n, 3 + index[n], n in bools) for n in names])
            if len(self._plans) > 256:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def answer(self, query: Query, lookup: Lookup, now: dt.datetime) -> dict:
        meta = lookup.meta
        if meta is None:
            names = query.features or []
            empty = dict.fromkeys(names)
            results = [{"entity_id": e, "found": False, "snapshot_date": None, "age_days": None,
                        "stale": None, "values": dict(empty)} for e in query.entity_ids]
            return {"store": {"state": lookup.state, "version": None}, "features": names, "results": results}
        names, cols = self._plan(meta, query.features)
        ttl, built, today = self.ttl(meta), meta.built_at_dt(), now.date()
        nulls = dict.fromkeys(names)
        results = []
        for e in query.entity_ids:
            row = lookup.rows.get(e)
            if row is None:
                results.append({"entity_id": e, "found": False, "snapshot_date": None, "age_days": None,
                                "stale": None, "values": dict(nulls)})
                continue
            age = age_now(row[2], built, today)
            stale = age is None or age > ttl
            values = dict(nulls) if stale else {
                n: (None if row[i] is None else bool(row[i])) if b else row[i] for n, i, b in cols}
            results.append({"entity_id": e, "found": True, "snapshot_date": row[1], "age_days": age,
                            "stale": stale, "values": values})
        return {"store": {"state": "ok", "version": meta.version, "built_at": meta.built_at,
                          "ttl_days": ttl}, "features": names, "results": results}


def dedupe(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))
