"""Warehouse layer: the `Warehouse` contract, its DuckDB and Snowflake backends, and their
connection-free SQL dialects (`dialect.py`)."""

__all__ = [
    "DuckDBWarehouse",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseError",
    "quote_ident",
    "sql_literal",
]


def __getattr__(name: str):
    # Imported on first use, so `warehouse.dialect` imports without Dagster or a driver, and
    # dagster-snowflake (the Snowflake connector, Snowpark and snowflake.core, ~5 s) only where a
    # Snowflake deployment needs it.
    if name == "SnowflakeWarehouse":
        from feature_factory.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse
    if name == "DuckDBWarehouse":
        from feature_factory.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse
    if name in ("Warehouse", "WarehouseError", "quote_ident", "sql_literal"):
        from feature_factory.warehouse import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
