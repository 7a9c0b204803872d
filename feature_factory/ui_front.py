"""The UI's front door: one address for the Dagster UI and the HTML reports, so report links carry no port.

Dagster's UI shows a URL metadata value as a link as it is stored; a link written with the report
server's port (`http://127.0.0.1:3001/...`) breaks as soon as the reports are served elsewhere. So
`feature-factory ui` puts this small ASGI app on the UI's address: it serves `<home>/reports/` under
`/reports/` and passes every other request (HTTP and the UI's GraphQL WebSocket) through to the
Dagster webserver `dg dev` runs on a loopback port of its own. Report links are then relative
(`/reports/drift_<day>_baseline_v<n>.html`): the browser resolves them against whatever address the
UI has now, on any port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path

import httpx
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from feature_factory.settings import REPORTS_PATH  # where the front door serves <home>/reports/

# Per connection, not per message: never forwarded (RFC 9110 7.6.1); `host` names the upstream instead.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host"}


def app(reports_dir: Path, upstream: str) -> Starlette:
    """/reports/* from `reports_dir` (read-only; a missing file is a 404), everything else proxied to
    `upstream` (e.g. http://127.0.0.1:41234, the Dagster webserver)."""
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(300.0, connect=10.0))
    ws_upstream = "ws" + upstream.removeprefix("http")

    async def http_proxy(request: Request):
        url = httpx.URL(path=request.url.path, query=request.url.query.encode())
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in HOP_BY_HOP]
        try:
            response = await client.send(
                client.build_request(request.method, url, headers=headers, content=request.stream()),
                stream=True)
        except httpx.TransportError as exc:  # the webserver is starting or gone
            return PlainTextResponse(f"the Dagster webserver is not answering ({exc})", status_code=502)
        return StreamingResponse(
            response.aiter_raw(), status_code=response.status_code,
            headers={k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP},
            background=BackgroundTask(response.aclose))

    async def ws_proxy(ws: WebSocket):
        query = f"?{ws.url.query}" if ws.url.query else ""
        offered = ws.scope.get("subprotocols") or []
        try:
            upstream_ws = await websockets.connect(ws_upstream + ws.url.path + query,
                                                   subprotocols=offered or None, max_size=None)
        except (OSError, websockets.InvalidHandshake):
            await ws.close(code=1011)
            return
        async with upstream_ws:
            await ws.accept(subprotocol=upstream_ws.subprotocol)

            async def to_upstream():
                with contextlib.suppress(WebSocketDisconnect):
                    while True:
                        message = await ws.receive()
                        if message["type"] == "websocket.disconnect":
                            return
                        await upstream_ws.send(message.get("text") if message.get("text") is not None
                                               else message.get("bytes"))

            async def to_browser():
                with contextlib.suppress(websockets.ConnectionClosed):
                    async for message in upstream_ws:
                        await (ws.send_text(message) if isinstance(message, str) else ws.send_bytes(message))

            tasks = [asyncio.create_task(to_upstream()), asyncio.create_task(to_browser())]
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        with contextlib.suppress(RuntimeError):  # already closed by the browser
            await ws.close()

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await client.aclose()

    reports_dir.mkdir(parents=True, exist_ok=True)
    return Starlette(routes=[
        Mount(REPORTS_PATH, app=StaticFiles(directory=reports_dir), name="reports"),
        WebSocketRoute("/{path:path}", ws_proxy),
        Route("/{path:path}", http_proxy, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    ], lifespan=lifespan)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket of the UI's address, bound now so a taken port is a clear error at once."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"feature-factory ui: cannot serve the UI on {host}:{port} ({exc.strerror}); "
                         "pick a free port with --port (or PORT=... for make ui)") from exc
    sock.listen(128)
    return sock


class FrontDoor:
    """The app on `sock`, served by uvicorn from a daemon thread until `stop()`."""

    def __init__(self, sock: socket.socket, reports_dir: Path, upstream: str):
        config = uvicorn.Config(app(reports_dir, upstream), log_level="warning", lifespan="on",
                                ws="websockets-sansio", ws_max_size=2**31)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       name="ui-front-door", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
