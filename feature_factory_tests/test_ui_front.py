"""The UI's front door: the reports under /reports/ of the UI's own address, everything else passed
through to the Dagster webserver (HTTP and the GraphQL WebSocket), so report links carry no port."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect

from feature_factory import settings, ui_front


async def echo(request: Request):
    return JSONResponse({"method": request.method, "path": request.url.path, "query": request.url.query,
                         "body": (await request.body()).decode(), "host": request.headers["host"],
                         "cookie": request.headers.get("cookie")}, status_code=201, headers={"x-up": "yes"})


async def ws_echo(ws: WebSocket):
    await ws.accept(subprotocol="graphql-ws")
    while True:
        text = await ws.receive_text()
        await ws.send_text(f"up:{text}")


def _serve(app) -> tuple[str, uvicorn.Server]:
    sock = ui_front.bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "test upstream did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


@pytest.fixture
def front(project_home):
    upstream, up_server = _serve(Starlette(routes=[WebSocketRoute("/graphql", ws_echo),
                                                   Route("/{path:path}", echo, methods=["GET", "POST"])]))
    reports = settings.artifacts_dir("reports")
    (reports / "drift_2024-02-09_baseline_v1.html").write_text("<html>evidently</html>", encoding="utf-8")
    (project_home / "warehouse.duckdb").write_text("not for the browser")
    sock = ui_front.bind("127.0.0.1", 0)
    door = ui_front.FrontDoor(sock, reports, upstream)
    deadline = time.monotonic() + 20
    while not door.server.started:
        assert time.monotonic() < deadline, "front door did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    door.stop()
    up_server.should_exit = True


def test_reports_are_served_under_the_ui_address(front):
    with urllib.request.urlopen(f"{front}/reports/drift_2024-02-09_baseline_v1.html", timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b"<html>evidently</html>"
    for missing in ("/reports/nope.html", "/reports/../warehouse.duckdb"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(front + missing, timeout=10)
        assert err.value.code == 404, missing
    # The link the assets write resolves against the UI's address, whatever its port.
    report = settings.artifacts_dir("reports") / "drift_2024-02-09_baseline_v1.html"
    assert settings.report_url(report) == "/reports/drift_2024-02-09_baseline_v1.html"


def test_everything_else_reaches_the_webserver(front):
    req = urllib.request.Request(f"{front}/graphql?a=1&b=two", data=b'{"query": "{ x }"}', method="POST",
                                 headers={"Content-Type": "application/json", "Cookie": "k=v"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201 and resp.headers["x-up"] == "yes"
        seen = json.loads(resp.read())
    assert seen["method"] == "POST" and seen["path"] == "/graphql" and seen["query"] == "a=1&b=two"
    assert seen["body"] == '{"query": "{ x }"}' and seen["cookie"] == "k=v"
    assert seen["host"] != front.removeprefix("http://")  # the upstream's own host, not the front's
    with urllib.request.urlopen(f"{front}/assets/drift_report?view=partitions", timeout=10) as resp:
        assert json.loads(resp.read())["path"] == "/assets/drift_report"


def test_graphql_websocket_is_passed_through(front):
    with connect(front.replace("http", "ws") + "/graphql", subprotocols=["graphql-ws"], open_timeout=10) as ws:
        assert ws.subprotocol == "graphql-ws"
        ws.send("hello")
        assert ws.recv(timeout=10) == "up:hello"
        ws.send("again")
        assert ws.recv(timeout=10) == "up:again"


def test_a_taken_port_is_a_clear_error():
    sock = ui_front.bind("127.0.0.1", 0)
    try:
        with pytest.raises(SystemExit, match=f"cannot serve the UI on 127.0.0.1:{sock.getsockname()[1]}"):
            ui_front.bind("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()
