"""Measurements behind a raw table's asset checks: bounded SQL aggregates, no Dagster."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from feature_factory import tables
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse


def duplicate_ids(warehouse: Warehouse, table: str, row_id: str, start: dt.date, end: dt.date,
                  sample: int = 5) -> tuple[int, list[str]]:
    """(number of `row_id`s with a copy in days [start, end) that are stored more than once in
    `table`, a few of them). Only the range's ids are grouped, each against the whole table: a run
    is judged on what it wrote, at the cost of a probe instead of grouping the whole history (2.8 s
    of a 10M-event table, growing every day)."""
    t, rid = quote_ident(table), quote_ident(row_id)
    ids = f"SELECT {rid} FROM {t} WHERE event_date >= {sql_literal(start)} AND event_date < {sql_literal(end)}"
    dup = f"SELECT {rid} FROM {t} WHERE {rid} IN ({ids}) GROUP BY {rid} HAVING COUNT(*) > 1"
    n = warehouse.fetch_one(f"SELECT COUNT(*) FROM ({dup}) d")
    found = warehouse.fetch_all(f"{dup} ORDER BY {rid} LIMIT {int(sample)}") if n and n[0] else []
    return int(n[0]) if n else 0, [str(r[0]) for r in found]


def duplicate_event_ids(warehouse: Warehouse, start: dt.date, end: dt.date, sample: int = 5) -> tuple[int, list[str]]:
    """`duplicate_ids` of raw_events' event_id."""
    return duplicate_ids(warehouse, tables.RAW_EVENTS.name, "event_id", start, end, sample)


def newest_event_by_day(warehouse: Warehouse, start: dt.date, end: dt.date, table: str = tables.RAW_EVENTS.name,
                        event_time: str = "event_ts") -> dict[dt.date, dt.datetime]:
    rows = warehouse.fetch_all(
        f"SELECT event_date, MAX({quote_ident(event_time)}) FROM {quote_ident(table)} "
        f"WHERE event_date >= {sql_literal(start)} AND event_date < {sql_literal(end)} GROUP BY event_date"
    )
    return {r[0]: r[1] for r in rows}


def date_only(newest: dict[dt.date, dt.datetime | None], time_format: str | None = None) -> bool:
    """Whether a source's event times carry no time of day: a declared format without an hour
    (`%Y%m%d`), or every day's newest event at midnight (a date-only ISO feed)."""
    if time_format is not None:
        return not any(d in time_format for d in ("%H", "%I", "%M", "%S"))
    values = [v for v in newest.values() if v is not None]
    return bool(values) and all(isinstance(v, dt.datetime) and v.time() == dt.time() for v in values)


def stale_days(
    newest: dict[dt.date, dt.datetime], start: dt.date, end: dt.date, lag_hours: float, dated_only: bool = False
) -> list[tuple[dt.date, dt.datetime | None]]:
    """Days in [start, end) whose newest event is more than `lag_hours` before the day's end
    (or that have no event at all). `dated_only` (event times without a time of day): a day with
    any event is fresh, as no event can be later than the day's midnight."""
    out = []
    day = start
    while day < end:
        cutoff = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) - dt.timedelta(hours=lag_hours)
        latest = newest.get(day)
        if latest is None or (latest < cutoff and not dated_only):
            out.append((day, latest))
        day += dt.timedelta(days=1)
    return out
