"""A sample request against the online store, answered by the same app `feature-factory serve`
runs (in process, no port needed): the demo ends with it."""

from __future__ import annotations

import json

from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.serving.config import DEFAULT_PORT, store_from_env
from feature_factory.serving.server import create_app
from feature_factory.serving.store import OnlineStore, store_asset


def sample_request(ids: list[str], features: int = 3, store: OnlineStore | None = None,
                   entity: Entity = CUSTOMER_TABLES) -> tuple[str, dict]:
    """(the curl command, the answer) for `ids` and the first `features` served features, plus one
    unknown id to show `found: false`, from `store` (default: the entity's store as the environment
    configures it; closed afterwards)."""
    import asyncio

    import httpx

    store = store or store_from_env(entity.name)
    meta = store.current()
    if meta is None:
        raise RuntimeError(f"the online store {store.describe()} holds no version: materialize "
                           f"{store_asset(entity.name)}")
    ids = [*ids, f"no_such_{entity.name}"]
    body = {"entity_ids": ids, "features": list(meta.feature_names[:features])}
    async def ask() -> dict:
        transport = httpx.ASGITransport(app=create_app(store, entity=entity))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://feature-server") as client:
                return (await client.post("/features", json=body)).json()
        finally:
            await store.aclose()  # its async client belongs to this event loop

    try:
        answer = asyncio.run(ask())
    finally:
        store.close()
    curl = (f"curl -s localhost:{DEFAULT_PORT}/features -H 'content-type: application/json' "
            f"-d '{json.dumps(body)}'")
    return curl, answer
