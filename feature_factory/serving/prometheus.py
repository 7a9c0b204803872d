"""Prometheus metrics of the feature server (prometheus_client, one registry per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Fine buckets at the low end: the goal is single-digit milliseconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ff_serving_requests", "HTTP requests by endpoint and status code.",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("ff_serving_request_duration_seconds", "Time to answer a request.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.entities = Counter("ff_serving_entities", "Entities answered, by outcome (found, missing, stale).",
                                ["outcome"], registry=self.registry)
        self.store_info = Gauge("ff_serving_store_version_info", "The store version last served (value 1).",
                                ["backend", "version"], registry=self.registry)
        self.store_rows = Gauge("ff_serving_store_rows", "Rows in the store version last served.",
                                registry=self.registry)
        self.key_requests = Counter("ff_serving_key_requests", "HTTP requests to /features and /schema by API key "
                                    "name (anonymous: no key; unknown: a key not configured), endpoint and status.",
                                    ["key", "endpoint", "status"], registry=self.registry)
        self._version: str | None = None
        self._keys = {}
        self._latency = {}
        self._requests = {}
        self._entities = {}

    def observe(self, endpoint: str, status: int, seconds: float, caller: str | None = None) -> None:
        """One request; `caller` (the API key's name, never the key) also counts it per key."""
        if caller is not None:
            child = self._keys.get((caller, endpoint, status))
            if child is None:
                child = self._keys[caller, endpoint, status] = self.key_requests.labels(caller, endpoint, str(status))
            child.inc()
        key = (endpoint, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.requests.labels(endpoint, str(status))
        counter.inc()
        hist = self._latency.get(endpoint)
        if hist is None:
            hist = self._latency[endpoint] = self.latency.labels(endpoint)
        hist.observe(seconds)

    def count_entities(self, found: int, stale: int, missing: int) -> None:
        for outcome, n in (("found", found), ("stale", stale), ("missing", missing)):
            if n:
                child = self._entities.get(outcome)
                if child is None:
                    child = self._entities[outcome] = self.entities.labels(outcome)
                child.inc(n)

    def saw_version(self, backend: str, version: str | None, rows: int | None) -> None:
        if version == self._version:
            return
        self.store_info.clear()
        if version is not None:
            self.store_info.labels(backend, version).set(1)
            self.store_rows.set(rows or 0)
        self._version = version

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
