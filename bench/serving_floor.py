"""The floor for a Python feature server here: a bare ASGI app answering from a Python dict
(no store, no validation beyond parsing), served by the same uvicorn as ours.
`python -m uvicorn --factory bench.serving_floor:app` with FF_BENCH_FLOOR_PARQUET."""

from __future__ import annotations

import os

import orjson


def app():
    import pyarrow.parquet as pq

    table = pq.read_table(os.environ["FF_BENCH_FLOOR_PARQUET"]).to_pylist()
    names = [k for k in table[0] if k not in ("customer_id", "event_timestamp")]
    rows = {r["customer_id"]: {n: r[n] for n in names} for r in table}
    nulls = dict.fromkeys(names)

    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        ids = orjson.loads(body)["entity_ids"]
        out = orjson.dumps({"results": [{"entity_id": e, "found": e in rows, "values": rows.get(e, nulls)}
                                        for e in ids]})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    return asgi
