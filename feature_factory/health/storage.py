"""The warehouse side of pipeline health: volumes and landing lateness computed where the data
lives (GROUP BYs returning one row per day or file), the warehouse's size, and the atomic,
idempotent write of `pipeline_health` (one day's rows replaced in one transaction)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path

from feature_factory import tables
from feature_factory.health.evaluate import HealthReport
from feature_factory.health.samples import Point
from feature_factory.warehouse.rows import rows_select_sql
from feature_factory.warehouse.base import Warehouse
from feature_factory.warehouse.duckdb import DuckDBWarehouse

HEALTH = tables.PIPELINE_HEALTH


def _midnight(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value if isinstance(value, dt.date) \
        else dt.date.fromisoformat(str(value)[:10])


def event_volumes(warehouse: Warehouse, days: int) -> list[Point]:
    """raw_events rows per event day, the last `days` stored days (counted in the warehouse, so a
    range run's days count too: its materializations carry only the range's total)."""
    name = tables.RAW_EVENTS.name
    if not warehouse.table_exists(name):
        return []
    row = warehouse.fetch_one(f"SELECT MAX(event_date) FROM {name}")
    if not row or row[0] is None:
        return []
    first = _as_date(row[0]) - dt.timedelta(days=days - 1)
    return [Point(_midnight(_as_date(d)), str(_as_date(d)), float(n)) for d, n in warehouse.fetch_all(
        f"SELECT event_date, COUNT(*) FROM {name} WHERE event_date >= CAST(? AS DATE) GROUP BY event_date",
        [str(first)])]


def landing_lateness(warehouse: Warehouse, days: int) -> list[Point]:
    """Per event day: hours from the end of the day to when its last landing file was staged."""
    name = tables.LANDING_FILES.name
    if not warehouse.table_exists(name):
        return []
    row = warehouse.fetch_one(f"SELECT MAX(max_event_date) FROM {name} WHERE status = 'staged'")
    if not row or row[0] is None:
        return []
    first = _as_date(row[0]) - dt.timedelta(days=days - 1)
    latest: dict[dt.date, float] = {}
    for day, staged in warehouse.fetch_all(
            f"SELECT max_event_date, MAX(staged_at) FROM {name} WHERE status = 'staged' "
            "AND max_event_date >= CAST(? AS DATE) GROUP BY max_event_date", [str(first)]):
        if day is None or staged is None:
            continue
        staged = staged if staged.tzinfo else staged.replace(tzinfo=dt.timezone.utc)
        latest[_as_date(day)] = (staged.timestamp() - _midnight(_as_date(day) + dt.timedelta(days=1))) / 3600
    return [Point(_midnight(d), str(d), h) for d, h in sorted(latest.items())]


def warehouse_size(warehouse: Warehouse) -> tuple[float | None, float | None]:
    """(bytes the warehouse holds, bytes it may grow to: free disk + its own size); Snowflake: the
    schema's table bytes and no disk (set storage_budget_bytes)."""
    if isinstance(warehouse, DuckDBWarehouse):
        path = Path(warehouse.resolved_path())
        if not path.exists():
            return None, None
        size = sum(p.stat().st_size for p in (path, path.with_name(path.name + ".wal")) if p.exists())
        return float(size), float(shutil.disk_usage(path.parent).free + size)
    try:
        row = warehouse.fetch_one("SELECT SUM(bytes) FROM information_schema.tables "
                                  "WHERE table_schema = current_schema()")
    except Exception:  # an engine without the view or column: size unknown, not a failure
        return None, None
    return (float(row[0]) if row and row[0] is not None else None), None


def size_history(warehouse: Warehouse, before: dt.date) -> list[Point]:
    """The warehouse size of every earlier day's health run (one row per day)."""
    if not warehouse.table_exists(HEALTH.name):
        return []
    return [Point(_when(at), str(day), float(v)) for day, at, v in warehouse.fetch_all(
        f"SELECT health_date, computed_at, latest FROM {HEALTH} WHERE metric = 'size_bytes' "
        "AND subject = 'warehouse' AND health_date < CAST(? AS DATE) AND latest IS NOT NULL", [str(before)])]


def _when(at) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).timestamp()


def rows(report: HealthReport, day: dt.date, computed_at: dt.datetime) -> list[dict]:
    """The report as `pipeline_health` rows."""
    out = []
    for m in report.metrics:
        f = m.finding
        out.append({
            "health_date": day, "subject_kind": m.subject_kind, "subject": m.subject, "metric": m.metric,
            "samples": m.samples, "latest": m.latest, "p50": m.p50, "p90": m.p90, "total": m.total,
            "trend_per_day": m.trend_per_day, "expected": m.expected, "threshold": m.threshold,
            "days_to_threshold": m.days_to_threshold, "days_low": m.days_low, "days_high": m.days_high,
            "finding": f.kind.value if f else None, "severity": f.severity.value if f else None,
            "finding_key": f.key if f else None, "message": f.message if f else None,
            "computed_at": computed_at.replace(tzinfo=None),
        })
    return out


def write(warehouse: Warehouse, day: dt.date, table_rows: Sequence[dict]) -> int:
    """Replace `day`'s rows of pipeline_health (a rerun the same day replaces, never appends)."""
    return warehouse.replace_where(HEALTH.name, "health_date = CAST(? AS DATE)",
                                   rows_select_sql(HEALTH.schema, table_rows), where_params=[str(day)])
