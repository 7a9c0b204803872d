"""Dates as the backends and Dagster hand them over, coerced in one place."""

from __future__ import annotations

import datetime as dt
from typing import Any


def as_date(value: Any) -> dt.date | None:
    """A DATE as DuckDB / Snowflake / pandas / run config return it (date, datetime, pandas
    Timestamp, ISO text) -> date; None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date"):  # pandas Timestamp
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])
