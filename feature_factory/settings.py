"""Where things live. Read lazily (at call time), so tests and users can point the project elsewhere
with environment variables without re-importing modules."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

DEFAULT_START_DATE = "2024-01-01"
DEFAULT_REPORTS_PORT = 3001  # `feature-factory ui` serves <home>/reports/ here


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


def reports_url() -> str:
    """Where a browser opens `<home>/reports/`: `FEATURE_FACTORY_REPORTS_URL`, default the report
    server of `feature-factory ui` on this machine (http://127.0.0.1:3001). No trailing slash."""
    return (os.environ.get("FEATURE_FACTORY_REPORTS_URL") or f"http://127.0.0.1:{DEFAULT_REPORTS_PORT}").rstrip("/")


def report_url(path: Path) -> str | None:
    """The URL of a file under `<home>/reports/`, or None for a file elsewhere."""
    try:
        relative = Path(path).resolve().relative_to(home() / "reports")
    except ValueError:
        return None
    return f"{reports_url()}/{relative.as_posix()}"


def end_date() -> str | None:
    """Last daily partition, `FEATURE_FACTORY_END_DATE` (YYYY-MM-DD, inclusive); default none:
    partitions run to today. Must not be before the start date."""
    value = os.environ.get("FEATURE_FACTORY_END_DATE")
    if not value:
        return None
    try:
        last = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"FEATURE_FACTORY_END_DATE={value!r} is not a date in YYYY-MM-DD form") from exc
    if last < dt.date.fromisoformat(start_date()):
        raise ValueError(f"FEATURE_FACTORY_END_DATE={value} is before FEATURE_FACTORY_START_DATE={start_date()}")
    return value
