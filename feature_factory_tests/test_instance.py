"""The Dagster instance is prepared once, safely, even when commands start together on a new home."""

from __future__ import annotations

import multiprocessing
import sqlite3

import yaml

from feature_factory.instance import INSTANCE_YAML, LockedSqliteStorage, ensure_instance, instance_yaml


def _open_instance(home: str, barrier, results) -> None:
    import os

    import dagster as dg

    os.environ["DAGSTER_HOME"] = home
    barrier.wait()  # all processes create the storage at the same moment
    try:
        with dg.DagsterInstance.get() as instance:
            results.put(("ok", len(instance.get_runs())))
    except Exception as exc:  # reported to the test, which shows it
        results.put(("error", repr(exc)))


def test_concurrent_commands_on_a_new_home_share_one_storage(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)  # what the first entry point writes
    # Forked (dagster is already imported here), so the processes race within milliseconds.
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_open_instance, args=(str(home), barrier, results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted(results.get(timeout=5) for _ in procs) == [("ok", 0)] * 3
    # Not left broken: one alembic head per database, and the instance opens again.
    for db in ("history/runs.db", "schedules/schedules.db"):
        with sqlite3.connect(home / db) as con:
            assert con.execute("SELECT COUNT(*) FROM alembic_version").fetchone() == (1,)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.get_ref().storage, LockedSqliteStorage)
        assert instance.get_runs() == []


def test_ensure_instance_writes_config_and_storage_once(tmp_path, monkeypatch):
    home = tmp_path / "new_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert ensure_instance(home) == home.resolve()
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["storage"]["custom"]["class"] == "LockedSqliteStorage"
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert (home / "history" / "runs.db").exists()
    (home / "dagster.yaml").write_text(INSTANCE_YAML + "# edited by the user\n")
    ensure_instance(home)  # never overwritten
    assert (home / "dagster.yaml").read_text().endswith("# edited by the user\n")


def test_the_instance_opens_from_its_folder_without_dagster_home(tmp_path, monkeypatch):
    import dagster as dg

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "instance"
    assert ensure_instance(home) == home.resolve()
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["storage"]["custom"]["config"]["base_dir"] == str(home.resolve())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.get_ref().storage, LockedSqliteStorage) and instance.get_runs() == []
    # An earlier version's unedited file (`env: DAGSTER_HOME`) is brought up to date.
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    ensure_instance(home)
    assert yaml.safe_load((home / "dagster.yaml").read_text()) == config


def test_instance_files_commit_without_a_flush_and_stay_open(tmp_path, monkeypatch):
    import dagster as dg
    import sqlalchemy as sa

    from feature_factory import fast_sqlite

    home = tmp_path / "fast_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setattr(fast_sqlite, "_roots", set())  # only this instance (conftest adds the temp folder)
    ensure_instance(home)

    @dg.asset
    def one():
        return 1

    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([one], instance=instance).success
        runs_db = str((home / "history" / "runs.db").resolve())
        assert runs_db in fast_sqlite.held_files()
        with sa.create_engine(f"sqlite:///{runs_db}").connect() as conn:  # any engine on an instance file
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # A run's events are readable from another connection (nothing is left in a transaction).
        assert len(instance.get_runs()) == 1
        with sqlite3.connect(runs_db) as con:
            assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
    outside = tmp_path / "elsewhere.db"
    with sa.create_engine(f"sqlite:///{outside}").connect() as conn:  # files outside an instance: untouched
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL, SQLite's default
    assert str(outside.resolve()) not in fast_sqlite.held_files()


def _venv_with_the_hook(folder):
    """A virtualenv that sees this one's packages and holds the project's startup file, as
    `make install` leaves site-packages."""
    import subprocess
    import sys
    import sysconfig
    from pathlib import Path

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    (site,) = Path(folder).glob("lib/python*/site-packages")
    # Sorted before the hook's file, as the editable install's own .pth is.
    (site / "0_packages.pth").write_text(f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    from feature_factory.instance_hook import PTH_LINE, PTH_NAME, install_startup_file

    installed = install_startup_file(site)
    # What a wheel install ships (setup.py's data_files) is the same line.
    assert installed.read_text() == PTH_LINE == (Path(__file__).resolve().parents[1] / PTH_NAME).read_text()
    return Path(folder) / "bin" / "python"


def test_plain_dagster_commands_started_together_on_a_new_home(tmp_path):
    """Issue 28 item 6: no `feature-factory init`, no dagster.yaml, two `dagster` commands at once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    python = _venv_with_the_hook(tmp_path / "venv")
    home = tmp_path / "brand_new_home"
    home.mkdir()
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": root}
    command = [str(python), str(Path(sys.executable).parent / "dagster"), "run", "list"]
    procs = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(p.wait(120), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    # The storage was created once, by the locked storage the hook's dagster.yaml names.
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["storage"]["custom"]["class"] == "LockedSqliteStorage"
    for db in ("history/runs.db", "schedules/schedules.db"):
        with sqlite3.connect(home / db) as con:
            assert con.execute("SELECT COUNT(*) FROM alembic_version").fetchone() == (1,)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as third:  # and the next user opens it
        assert isinstance(third.get_ref().storage, LockedSqliteStorage) and third.get_runs() == []


def test_the_startup_hook_acts_only_for_dagster_commands_on_a_home_without_config(tmp_path):
    from feature_factory import instance_hook

    home = tmp_path / "h"
    home.mkdir()
    env = {"DAGSTER_HOME": str(home)}
    assert instance_hook.is_dagster_cli(["/venv/bin/python", "/venv/bin/dg", "launch"])
    assert instance_hook.is_dagster_cli(["python", "-m", "dagster", "api", "grpc"])
    assert not instance_hook.is_dagster_cli(["python", "-m", "pytest"])
    assert not instance_hook.is_dagster_cli(["python", "/venv/bin/feature-factory", "demo"])
    assert instance_hook.prepare(["python", "-m", "pytest"], env) is None
    assert instance_hook.prepare(["python", "/venv/bin/dagster"], {}) is None  # no DAGSTER_HOME
    assert instance_hook.prepare(["python", "/venv/bin/dagster"], {"DAGSTER_HOME": "relative"}) is None
    assert not (home / "dagster.yaml").exists()
    assert instance_hook.prepare(["python", "/venv/bin/dagster", "run", "list"], env) == home
    assert (home / "dagster.yaml").read_text() == instance_yaml(home)
    (home / "dagster.yaml").write_text("# the user's\n")
    assert instance_hook.prepare(["python", "/venv/bin/dagster"], env) is None  # never overwritten
    assert (home / "dagster.yaml").read_text() == "# the user's\n"
