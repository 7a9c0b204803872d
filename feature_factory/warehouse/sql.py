"""Portable SQL text: validated identifiers and literals, the same on every backend.

No Dagster, no driver, no connection: the Dagster-free settings and patch modules (labels, patch
rules, typed patches) build their SQL with these, and `warehouse.base` re-exports them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")


def quote_ident(name: str) -> str:
    """Validate a lower-case identifier and return it quoted for both engines.

    Both DuckDB and Snowflake fold unquoted identifiers to one case; we only ever create lower-case
    snake_case names, which we then use unquoted. Anything else is refused rather than escaped, so
    text from a table or a user can never smuggle SQL in through a name.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"invalid SQL identifier {name!r}: expected lower-case snake_case")
    return name


def sql_literal(value: Any) -> str:
    """Render a Python scalar as a SQL literal (for DDL/CTAS text where placeholders are not allowed).

    Strings are single-quoted with quotes doubled; numbers must be finite; None is NULL.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} cannot be a SQL literal")
        return repr(float(value))
    if isinstance(value, dt.datetime):
        return f"CAST('{value.isoformat(sep=' ')}' AS TIMESTAMP)"
    if isinstance(value, dt.date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"cannot render {type(value).__name__} as a SQL literal")
