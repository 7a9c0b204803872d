"""`feature-factory ui` (`make ui`): the Dagster UI (webserver + daemon) on the project's own
instance, and the HTML reports under `$FEATURE_FACTORY_HOME/reports/` at `/reports/` of the same
address.

Dagster's UI shows a `path` metadata value as text a browser cannot open (it is a file on the
server), so the Evidently reports are served over HTTP and `drift_report` links them as URLs. Those
links are relative (`/reports/<file>`, `settings.reports_url()`): `ui_front` puts the reports and
the Dagster webserver behind one address, so a link opens on whatever port the UI has now. The UI
itself runs through `dg dev`, Dagster's current CLI, on an inner loopback port. The reports are also
served on a second port (`--reports-port`, default 3001 when free), where links written by earlier
versions point.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

from feature_factory.settings import CODE_LOCATION

ENV_FILE_PATHS = "DAGSTER_PROJECT_ENV_FILE_PATHS"  # Dagster's per-project .env loader reads this


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.add_argument("--reports-port", type=int, default=None,
                        help="a second port serving the HTML reports, for links written before they "
                             "were served under the UI's /reports/ (default: the port of "
                             "FEATURE_FACTORY_REPORTS_URL, else 3001, when free); 0: none")


def command(host: str, port: int) -> list[str]:
    dg = shutil.which("dg", path=os.path.dirname(sys.executable)) or "dg"
    return [dg, "dev", "-m", CODE_LOCATION, "-h", host, "-p", str(port)]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files of one folder; no access log on the terminal the Dagster log uses."""

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def serve_reports(directory: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """Serve `directory` read-only on host:port from a daemon thread; returns the running server."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise SystemExit(
            f"feature-factory ui: cannot serve the reports on {host}:{port} ({exc.strerror}); "
            "pick a free port with --reports-port (or REPORTS_PORT=... for make ui)") from exc
    threading.Thread(target=server.serve_forever, name="reports-server", daemon=True).start()
    return server


def project_env_variables(home: Path, env: dict[str, str]) -> dict[str, str]:
    """DAGSTER_PROJECT_ENV_FILE_PATHS with the code location mapped to the home, so Dagster applies
    `<home>/.env` (project_env) on every load and reload of the code location and in every run.
    A mapping the user set is kept; ours is added to it."""
    try:
        paths = json.loads(env.get(ENV_FILE_PATHS) or "{}")
    except ValueError as exc:
        raise SystemExit(f"feature-factory ui: {ENV_FILE_PATHS} is not JSON ({exc})") from exc
    paths.setdefault(CODE_LOCATION, str(home))
    return {ENV_FILE_PATHS: json.dumps(paths)}


def run(args: argparse.Namespace) -> int:
    from feature_factory import settings, ui_front
    from feature_factory.instance import ensure_instance

    env = dict(os.environ)
    env["FEATURE_FACTORY_HOME"] = str(settings.home())
    env["DAGSTER_HOME"] = str(ensure_instance())
    env.update(project_env_variables(settings.home(), env))
    reports = settings.artifacts_dir("reports")
    address = ui_front.bind(args.host, args.port)  # the user's address: a taken port fails here, at once
    inner = _free_loopback_port()  # the Dagster webserver's own port, behind the front door
    server = None
    if args.reports_port != 0:  # the links of earlier versions named this port (default 3001)
        port = args.reports_port or urlsplit(settings.reports_url()).port or settings.DEFAULT_REPORTS_PORT
        try:
            server = serve_reports(reports, args.host, port)
        except SystemExit as exc:
            if args.reports_port:
                raise
            print(f"note: {exc}; only links written before reports were served under /reports/ need it",
                  flush=True)
    door = ui_front.FrontDoor(address, reports, f"http://127.0.0.1:{inner}")
    url = f"http://{args.host}:{args.port}"
    print(f"Dagster UI on {url} (DAGSTER_HOME={env['DAGSTER_HOME']}); the webserver's log below names "
          f"its inner port {inner}: open {url}", flush=True)
    print(f"reports on {url}{ui_front.REPORTS_PATH}/ (from {reports})"
          + (f", and on http://{args.host}:{server.server_address[1]}/" if server else ""), flush=True)
    child = subprocess.Popen(command("127.0.0.1", inner), env=env)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))  # stop both together
    try:
        return child.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the whole group: let dg dev shut down cleanly
        try:
            return child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            return child.wait()
    finally:
        door.stop()
        if server:
            server.shutdown()


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
