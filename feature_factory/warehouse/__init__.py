"""Warehouse layer: the `Warehouse` contract and its DuckDB and Snowflake backends."""

from feature_factory.warehouse.base import Warehouse, WarehouseError, quote_ident, sql_literal
from feature_factory.warehouse.duckdb import DuckDBWarehouse
from feature_factory.warehouse.snowflake import SnowflakeWarehouse

__all__ = [
    "DuckDBWarehouse",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseError",
    "quote_ident",
    "sql_literal",
]
