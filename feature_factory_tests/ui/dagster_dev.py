"""Start the UI for real on loopback, as a user does (`feature-factory ui`: `dg dev` behind the
front door that also serves the reports), and stop it cleanly.

`feature-factory ui` runs in its own process group (webserver, daemon, code servers and run workers are
its children). Stopping sends SIGINT to the group, which is what Ctrl-C does, waits, and kills
whatever is left, so no process outlives the test even when the shutdown hangs.

The child's SIGINT and SIGTERM are reset to their defaults: a process started from a background
shell job (as some CI runners do) inherits SIGINT as *ignored*, and `dagster dev` would then never
see the interrupt.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(base_url: str, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


LOCATION_STATUS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _default_signals() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class DagsterDev:
    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path | None = None, args: list[str] = ()):
        """`args`: more options of `feature-factory ui` (e.g. `--reports-port N`)."""
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "w")
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "feature_factory.cli", "ui", "--host", "127.0.0.1", "--port", str(self.port),
             *args],
            env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_default_signals,
        )

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the webserver answers GraphQL and the code location has loaded without error."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"feature-factory ui exited with {self.proc.returncode}; log {self.log_path}:\n{self.log_tail()}")
            try:
                data = graphql(self.base_url, LOCATION_STATUS)
                entries = data["data"]["workspaceOrError"]["locationEntries"]
                last = entries
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [e for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
                    if errors:
                        raise RuntimeError(f"code location failed to load: {errors}")
                    return
            except (OSError, KeyError, TypeError, ValueError):
                pass  # not up yet
            time.sleep(1)
        raise TimeoutError(
            f"feature-factory ui not ready after {timeout}s (last status {last}); log {self.log_path}:\n{self.log_tail()}")

    def stop(self, timeout: float = 45) -> None:
        """SIGINT to the group (Ctrl-C); after `timeout` s, SIGKILL. Then kill any straggler left in
        the group (a run worker or code server whose parent is gone)."""
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        try:
            if self.proc.poll() is None:
                _signal_group(pgid, signal.SIGINT)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(pgid, signal.SIGKILL)
                    self.proc.wait(timeout=30)
            _signal_group(pgid, signal.SIGKILL)
        finally:
            self.log.close()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already empty
