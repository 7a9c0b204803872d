"""Measurements behind the raw_events asset checks: bounded SQL aggregates, no Dagster."""

from __future__ import annotations

import datetime as dt

from feature_factory.warehouse.base import Warehouse, sql_literal


def duplicate_event_ids(warehouse: Warehouse, start: dt.date, end: dt.date,
                        sample: int = 5) -> tuple[int, list[str]]:
    """(number of event_ids with a copy in days [start, end) that are stored more than once in
    raw_events, a few of them). Only the range's ids are grouped, each against the whole table: a
    run is judged on what it wrote, at the cost of a probe instead of grouping the whole history
    (2.8 s of a 10M-event table, growing every day)."""
    ids = (f"SELECT event_id FROM raw_events WHERE event_date >= {sql_literal(start)} "
           f"AND event_date < {sql_literal(end)}")
    dup = f"SELECT event_id FROM raw_events WHERE event_id IN ({ids}) GROUP BY event_id HAVING COUNT(*) > 1"
    n = warehouse.fetch_one(f"SELECT COUNT(*) FROM ({dup}) d")
    found = warehouse.fetch_all(f"{dup} ORDER BY event_id LIMIT {int(sample)}") if n and n[0] else []
    return int(n[0]) if n else 0, [r[0] for r in found]


def newest_event_by_day(warehouse: Warehouse, start: dt.date, end: dt.date) -> dict[dt.date, dt.datetime]:
    rows = warehouse.fetch_all(
        f"SELECT event_date, MAX(event_ts) FROM raw_events WHERE event_date >= {sql_literal(start)} "
        f"AND event_date < {sql_literal(end)} GROUP BY event_date"
    )
    return {r[0]: r[1] for r in rows}


def stale_days(
    newest: dict[dt.date, dt.datetime], start: dt.date, end: dt.date, lag_hours: float
) -> list[tuple[dt.date, dt.datetime | None]]:
    """Days in [start, end) whose newest event is more than `lag_hours` before the day's end
    (or that have no event at all)."""
    out = []
    day = start
    while day < end:
        cutoff = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) - dt.timedelta(hours=lag_hours)
        latest = newest.get(day)
        if latest is None or latest < cutoff:
            out.append((day, latest))
        day += dt.timedelta(days=1)
    return out
