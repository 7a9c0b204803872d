"""Where things live. `Homes` holds the folders (project home, landing folder, Dagster instance,
reports URL); a field left unset reads its environment variable when it is used, so tests and
users can point the project elsewhere without re-importing modules. The `homes` resource
(`feature_factory/homes.py`) inherits these fields, so an asset reads the same values the demo
or the deployment chose. The module functions below are the environment's `Homes()`."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_START_DATE = "2024-01-01"
REPORTS_PATH = "/reports"  # `feature-factory ui` serves <home>/reports/ here, on the UI's own address
DEFAULT_REPORTS_PORT = 3001  # and on this second port, where links written by earlier versions point
# The code location's module, which `make ui` loads (`dg dev -m ...`); Dagster names the location after it.
CODE_LOCATION = "feature_factory.definitions"


class Homes(BaseModel):
    """The project's folders: the one source of their defaults (plain pydantic, no Dagster)."""

    home: str | None = Field(default=None, description="Project home (warehouse file, landing files, "
                             "models, reports); default $FEATURE_FACTORY_HOME, else .feature_factory/ in "
                             "the working directory.")
    landing: str | None = Field(default=None, description="Landing folder of the events source; default "
                                "$FEATURE_FACTORY_LANDING, else the source's location.landing_folder under "
                                "<home>/landing (shipped: events).")
    dagster_home: str | None = Field(default=None, description="Dagster instance folder; default "
                                     "$DAGSTER_HOME, else <home>/dagster_home.")
    reports_url: str | None = Field(default=None, description="Where a browser opens <home>/reports/; "
                                    "default $FEATURE_FACTORY_REPORTS_URL, else /reports: relative to "
                                    "the UI's own address, where `feature-factory ui` serves them (a "
                                    "link that names no host or port opens on whatever port the UI has).")

    def root(self) -> Path:
        return Path(self.home or os.environ.get("FEATURE_FACTORY_HOME") or ".feature_factory").resolve()

    def instance_dir(self) -> Path:
        return Path(self.dagster_home or os.environ.get("DAGSTER_HOME") or self.root() / "dagster_home").resolve()

    def warehouse_path(self) -> Path:
        return self.root() / "warehouse.duckdb"

    def landing_override(self) -> Path | None:
        """The configured events landing folder, or None: the events source's own folder applies."""
        override = self.landing or os.environ.get("FEATURE_FACTORY_LANDING")
        return Path(override).resolve() if override else None

    def landing_root(self) -> Path:
        """Where sources' relative `location.landing_folder`s live."""
        return self.root() / "landing"

    def landing_dir(self) -> Path:
        """The events landing folder: the override, else `<home>/landing/events`."""
        return self.landing_override() or self.landing_root() / "events"

    def artifacts_dir(self, kind: str) -> Path:
        """A folder under the home for generated artifacts (`reports`, `models`, `plots`, ...)."""
        path = self.root() / kind
        path.mkdir(parents=True, exist_ok=True)
        return path

    def base_reports_url(self) -> str:
        """No trailing slash; `/reports` (the UI's address) unless configured."""
        url = self.reports_url or os.environ.get("FEATURE_FACTORY_REPORTS_URL")
        return (url or REPORTS_PATH).rstrip("/")

    def report_url(self, path: Path) -> str | None:
        """The URL of a file under `<home>/reports/`, or None for a file elsewhere."""
        try:
            relative = Path(path).resolve().relative_to(self.root() / "reports")
        except ValueError:
            return None
        return f"{self.base_reports_url()}/{relative.as_posix()}"


def home() -> Path:
    """`FEATURE_FACTORY_HOME`, default `.feature_factory/` in the working directory."""
    return Homes().root()


def dagster_home() -> Path:
    """`DAGSTER_HOME`, default `<home>/dagster_home`."""
    return Homes().instance_dir()


def warehouse_path() -> Path:
    return Homes().warehouse_path()


def landing_dir() -> Path:
    """Landing folder for event files; `FEATURE_FACTORY_LANDING` overrides the default."""
    return Homes().landing_dir()


def artifacts_dir(kind: str) -> Path:
    """A folder under the home for generated artifacts (`reports`, `models`, `plots`, ...)."""
    return Homes().artifacts_dir(kind)


def reports_url() -> str:
    """Where a browser opens `<home>/reports/`: `FEATURE_FACTORY_REPORTS_URL`, default `/reports`
    on the UI's own address (`feature-factory ui` serves it there). No trailing slash."""
    return Homes().base_reports_url()


def report_url(path: Path) -> str | None:
    """The URL of a file under `<home>/reports/`, or None for a file elsewhere."""
    return Homes().report_url(path)


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
