"""Warehouse layer: the `Warehouse` contract and its DuckDB and Snowflake backends."""

from feature_factory.warehouse.base import Warehouse, WarehouseError, quote_ident, sql_literal
from feature_factory.warehouse.duckdb import DuckDBWarehouse

__all__ = [
    "DuckDBWarehouse",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseError",
    "quote_ident",
    "sql_literal",
]


def __getattr__(name: str):
    # Imported on first use: dagster-snowflake pulls in the Snowflake connector, Snowpark and
    # snowflake.core (~5 s), which a local deployment never needs.
    if name == "SnowflakeWarehouse":
        from feature_factory.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
