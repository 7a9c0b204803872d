"""The deployment switch and the code location."""

from __future__ import annotations

import dagster as dg
import pytest

from feature_factory import deployment, settings
from feature_factory.warehouse import DuckDBWarehouse, SnowflakeWarehouse


def test_local_is_the_default(monkeypatch):
    monkeypatch.delenv("FEATURE_FACTORY_DEPLOYMENT", raising=False)
    assert deployment.deployment_name() == "local"
    wh = deployment.resources_for()["warehouse"]
    assert isinstance(wh, DuckDBWarehouse)
    assert wh.resolved_path() == settings.home() / "warehouse.duckdb"
    assert deployment.executor_for() is dg.in_process_executor


def test_snowflake_deployment_uses_env_vars_not_values(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_DEPLOYMENT", "Snowflake")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "s3cret-value")
    wh = deployment.resources_for()["warehouse"]
    assert isinstance(wh, SnowflakeWarehouse)
    # Secrets stay EnvVar references until a run starts; the value never lands in the config.
    assert "s3cret-value" not in repr(wh)
    assert deployment.executor_for() is dg.multiprocess_executor


def test_unknown_deployment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_DEPLOYMENT", "prod-ish")
    with pytest.raises(ValueError, match="'prod-ish' is not a known deployment; choose one of local, snowflake"):
        deployment.deployment_name()


def test_bad_start_date_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_START_DATE", "2024-13-01")
    with pytest.raises(ValueError, match="FEATURE_FACTORY_START_DATE='2024-13-01'"):
        settings.start_date()


def test_home_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FEATURE_FACTORY_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("DAGSTER_HOME")
    assert settings.home() == tmp_path / "elsewhere"
    assert settings.dagster_home() == tmp_path / "elsewhere" / "dagster_home"
    assert settings.landing_dir() == tmp_path / "elsewhere" / "landing" / "events"


def test_code_location_loads_and_validates():
    from feature_factory.definitions import defs

    repo = defs.get_repository_def()
    assert repo.get_top_level_resources()["warehouse"] is not None
    # Every job resolves (assets and their dependencies all present).
    for job in repo.get_all_jobs():
        assert job.name


def test_a_given_homes_resource_places_the_warehouse_and_the_registry(tmp_path, monkeypatch):
    from feature_factory.definitions import build_defs
    from feature_factory.homes import HomesResource

    monkeypatch.delenv("FEATURE_FACTORY_ONLINE_STORE_PATH", raising=False)  # it would name another file
    chosen = tmp_path / "chosen"
    defs = build_defs(resources={"homes": HomesResource(home=str(chosen))})
    assert defs.resources["warehouse"].resolved_path() == chosen / "warehouse.duckdb"
    assert defs.resources["model_registry"].open().root == chosen / "models"
    assert defs.resources["online_store"].store().describe() == f"sqlite:{chosen / 'online_store.sqlite'}"
    assert defs.resources["homes"].landing_dir() == chosen / "landing" / "events"
    # Without one, every folder is the environment's, read when used.
    default = build_defs().resources
    assert default["homes"].root() == settings.home() and default["warehouse"].path is None
    assert default["online_store"].path is None and default["model_registry"].root is None
