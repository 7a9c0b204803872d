"""The Dagster instance under the project home (`DAGSTER_HOME`), shared by the demo, the CLI and the UI,
so runs launched by one are visible in the others.

Preparing it is safe when several commands start at once on a new home. Dagster creates its SQLite
storage (tables, then an alembic stamp) in whichever process opens the instance first, and two
processes doing it together fail ("table runs already exists") or leave it broken ("alembic_version
has more than one head"). So `ensure_instance` writes `dagster.yaml` and creates the storage once,
under a file lock, before any run; every entry point calls it (`feature-factory demo|ui|init`, the
Makefile targets). The `dagster.yaml` it writes names `LockedSqliteStorage`, the stock SQLite
storage created under the same lock, so plain `dagster ...` commands started together are safe too;
on a home that has no `dagster.yaml` yet, such a command writes it at startup, before Dagster opens
the instance (`instance_hook`, through the `.pth` file the install puts in site-packages).
It names the storage folder by its absolute path, so the instance opens from its folder alone
(`dg.DagsterInstance.from_config(folder)`, what the demo does) whether DAGSTER_HOME is set or not.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from feature_factory import settings
from feature_factory.fast_sqlite import keep_open_fast

LOCK_FILE = ".feature_factory_instance.lock"
_PREPARED = ".feature_factory_prepared"

# One run at a time locally: the DuckDB file has one writer. (A Snowflake deployment can raise this.)
INSTANCE_YAML = """\
# Written by feature-factory on first use; edit freely, it is not overwritten.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
# Dagster's SQLite storage, created under a file lock (safe when commands start together).
storage:
  custom:
    module: feature_factory.instance
    class: LockedSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""
# What ensure_instance writes: the same, with the folder itself instead of the variable.
_ENV_BASE_DIR = "      base_dir:\n        env: DAGSTER_HOME\n"


def instance_yaml(home: Path) -> str:
    """The dagster.yaml of the instance in `home`: INSTANCE_YAML with its storage folder spelled out."""
    return INSTANCE_YAML.replace(_ENV_BASE_DIR, f"      base_dir: {json.dumps(str(home.resolve()))}\n")


_guard = threading.Lock()
_locks: dict[Path, threading.RLock] = {}  # threads of one process queue here, processes on the flock
_depth: dict[Path, int] = {}


@contextmanager
def instance_lock(home: Path) -> Iterator[None]:
    """An exclusive lock on the instance folder between processes (the OS releases it if one is
    killed) and threads; re-entrant in the thread that holds it."""
    home = home.resolve()
    with _guard:
        local = _locks.setdefault(home, threading.RLock())
    with local:
        depth = _depth.get(home, 0)
        _depth[home] = depth + 1
        try:
            if depth:
                yield
                return
            home.mkdir(parents=True, exist_ok=True)
            with open(home / LOCK_FILE, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            _depth[home] = depth


class LockedSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite run/event/schedule storage, created and migrated under `instance_lock`,
    committing without a disk flush per event (`fast_sqlite`: WAL + synchronous=NORMAL)."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # the parent hard-codes its own class
        return cls.from_local(inst_data=inst_data, **config_value)

    @classmethod
    def from_local(cls, base_dir: str, inst_data=None):
        keep_open_fast(base_dir)
        with instance_lock(Path(base_dir)):
            return super().from_local(base_dir, inst_data=inst_data)


def ensure_instance(dagster_home: Path | None = None) -> Path:
    """Create DAGSTER_HOME with our dagster.yaml if it has none, and its storage; return the folder.
    Idempotent and safe to call from processes started together."""
    home = (dagster_home or settings.dagster_home()).resolve()
    config, marker = home / "dagster.yaml", home / _PREPARED
    if marker.exists() and not _unedited_env_yaml(config):
        return home
    with instance_lock(home):
        write_config(home)
        if not marker.exists():
            _create_storage(home)
            marker.write_text("storage created\n")
    return home


def write_config(home: Path) -> None:
    """Write `home`'s dagster.yaml when it has none, under the instance lock, without creating the
    storage (the storage it names creates itself under the same lock). Also what a plain `dagster`
    command does at startup on a new home (instance_hook). A user's file is never overwritten."""
    home = home.resolve()
    config = home / "dagster.yaml"
    with instance_lock(home):
        # Written when missing; an earlier version's unedited file (which named the folder as
        # `env: DAGSTER_HOME`) is brought up to date, so the instance opens without the variable.
        if not config.exists() or _unedited_env_yaml(config):
            tmp = home / f".dagster.yaml.{os.getpid()}"
            tmp.write_text(instance_yaml(home))
            tmp.replace(config)  # atomic: a reader sees no file or the whole file


def _unedited_env_yaml(config: Path) -> bool:
    return config.exists() and config.read_text() == INSTANCE_YAML


def _create_storage(home: Path) -> None:
    import dagster as dg

    # Opening the instance creates (and stamps) the storage (whichever storage dagster.yaml names).
    with dg.DagsterInstance.from_config(str(home)):
        pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dagster-home", type=Path, default=None,
                        help="instance folder (default $DAGSTER_HOME or $FEATURE_FACTORY_HOME/dagster_home)")


def run(args: argparse.Namespace) -> int:
    """`feature-factory init`: prepare the instance before running `dagster` commands directly."""
    home = ensure_instance(args.dagster_home)
    print(f"Dagster instance ready in {home} (export DAGSTER_HOME={home})")
    return 0
