"""The one place that turns `FEATURE_FACTORY_DEPLOYMENT` into resources and an executor.

`local` (default): embedded DuckDB under the project home; steps run in process, because a DuckDB
file has one writer at a time and a subprocess per step costs ~1 s. `snowflake`: the warehouse is
Snowflake through dagster-snowflake; credentials only through `dg.EnvVar` (read when a run starts,
never at import, never logged), steps may run in parallel processes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import dagster as dg

from feature_factory.homes import HomesResource
from feature_factory.warehouse import DuckDBWarehouse

if TYPE_CHECKING:  # imported when used: ~5 s that a local deployment never needs
    from dagster_snowflake import SnowflakeResource

DEPLOYMENTS = ("local", "snowflake")


def deployment_name() -> str:
    name = (os.environ.get("FEATURE_FACTORY_DEPLOYMENT") or "local").strip().lower()
    if name not in DEPLOYMENTS:
        raise ValueError(
            f"FEATURE_FACTORY_DEPLOYMENT={name!r} is not a known deployment; "
            f"choose one of {', '.join(DEPLOYMENTS)}"
        )
    return name


REQUIRED_SNOWFLAKE_VARS = {
    "account": "SNOWFLAKE_ACCOUNT",
    "user": "SNOWFLAKE_USER",
    "password": "SNOWFLAKE_PASSWORD",
    "database": "SNOWFLAKE_DATABASE",
    "schema": "SNOWFLAKE_SCHEMA",
}
# Optional: passed only when set, since an unset EnvVar is an error when the run starts.
OPTIONAL_SNOWFLAKE_VARS = {"warehouse": "SNOWFLAKE_WAREHOUSE", "role": "SNOWFLAKE_ROLE"}


def snowflake_resource() -> SnowflakeResource:
    from dagster_snowflake import SnowflakeResource

    fields = {key: dg.EnvVar(var) for key, var in REQUIRED_SNOWFLAKE_VARS.items()}
    fields.update(
        {key: dg.EnvVar(var) for key, var in OPTIONAL_SNOWFLAKE_VARS.items() if os.environ.get(var)}
    )
    return SnowflakeResource(
        **fields,
        paramstyle="qmark",
        # Timestamps without an offset are UTC, as on DuckDB; never the account's default zone.
        additional_snowflake_connection_args={"session_parameters": {"TIMEZONE": "UTC"}},
    )


def warehouse_for(name: str, homes: HomesResource | None = None):
    """The warehouse of deployment `name`; a local one's file is under `homes`' home (default: the
    environment's, read when the warehouse is used)."""
    if name == "snowflake":
        from feature_factory.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse(snowflake=snowflake_resource())
    return DuckDBWarehouse(path=str(homes.warehouse_path()) if homes else None)


def resources_for(name: str | None = None, homes: HomesResource | None = None) -> dict[str, Any]:
    """Resources for deployment `name` (default: from the environment). With `homes` (the demo's
    folders) the warehouse file, the model registry and the SQLite online store live under its
    home; without, every folder is the environment's, read when a run uses it."""
    from feature_factory.catalog_resource import CatalogResource
    from feature_factory.ml.resources import ModelRegistryResource
    from feature_factory.monitoring.notifier import notifier_from_env
    from feature_factory.monitoring.sensors import DriftResponse
    from feature_factory.remediation.resources import RemediationSettings
    from feature_factory.serving.config import OnlineStoreResource

    name = name or deployment_name()
    return {"warehouse": warehouse_for(name, homes), "remediation": RemediationSettings.from_env(),
            "catalog": CatalogResource(),  # FEATURE_FACTORY_CATALOG / _SOURCES, read when a run uses them
            "notifier": notifier_from_env(), "drift_response": DriftResponse(),
            "online_store": OnlineStoreResource.from_env(homes.root() if homes else None),
            "homes": homes or HomesResource(),
            "model_registry": ModelRegistryResource(root=str(homes.root() / "models") if homes else None)}


def executor_for(name: str | None = None) -> dg.ExecutorDefinition:
    name = name or deployment_name()
    return dg.multiprocess_executor if name == "snowflake" else dg.in_process_executor
