"""`feature-factory ui` (`make ui`): the Dagster UI (webserver + daemon) on the project's own
instance, and the HTML reports under `$FEATURE_FACTORY_HOME/reports/` over HTTP beside it.

Dagster's UI shows a `path` metadata value as text a browser cannot open (it is a file on the
server), so the Evidently reports are served here, read-only, on a second port, and `drift_alerts`
links them as URLs (`settings.reports_url()`). The UI itself runs through `dg dev`, Dagster's
current CLI (`dagster dev` prints a SupersessionWarning pointing at it).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.add_argument("--reports-port", type=int, default=None,
                        help="port serving the HTML reports (default: the port of "
                             "FEATURE_FACTORY_REPORTS_URL, else 3001); 0 turns the report server off")


def command(host: str, port: int) -> list[str]:
    dg = shutil.which("dg", path=os.path.dirname(sys.executable)) or "dg"
    return [dg, "dev", "-m", "feature_factory.definitions", "-h", host, "-p", str(port)]


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


def run(args: argparse.Namespace) -> int:
    from feature_factory import settings
    from feature_factory.instance import ensure_instance

    env = dict(os.environ)
    env["FEATURE_FACTORY_HOME"] = str(settings.home())
    env["DAGSTER_HOME"] = str(ensure_instance())
    reports_port = args.reports_port
    if reports_port is None:
        reports_port = urlsplit(settings.reports_url()).port or settings.DEFAULT_REPORTS_PORT
    server = None
    if reports_port:
        server = serve_reports(settings.artifacts_dir("reports"), args.host, reports_port)
        # Runs launched from this UI link their reports to where they are served.
        env["FEATURE_FACTORY_REPORTS_URL"] = f"http://{args.host}:{server.server_address[1]}"
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']})", flush=True)
    if server:
        print(f"reports on {env['FEATURE_FACTORY_REPORTS_URL']}/ (from {settings.artifacts_dir('reports')})",
              flush=True)
    child = subprocess.Popen(command(args.host, args.port), env=env)
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
        if server:
            server.shutdown()
