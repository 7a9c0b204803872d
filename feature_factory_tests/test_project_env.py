"""The project home's .env: what the code location reads on every load (items 7 and 8 of issue 34)."""

from __future__ import annotations

import json

from feature_factory import project_env, settings, ui
from feature_factory.cli import main


def test_update_keeps_other_lines_and_reads_back(tmp_path):
    file = project_env.path(tmp_path)
    file.write_text("# mine\nFEATURE_FACTORY_SOURCES=/data/sources.yaml\nexport FEATURE_FACTORY_END_DATE=2024-01-05\n")
    project_env.update(tmp_path, {"FEATURE_FACTORY_END_DATE": "2024-02-09", "FEATURE_FACTORY_CATALOG": "/c.yaml"})
    assert file.read_text().splitlines() == [
        "# mine", "FEATURE_FACTORY_SOURCES=/data/sources.yaml", "FEATURE_FACTORY_END_DATE=2024-02-09",
        "FEATURE_FACTORY_CATALOG=/c.yaml"]
    assert project_env.read(tmp_path) == {"FEATURE_FACTORY_SOURCES": "/data/sources.yaml",
                                          "FEATURE_FACTORY_END_DATE": "2024-02-09",
                                          "FEATURE_FACTORY_CATALOG": "/c.yaml"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".env"]  # no temp file left
    assert project_env.read(tmp_path / "none") == {}


def test_end_date_only_moves_later_and_only_when_set(tmp_path):
    assert project_env.extend_end_date(tmp_path, "2024-03-01") is None  # no end date: partitions run to today
    assert not project_env.path(tmp_path).exists()
    project_env.update(tmp_path, {project_env.END_DATE: "2024-02-09"})
    assert project_env.extend_end_date(tmp_path, "2024-02-01") is None
    assert project_env.extend_end_date(tmp_path, "2024-02-10") == "2024-02-10"
    assert project_env.read(tmp_path)[project_env.END_DATE] == "2024-02-10"


def test_ui_maps_the_code_location_to_the_home(tmp_path):
    mapped = ui.project_env_variables(tmp_path, {})
    assert json.loads(mapped["DAGSTER_PROJECT_ENV_FILE_PATHS"]) == {"feature_factory.definitions": str(tmp_path)}
    mine = {"DAGSTER_PROJECT_ENV_FILE_PATHS": json.dumps({"other": "/x"})}
    assert json.loads(ui.project_env_variables(tmp_path, mine)["DAGSTER_PROJECT_ENV_FILE_PATHS"]) == {
        "other": "/x", "feature_factory.definitions": str(tmp_path)}


def test_dagster_applies_the_home_env_for_the_code_location(tmp_path, monkeypatch):
    """What a code server does when it (re)loads: the instance's default secrets loader reads the
    file the mapping names and sets its variables."""
    import dagster as dg

    project_env.update(tmp_path, {"FEATURE_FACTORY_END_DATE": "2024-02-09"})
    monkeypatch.delenv("FEATURE_FACTORY_END_DATE", raising=False)
    for key, value in ui.project_env_variables(tmp_path, {}).items():
        monkeypatch.setenv(key, value)
    with dg.instance_for_test() as instance:
        instance.inject_env_vars("some.other.location")
        assert settings.end_date() is None
        instance.inject_env_vars(settings.CODE_LOCATION)
        assert settings.end_date() == "2024-02-09"


def test_generate_moves_the_end_date_of_the_project_home(project_home, capsys):
    project_env.update(project_home, {project_env.END_DATE: "2024-01-04"})
    args = ["generate", "--customers", "20", "--days", "4"]
    assert main(args) == 0
    assert "moved" not in capsys.readouterr().out  # nothing later landed
    assert main([*args, "--append-days", "1"]) == 0
    out = capsys.readouterr().out
    assert f"FEATURE_FACTORY_END_DATE in {project_home / '.env'} moved to 2024-01-05" in out
    assert project_env.read(project_home)[project_env.END_DATE] == "2024-01-05"
    assert sorted(p.name for p in settings.landing_dir().iterdir())[-1] == "events_2024-01-05.csv"
