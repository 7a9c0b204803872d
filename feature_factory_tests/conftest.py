"""Shared fixtures: a fresh warehouse in tmp_path on each backend.

`warehouse` is parametrized over DuckDB and Snowflake-through-fakesnow, so a test that takes it
runs on both and must assert the same values on both.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from feature_factory.fast_sqlite import keep_open_fast
from feature_factory.warehouse import DuckDBWarehouse, SnowflakeWarehouse

# DuckDB-side twin of the one Snowflake function fakesnow cannot run (TRY_TO_TIMESTAMP_TZ).
_FAKE_TRY_TIMESTAMP = (
    "CREATE OR REPLACE TEMP MACRO ff_try_timestamp(x) AS "
    "CAST(timezone('UTC', TRY_CAST(x AS TIMESTAMPTZ)) AS TIMESTAMP)"
)


class FakeSnowflakeWarehouse(SnowflakeWarehouse):
    """The Snowflake backend on fakesnow. Only `try_timestamp` differs (see above); every other
    statement is the production Snowflake SQL, transpiled by fakesnow."""

    @contextmanager
    def session(self):
        with super().session() as s:
            s.conn._duck_conn.execute(_FAKE_TRY_TIMESTAMP)
            yield s

    def try_timestamp(self, expr: str) -> str:
        return f"ff_try_timestamp({expr})"


def pytest_collection_modifyitems(items) -> None:
    """Under `pytest -n N --dist loadgroup` (make test), every test of the demo story runs on one
    worker: `demo_run` is session-scoped, so the ~1.5 min story then runs once, not once per worker."""
    for item in items:
        if "demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("demo_story"))


@pytest.fixture(autouse=True, scope="session")
def fast_test_instances() -> None:
    """Dagster instances the tests open in temporary folders (`dg.instance_for_test`, the demo's
    home) commit their SQLite files without a disk flush per event, as the project's own
    instance does (feature_factory.fast_sqlite): the same storage and events, ~20 ms less per
    event."""
    keep_open_fast(tempfile.gettempdir())


@pytest.fixture(autouse=True)
def project_home(tmp_path, monkeypatch) -> Iterator:
    """Every test gets its own FEATURE_FACTORY_HOME and DAGSTER_HOME."""
    home = tmp_path / "ff_home"
    home.mkdir()
    monkeypatch.setenv("FEATURE_FACTORY_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
    (home / "dagster_home").mkdir()
    monkeypatch.delenv("FEATURE_FACTORY_DEPLOYMENT", raising=False)
    monkeypatch.delenv("FEATURE_FACTORY_LANDING", raising=False)
    monkeypatch.delenv("FEATURE_FACTORY_REPORTS_URL", raising=False)
    monkeypatch.delenv("FEATURE_FACTORY_END_DATE", raising=False)
    yield home


@pytest.fixture
def duckdb_warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def snowflake_warehouse(tmp_path) -> Iterator[SnowflakeWarehouse]:
    import fakesnow
    from dagster_snowflake import SnowflakeResource

    db_dir = tmp_path / "fakesnow"
    db_dir.mkdir()
    with fakesnow.patch(db_path=str(db_dir)):
        yield FakeSnowflakeWarehouse(
            snowflake=SnowflakeResource(
                account="fake", user="fake", password="fake",
                database="FEATURE_FACTORY", schema="PUBLIC", paramstyle="qmark",
            )
        )


@pytest.fixture(params=["duckdb", "snowflake"])
def warehouse(request):
    """The same test on both backends."""
    return request.getfixturevalue(f"{request.param}_warehouse")


@dataclass(frozen=True)
class DemoRun:
    """The small demo story, run once per test session (test_demo asserts on it; the browser
    tests open the Dagster UI on a copy of its home)."""

    story: object  # demo.Story
    output: str
    home: Path
    reports_url: str  # what the links in its metadata start with (the default: /reports, no port)
    environment_changes: dict  # name -> (before, after) of each FEATURE_FACTORY_/DAGSTER_ variable it changed


DEMO_OPTIONS = {"customers": 300, "days": 40, "drift_days": 8}  # = the browser test's DEMO_ARGS


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """`demo.run_story` in process on a fresh home (one run for the whole session: it is the
    suite's most expensive setup, ~1.5 min). Its environment is restored afterwards."""
    from feature_factory import demo, settings

    home = tmp_path_factory.mktemp("demo_story") / "home"
    (home / "dagster_home").mkdir(parents=True)
    reports_url = settings.REPORTS_PATH  # no FEATURE_FACTORY_REPORTS_URL: a user's default links
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("FEATURE_FACTORY_", "DAGSTER_")):
                mp.delenv(name)
        mp.setenv("FEATURE_FACTORY_HOME", str(home))  # no DAGSTER_HOME: the default, <home>/dagster_home
        before = dict(os.environ)
        story = demo.run_story(demo.StoryOptions(**DEMO_OPTIONS), out=lines.append)
        after = dict(os.environ)
    # The project's and Dagster's variables (libraries it imports set their own, e.g. KMP_*).
    changes = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()
               if k.startswith(("FEATURE_FACTORY_", "DAGSTER_")) and before.get(k) != after.get(k)}
    return DemoRun(story=story, output="\n".join(lines), home=home, reports_url=reports_url,
                   environment_changes=changes)
