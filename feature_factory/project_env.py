"""The project home's settings file, `$FEATURE_FACTORY_HOME/.env`: variables the code location reads
every time it loads, so a change takes effect on the UI's **Reload** without restarting `make ui`.

`feature-factory ui` points Dagster's per-project env file loader (`DAGSTER_PROJECT_ENV_FILE_PATHS`,
read by the instance's default secrets loader) at the home for the code location: Dagster applies
the file over the environment in each code server it starts (a reload starts a new one) and in
each run worker. The demo records its last day there (`FEATURE_FACTORY_END_DATE`, so the UI counts
the demo's days as its partitions, not every day since 2024), and `generate --append-days` moves it
when it lands later days. A user puts `FEATURE_FACTORY_SOURCES=...` or `FEATURE_FACTORY_CATALOG=...`
there to onboard a source or a feature from the UI. Plain `KEY=value` lines (python-dotenv syntax).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

FILE_NAME = ".env"
END_DATE = "FEATURE_FACTORY_END_DATE"


def path(home: Path) -> Path:
    return Path(home) / FILE_NAME


def read(home: Path) -> dict[str, str]:
    """The file's variables ({} when there is none), parsed as Dagster parses it."""
    from dotenv import dotenv_values

    file = path(home)
    if not file.is_file():
        return {}
    return {k: v for k, v in dotenv_values(file).items() if v is not None}


def update(home: Path, values: dict[str, str]) -> Path:
    """Set `values` in the home's file, keeping every other line (and comment) as it was; written
    atomically (a code server loading meanwhile reads the old file or the new one, never half)."""
    file = path(home)
    lines = file.read_text().splitlines() if file.is_file() else [
        "# Read by the code location on every load (UI: Deployment -> Reload); see docs/project-settings.md"]
    todo = dict(values)
    for i, line in enumerate(lines):
        match = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if match and match.group(1) in todo:
            lines[i] = f"{match.group(1)}={todo.pop(match.group(1))}"
    lines += [f"{k}={v}" for k, v in todo.items()]
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(file)
    return file


def extend_end_date(home: Path, last_day: str) -> str | None:
    """Move the file's FEATURE_FACTORY_END_DATE to `last_day` when it ends earlier; returns the new
    value, or None when there is no end date there (partitions run to today) or it is not earlier."""
    current = read(home).get(END_DATE)
    if not current or current >= last_day:
        return None
    update(home, {END_DATE: last_day})
    return last_day
