"""`feature-factory ui`: the Dagster UI (webserver + daemon) on the project's own instance."""

from __future__ import annotations

import argparse
import os
import shutil
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=3000)


def command(host: str, port: int) -> list[str]:
    dagster = shutil.which("dagster", path=os.path.dirname(sys.executable)) or "dagster"
    return [dagster, "dev", "-m", "feature_factory.definitions", "-h", host, "-p", str(port)]


def run(args: argparse.Namespace) -> int:
    from feature_factory import settings
    from feature_factory.instance import ensure_instance

    env = dict(os.environ)
    env["FEATURE_FACTORY_HOME"] = str(settings.home())
    env["DAGSTER_HOME"] = str(ensure_instance())
    cmd = command(args.host, args.port)
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']})", flush=True)
    os.execvpe(cmd[0], cmd, env)  # replaces this process; Ctrl-C stops dagster dev cleanly
    return 0
