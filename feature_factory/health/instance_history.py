"""The pipeline's history from its Dagster instance, through the public API only:
`get_run_records` (finished runs), `get_run_step_stats` (each step's start, end, status,
attempts and materializations), `fetch_materializations` (every asset's materialization times and
its `dagster/partition_row_count`). Bounded by `lookback_days` and `max_runs`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

from feature_factory.health.samples import FAILURE, SUCCESS, Point, RunSample, StepSample
from feature_factory.health.settings import HealthSettings

PAGE = 1000
ROW_COUNT_KEYS = ("dagster/partition_row_count",)


def _since(now: float, s: HealthSettings) -> float:
    return now - s.lookback_days * 86400.0


def runs(instance: dg.DagsterInstance, now: float, s: HealthSettings) -> list[RunSample]:
    """Finished (succeeded or failed) runs created in the lookback, newest `max_runs`, with their steps."""
    after = dt.datetime.fromtimestamp(_since(now, s), tz=dt.timezone.utc)
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
                              created_after=after), limit=s.max_runs)
    out = []
    for record in records:
        run = record.dagster_run
        start, end = record.start_time, record.end_time
        if start is None:
            continue
        out.append(RunSample(run.job_name, run.run_id,
                             SUCCESS if run.status == dg.DagsterRunStatus.SUCCESS else FAILURE, float(start),
                             float(end - start) if end is not None else None,
                             tuple(_steps(instance, run.run_id))))
    return out


def _steps(instance: dg.DagsterInstance, run_id: str) -> Iterable[StepSample]:
    for st in instance.get_run_step_stats(run_id):
        seconds = (st.end_time - st.start_time) if st.start_time and st.end_time else None
        assets = tuple(sorted({e.dagster_event.asset_key.to_user_string() for e in st.materialization_events
                               if e.dagster_event is not None and e.dagster_event.asset_key is not None}))
        yield StepSample(st.step_key, st.status.value if st.status else "UNKNOWN", seconds,
                         int(st.attempts or 1), assets)


def materializations(instance: dg.DagsterInstance, now: float, s: HealthSettings,
                     ) -> tuple[dict[str, list[float]], dict[str, list[Point]], frozenset[str], dict[str, str]]:
    """(asset -> materialization times, asset -> rows per partition from
    `dagster/partition_row_count`, the assets partitioned by day, asset -> run id of its newest
    materialization)."""
    times: dict[str, list[float]] = {}
    daily: set[str] = set()
    last_run: dict[str, str] = {}
    volumes: dict[str, dict[str, Point]] = {}
    since = _since(now, s)
    for key in instance.get_asset_keys():
        name = key.to_user_string()
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_timestamp=since), limit=PAGE).records
        for record in reversed(records):  # oldest first: a later materialization of a partition wins
            times.setdefault(name, []).append(record.timestamp)
            if record.run_id:
                last_run[name] = record.run_id
            if record.partition_key and _is_day(record.partition_key):
                daily.add(name)
            mat = record.asset_materialization
            rows = next((mat.metadata[k].value for k in ROW_COUNT_KEYS if mat and k in mat.metadata), None)
            if record.partition_key and isinstance(rows, (int, float)):
                volumes.setdefault(name, {})[record.partition_key] = Point(
                    _partition_time(record.partition_key, record.timestamp), record.partition_key, float(rows))
    return times, {a: list(v.values()) for a, v in volumes.items()}, frozenset(daily), last_run


def _is_day(key: str) -> bool:
    try:
        dt.date.fromisoformat(key)
    except ValueError:
        return False
    return True


def _partition_time(key: str, fallback: float) -> float:
    try:
        day = dt.date.fromisoformat(key)
    except ValueError:
        return fallback
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()
