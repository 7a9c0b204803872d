"""Markdown for the Dagster UI's metadata: the one helper for tables, values and SQL blocks.

What the UI does with Markdown decides the rules: a table wider than the metadata dialog is cut
off on the right (no horizontal scroll), so tables keep few, short columns; a long line in a code
block is cut too, so SQL is pretty-printed on short lines. Values read as a person writes them:
floats rounded (`3,761.72`, `0.1235`, not `3761.719999999999`), a midnight timestamp as its date
(`2024-03-30`), missing values as `–`. Dagster-free and pure, so every domain can use it.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

MISSING = "–"
MAX_ROWS = 50


def fmt(value: Any, digits: int = 4) -> str:
    """One value as text: rounded floats, dates as YYYY-MM-DD, `–` for None/NaN."""
    if value is None:
        return MISSING
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        value = value.item()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING if math.isnan(value) else ("∞" if value > 0 else "-∞")
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.2f}".rstrip("0").rstrip(".")
        return f"{value:.{digits}g}"
    return str(value)


def cell(value: Any, digits: int = 4) -> str:
    """A table cell: `fmt`, with pipes escaped and line breaks flattened (a cell is one line)."""
    return fmt(value, digits).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "_none_",
          max_rows: int = MAX_ROWS, digits: int = 4) -> str:
    """A Markdown table of at most `max_rows` rows (the rest counted, not shown)."""
    rows = list(rows)
    if not rows:
        return empty
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v, digits) for v in row) + " |" for row in rows[:max_rows]]
    if len(rows) > max_rows:
        lines.append(f"\n_{len(rows) - max_rows} more rows not shown_")
    return "\n".join(lines)


def records_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str], empty: str = "_none_",
                  max_rows: int = MAX_ROWS, headers: Sequence[str] | None = None) -> str:
    """`table` over dicts, picking `columns` (shown as `headers` when given)."""
    return table(headers or columns, [[r.get(c) for c in columns] for r in records], empty, max_rows)


def frame_table(df, empty: str = "_none_", max_rows: int = MAX_ROWS) -> str:
    """`table` over a (small) pandas DataFrame, its columns as headers."""
    return table(list(df.columns), list(df.itertuples(index=False, name=None)), empty, max_rows)


def sql_block(sql: str, dialect: str | None = None) -> str:
    """A fenced SQL block, pretty-printed by sqlglot on short lines (the UI cuts long ones). SQL
    sqlglot cannot parse is shown as written; comments are kept."""
    import sqlglot

    try:
        pretty = ";\n".join(sqlglot.transpile(sql, read=dialect, write=dialect, pretty=True))
    except sqlglot.errors.ParseError:
        pretty = sql
    return f"```sql\n{_wrap_comments(pretty)}\n```"


def _wrap_comments(sql: str, width: int = 88) -> str:
    """Long `/* ... */` comment lines on several lines (still one comment); SQL is left alone."""
    out = []
    for line in sql.splitlines():
        if len(line) > width and line.lstrip().startswith("/*") and line.rstrip().endswith("*/"):
            out += textwrap.wrap(line, width, subsequent_indent="   ")
        else:
            out.append(line)
    return "\n".join(out)
