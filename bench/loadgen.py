"""A light asyncio HTTP/1.1 load generator for the serving benchmark (loopback, keep-alive).

Pre-built request bytes, raw streams, Content-Length framing: the client costs a few tens of
microseconds per request, so on a 2-core machine the server, not the client, sets the numbers.
Latency is measured per request from the write to the last body byte.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time


def http_request(path: str, body: bytes, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> tuple[int, bytes]:
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length is None:
        raise RuntimeError("response without Content-Length")
    return status, await reader.readexactly(length)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def summary_ms(lat: list[float]) -> dict:
    return {"n": len(lat), "p50_ms": percentile(lat, 0.50) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3,
            "mean_ms": statistics.fmean(lat) * 1e3 if lat else None}


async def sequential(port: int, requests: list[bytes], warmup: int = 50) -> dict:
    """One connection, one request at a time. A dropped connection (a server recycling its worker)
    counts as an error; the client reconnects and goes on."""
    reader = writer = None
    lat, errors, kinds = [], 0, {}
    try:
        for i, data in enumerate(requests[:warmup] + requests):
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            t0 = time.perf_counter()
            try:
                status, _ = await _roundtrip(reader, writer, data)
            except (OSError, asyncio.IncompleteReadError) as exc:
                writer.close()
                reader = writer = None
                if i >= warmup:
                    errors += 1
                    kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
                continue
            if i >= warmup:
                lat.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
                    kinds[f"HTTP {status}"] = kinds.get(f"HTTP {status}", 0) + 1
    finally:
        if writer is not None:
            writer.close()
    return {**summary_ms(lat or [0.0]), "errors": errors, "error_kinds": kinds}


async def concurrent(port: int, requests: list[bytes], clients: int, seconds: float) -> dict:
    """`clients` connections, each sending back to back for `seconds`; a failed connection is
    counted as an error and reopened."""
    deadline = time.perf_counter() + seconds
    lat: list[float] = []
    errors: list[str] = []

    async def client(k: int) -> None:
        rng = random.Random(k)
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                t0 = time.perf_counter()
                status, _ = await _roundtrip(reader, writer, requests[rng.randrange(len(requests))])
                if status == 200:
                    lat.append(time.perf_counter() - t0)
                else:
                    errors.append(f"HTTP {status}")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, RuntimeError) as exc:
                errors.append(type(exc).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.perf_counter() - t0
    kinds = {e: errors.count(e) for e in set(errors)}
    return {**summary_ms(lat or [0.0]), "rps": len(lat) / elapsed, "ok": len(lat), "errors": len(errors),
            "error_kinds": kinds, "seconds": elapsed}
