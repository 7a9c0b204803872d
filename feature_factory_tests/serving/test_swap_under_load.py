"""A bounded loopback load on the real server (uvicorn) while the store is swapped by the pipeline's
asset and by an apply and a rollback: zero failed requests, every answer entirely from one version,
and after apply/rollback the served values equal the patched online table."""

from __future__ import annotations

import threading
import time

import dagster as dg
import httpx
import orjson
import uvicorn
from serving_helpers import free_port
from remediation_helpers import (
    CatalogSettings, alert, build_online, make_catalog, run_job, seed_alerts, seed_baseline, seed_features,
)

from feature_factory.catalog_resource import CatalogResource
from feature_factory import tables
from feature_factory.remediation import online_refresh as online
from feature_factory.serving.assets import customer_features_online_store
from feature_factory.serving.config import OnlineStoreResource
from feature_factory.serving.server import create_app

IDS = [f"c{i:02d}" for i in range(10)]


class Load:
    """Clients on their own threads posting all IDS until stopped; every answer is recorded."""

    def __init__(self, url: str, clients: int = 3) -> None:
        self.url, self.stop, self.answers, self.errors = url, threading.Event(), [], []
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/features", json={"entity_ids": IDS})
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                if r.status_code != 200:
                    self.errors.append(f"{r.status_code}: {r.text[:200]}")
                else:
                    self.answers.append(r.json())

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def served_rows(s) -> tuple[str, dict]:
    got = s.lookup(IDS)
    names = got.meta.feature_names
    return got.meta.version, {e: [orjson.loads(r[3])[n] for n in names] for e, r in got.rows.items()}


def online_rows(warehouse, features) -> dict:
    return {r[0]: list(r[1:]) for r in warehouse.fetch_all(
        f"SELECT customer_id, {', '.join(features)} FROM customer_features_online")}


def test_swaps_under_load_fail_no_request(make_store, duckdb_warehouse, monkeypatch):
    wh = duckdb_warehouse
    seed_features(wh)
    seed_baseline(wh)
    seed_alerts(wh, [alert("revenue_7d", "OUT_OF_RANGE", "high", out_of_range_share=0.1)])
    monkeypatch.setattr(online, "_builder", lambda: build_online)
    build_online(wh, make_catalog())
    resources = {"warehouse": wh, "online_store": OnlineStoreResource.from_env(),
                 "catalog": CatalogResource.of(make_catalog())}
    assert dg.materialize([customer_features_online_store], resources=resources).success
    s = make_store()
    versions = dict([served_rows(s)])
    features = list(s.current().feature_names)
    before = online_rows(wh, features)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(make_store()), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    settings, instance = CatalogSettings(), dg.DagsterInstance.ephemeral()
    try:
        with Load(f"http://127.0.0.1:{port}") as load:
            for _ in range(2):  # the pipeline's asset: a new version each time
                assert dg.materialize([customer_features_online_store], resources=resources).success
                versions.update([served_rows(s)])
            assert run_job("remediation_job", wh, settings, instance=instance).success
            (patch_id,) = [p for (p,) in wh.fetch_all(f"SELECT patch_id FROM {tables.PATCH_CANDIDATES.name}")]
            assert run_job("approve_patches_job", wh, settings, instance=instance, run_config={"ops": {
                "approve_patches": {"config": {"approve": [patch_id], "approver": "t"}}}}).success
            assert run_job("apply_patches_job", wh, settings, instance=instance).success
            version, rows = served_rows(s)
            versions[version] = rows
            patched = online_rows(wh, features)
            assert rows == patched and patched != before  # the clip reached serving
            assert run_job("rollback_patch_job", wh, settings, instance=instance, run_config={"ops": {
                "rollback_patch": {"config": {"patch_id": patch_id, "actor": "t"}}}}).success
            version, rows = served_rows(s)
            versions[version] = rows
            assert rows == before
            time.sleep(0.3)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert load.errors == []
    assert len(load.answers) > 50
    seen = set()
    for a in load.answers:  # each answer is one whole version, exactly as that version was written
        v = a["store"]["version"]
        seen.add(v)
        assert {r["entity_id"]: [r["values"][f] for f in features] for r in a["results"]} == versions[v]
    assert len(seen) >= 3 and len(versions) == 5
