"""Run one benchmark contender in its own process and measure it.

Each contender is a function `fn(params: dict, meter: Meter) -> dict` in some module. It runs in a
fresh `python -m bench.child` process, so its peak RSS is its own (`os.wait4` gives
the rusage of exactly that child, unlike RUSAGE_CHILDREN, which keeps the maximum over every child
so far). Inside, the contender wraps the work it is judged on in `with meter.measure():`, so
imports, data loading that is not part of the workload, and result export are not timed; the
process-level numbers (wall including interpreter start and imports, peak RSS) are reported too.

The parent polls the child's process tree RSS from /proc and kills the tree (its own session) when
it passes a memory cap or a timeout, recording that instead of taking the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

MB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[1]


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of one process from /proc (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
                out.extend(kids)
                todo.extend(kids)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def tree_rss_bytes(pid: int) -> int:
    return rss_bytes(pid) + sum(rss_bytes(k) for k in _descendants(pid))


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Meter:
    """Times the block a contender is judged on: wall, CPU (user+sys, all threads and reaped
    subprocesses) and the RSS when it starts. Several blocks add up."""

    def __init__(self) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.rss_before_mb: float | None = None
        self.phases: dict[str, float] = {}

    @contextmanager
    def measure(self, phase: str | None = None):
        if self.rss_before_mb is None:
            self.rss_before_mb = rss_bytes() / MB
        w0, c0 = time.perf_counter(), _cpu_seconds()
        try:
            yield
        finally:
            wall = time.perf_counter() - w0
            self.wall_s += wall
            self.cpu_s += _cpu_seconds() - c0
            if phase:
                self.phases[phase] = self.phases.get(phase, 0.0) + wall

    @contextmanager
    def phase(self, name: str):
        """Time a part of the measured block (not added to the total)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t0

    def as_dict(self) -> dict:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "rss_before_mb": self.rss_before_mb,
                "phases": self.phases}


@dataclass
class Measurement:
    """What one contender's process did. `status`: ok | failed | killed | timeout | skipped."""

    status: str
    wall_s: float | None = None  # the measured block
    cpu_s: float | None = None
    process_wall_s: float | None = None  # the whole process: interpreter, imports, setup, work
    process_cpu_s: float | None = None
    peak_rss_mb: float | None = None  # the whole process (ru_maxrss from wait4)
    rss_before_mb: float | None = None
    phases: dict = field(default_factory=dict)
    out: dict = field(default_factory=dict)
    reason: str = ""
    log: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def free_disk_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def disk_floor(path: Path, max_use_bytes: int = 30 * 2**30, min_free_bytes: int = 10 * 2**30) -> int:
    """Free space under which a child is stopped: it may use at most `max_use_bytes` of the disk
    (DuckDB spills big sorts and joins to a temp folder, and its own temp limit does not cover every
    spill) and never leave less than `min_free_bytes` for the other users of the machine."""
    return max(min_free_bytes, free_disk_bytes(path) - max_use_bytes)


def run_measured(target: str, params: dict, *, log_path: Path, env: dict | None = None,
                 python: str | None = None, timeout_s: float = 3600.0,
                 mem_cap_bytes: int | None = None, poll_s: float = 0.05) -> Measurement:
    """Run `target` ("package.module:function") with `params` in a child process and measure it.

    Stops the child's process tree when it passes `mem_cap_bytes` of RSS, runs longer than
    `timeout_s`, or the disk holding `log_path` falls under `disk_floor`."""
    floor = disk_floor(log_path.parent if log_path.parent.exists() else Path("."))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result_path = log_path.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    spec = json.dumps({"target": target, "params": params, "result_path": str(result_path)})
    child_env = {**os.environ, **(env or {})}
    # `bench` is not installed (the wheel ships only feature_factory): the child finds it from the checkout.
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), child_env.get("PYTHONPATH", "")) if p)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", "bench.child", spec],
            stdout=log, stderr=subprocess.STDOUT, env=child_env, start_new_session=True,
        )
        killed, watched_peak = "", 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            watched_peak = max(watched_peak, tree_rss_bytes(proc.pid))
            elapsed = time.perf_counter() - t0
            if not killed and mem_cap_bytes and watched_peak > mem_cap_bytes:
                killed = f"killed: RSS passed the {mem_cap_bytes / 2**30:.1f} GiB cap after {elapsed:.1f} s"
            elif not killed and elapsed > timeout_s:
                killed = f"timeout: still running after {timeout_s:.0f} s"
            elif not killed and free_disk_bytes(log_path.parent) < floor:
                killed = (f"killed: free disk fell under {floor / 2**30:.0f} GiB after {elapsed:.1f} s "
                          "(temp spill)")
            if killed:
                _kill_group(proc.pid)
            time.sleep(poll_s)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    peak = max(usage.ru_maxrss * 1024, watched_peak) / MB  # ru_maxrss is in KiB on Linux
    m = Measurement(status="ok", process_wall_s=wall, process_cpu_s=usage.ru_utime + usage.ru_stime,
                    peak_rss_mb=peak, log=str(log_path))
    if killed:
        m.status, m.reason = killed.split(":")[0], killed
        return m
    if proc.returncode != 0 or not result_path.exists():
        m.status = "failed"
        m.reason = f"exit code {proc.returncode}: {_tail(log_path)}"
        return m
    payload = json.loads(result_path.read_text())
    meter = payload["meter"]
    m.wall_s, m.cpu_s = meter["wall_s"], meter["cpu_s"]
    m.rss_before_mb, m.phases = meter["rss_before_mb"], meter["phases"]
    m.out = payload.get("out") or {}
    if m.out.get("skipped"):
        m.status, m.reason = "skipped", str(m.out["skipped"])
    elif m.out.get("failed"):  # the contender finished but its work did not (e.g. a failed run)
        m.status, m.reason = "failed", str(m.out["failed"])
    return m


def run_plain(target: str, params: dict, *, log_path: Path, env: dict | None = None,
              python: str | None = None, timeout_s: float = 7200.0,
              mem_cap_bytes: int | None = None) -> dict:
    """Run an unmeasured step (data preparation, verification) in a child; return its output or
    raise RuntimeError with the log's tail."""
    m = run_measured(target, params, log_path=log_path, env=env, python=python, timeout_s=timeout_s,
                     mem_cap_bytes=mem_cap_bytes)
    if m.status not in ("ok", "skipped"):
        raise RuntimeError(f"{target} {m.status}: {m.reason} (log: {log_path})")
    return {**m.out, "_wall_s": m.process_wall_s}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the child leads its own session: only its tree dies
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(text[-lines:])[-1500:]
