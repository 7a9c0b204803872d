"""Work tables a killed run left behind are dropped by the next ingestion; a live run's never."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from feature_factory.events import work_tables


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_tables_of_gone_makers_are_orphans():
    host, now = work_tables._host(), time.time()
    dead, alive = _dead_pid(), os.getppid()
    assert work_tables.is_orphan(f"landing_stage_{host}_{dead}_{int(now)}_0123abcd")
    assert work_tables.is_orphan(f"ingest_batch_{host}_{dead}_{int(now)}_0123abcd")
    assert not work_tables.is_orphan(f"landing_stage_{host}_{alive}_{int(now)}_0123abcd")
    assert not work_tables.is_orphan(f"landing_stage_{host}_{os.getpid()}_{int(now)}_0123abcd")
    # Another machine's table: only once far older than any run.
    assert not work_tables.is_orphan(f"landing_stage_ffffff_{dead}_{int(now) - 60}_0123abcd", host=host)
    assert work_tables.is_orphan(f"landing_stage_ffffff_{dead}_{int(now) - 2 * 86400}_0123abcd", host=host)
    assert not work_tables.is_orphan("landing_stage_0123456789ab")  # no maker in the name: not ours to judge
    assert not work_tables.is_orphan("raw_events")


def test_ingestion_drops_leftovers_of_killed_runs(warehouse, write_csv, ingest):
    from ingest_helpers import D1, ev

    host, now, dead = work_tables._host(), int(time.time()), _dead_pid()
    leftover = f"landing_stage_{host}_{dead}_{now}_0123abcd"
    live = f"ingest_batch_{host}_{os.getppid()}_{now}_0123abcd"
    for name in (leftover, live):
        warehouse.execute(f"CREATE TABLE {name} (x INTEGER)")
    write_csv("events_2024-01-01.csv", [ev("e1")])
    ingest(warehouse, D1)
    assert not warehouse.table_exists(leftover)
    assert warehouse.table_exists(live)
    assert warehouse.fetch_all("SELECT event_id FROM raw_events") == [("e1",)]
