"""The Dagster instance under the project home (`DAGSTER_HOME`), shared by the demo, the CLI and the UI,
so runs launched by one are visible in the others."""

from __future__ import annotations

from pathlib import Path

from feature_factory import settings

# One run at a time locally: the DuckDB file has one writer. (A Snowflake deployment can raise this.)
INSTANCE_YAML = """\
# Written by feature-factory on first use; edit freely, it is not overwritten.
concurrency:
  runs:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


def ensure_instance(dagster_home: Path | None = None) -> Path:
    """Create DAGSTER_HOME with our dagster.yaml if it has none; return the folder."""
    home = dagster_home or settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return home
