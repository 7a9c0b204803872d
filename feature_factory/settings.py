"""Where things live. Read lazily (at call time), so tests and users can point the project elsewhere
with environment variables without re-importing modules."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

DEFAULT_START_DATE = "2024-01-01"


def home() -> Path:
    """`FEATURE_FACTORY_HOME`, default `.feature_factory/` in the working directory."""
    return Path(os.environ.get("FEATURE_FACTORY_HOME") or ".feature_factory").resolve()


def dagster_home() -> Path:
    """`DAGSTER_HOME`, default `<home>/dagster_home`."""
    return Path(os.environ.get("DAGSTER_HOME") or home() / "dagster_home").resolve()


def warehouse_path() -> Path:
    return home() / "warehouse.duckdb"


def landing_dir() -> Path:
    """Landing folder for event files; `FEATURE_FACTORY_LANDING` overrides the default."""
    override = os.environ.get("FEATURE_FACTORY_LANDING")
    return Path(override).resolve() if override else home() / "landing" / "events"


def artifacts_dir(kind: str) -> Path:
    """A folder under the home for generated artifacts (`reports`, `models`, `plots`, ...)."""
    path = home() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_date() -> str:
    """First daily partition, `FEATURE_FACTORY_START_DATE` (YYYY-MM-DD), default 2024-01-01."""
    value = os.environ.get("FEATURE_FACTORY_START_DATE") or DEFAULT_START_DATE
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"FEATURE_FACTORY_START_DATE={value!r} is not a date in YYYY-MM-DD form"
        ) from exc
    return value
