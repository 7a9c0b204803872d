"""`feature_stats_baseline`: versioned reference statistics captured from a chosen window of days.

A capture pools the window's customer_features rows per feature (one SQL pass), freezes bin edges
at the deciles of the window (nearest-rank, so edges are values that occur; duplicates removed, so
a discrete feature gets one bin per atom), then computes each day of the window over those bins (a
second pass; the pooled histogram and tail shares are the sums of the days'). Each day is then
scored against the pooled baseline: the largest effect per drift type is the baseline's noise floor
(drift.baseline_noise), and significant day-to-day trends (population ageing) are kept with it
(trend.py). Every capture is a new version; the previous current one is kept, marked
not current, in the same transaction. Nothing is ever overwritten.

A capture of some features only (`only`: a `refresh_baseline` approved for one feature) recaptures
those and carries every other feature's row of the previous version into the new one unchanged
(`carried_from`), so a refresh moves nothing it was not approved for. Days with contamination
findings or clipped values (contamination.py) are left out of the window (`exclude_days`, stored
per feature in `excluded_days`), so a refresh never makes contamination normal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from feature_factory import tables
from feature_factory.catalog import FeatureSpec
from feature_factory.dates import as_date
from feature_factory.features.snapshots import snapshot_days
from feature_factory.monitoring.detection import baseline_window
from feature_factory.monitoring.detection.drift import baseline_noise
from feature_factory.monitoring.inputs import input_specs
from feature_factory.monitoring.statistics.feature_stats import (
    DEFAULT_GRID_SIZE, Binning, MonitoringError, feature_columns, read_expressions,
    resolve_features, stats_select_sql,
)
from feature_factory.monitoring.subject import CUSTOMER, Subject
from feature_factory.monitoring.statistics.summary import Summary
from feature_factory.precision import plain_double
from feature_factory.warehouse.rows import rows_select_sql
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse

NO_BASELINE = "no baseline captured yet — run capture_baseline_job"

@dataclass
class Baseline:
    version: int
    window_start: dt.date
    window_end: dt.date
    days: int
    features: dict[str, Summary]
    # Set by a capture: features left out because no day of the window had a complete window
    # (name -> first complete day). Not stored; such features are simply absent from the version.
    incomplete: dict[str, dt.date] = field(default_factory=dict)
    # When this version was captured: with the version, it names the capture an alert was judged
    # against (a wiped warehouse starts at version 1 again; answered.py).
    captured_at: dt.datetime | None = None
    # Each feature's own window (a per-feature refresh leaves the others' windows as they were).
    windows: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)
    # Per feature: the version its row was carried from unchanged (absent: captured by this one).
    carried: dict[str, int] = field(default_factory=dict)
    # Per feature: days of its window left out (day -> why; stored as a list of days).
    excluded: dict[str, list[dt.date]] = field(default_factory=dict)

    def window_end_of(self, feature: str) -> dt.date:
        """The last day of `feature`'s own window (the version's end when unknown)."""
        return self.windows.get(feature, (self.window_start, self.window_end))[1]
    # Set by a capture: the window trends in population or volume (baseline_window.py), with a
    # flatter window suggested. Not stored; shown in the capture's metadata and log.
    warnings: list[str] = field(default_factory=list)

    def binning(self) -> Binning:
        return Binning(
            version=self.version,
            edges={f: s.edges for f, s in self.features.items() if s.edges is not None},
            ranges={f: (s.quantiles["p01"], s.quantiles["p99"]) for f, s in self.features.items()
                    if s.quantiles.get("p01") is not None and s.quantiles.get("p99") is not None},
        )

    def describe(self) -> str:
        return f"v{self.version} ({self.window_start}..{self.window_end}, {self.days} days)"


def current_baseline(warehouse: Warehouse, subject: Subject = CUSTOMER) -> Baseline | None:
    """The current baseline, or None when none has been captured yet (see `NO_BASELINE`)."""
    if not warehouse.table_exists(subject.baseline.name):
        return None
    df = warehouse.fetch_df(f"SELECT * FROM {subject.baseline.name} WHERE is_current ORDER BY feature")
    if df.empty:
        return None
    versions = set(df["baseline_version"])
    if len(versions) != 1:
        raise MonitoringError(f"{subject.baseline.name} has {len(versions)} current versions {sorted(versions)}")
    first = df.iloc[0]
    records = df.to_dict("records")
    return Baseline(
        version=int(first["baseline_version"]),
        window_start=min(as_date(v) for v in df["window_start"]),  # features may start later (see capture)
        window_end=max(as_date(v) for v in df["window_end"]),  # a carried feature may end earlier
        days=int(df["days"].max()),
        features={r["feature"]: Summary.from_row(r) for r in records},
        # The version's newest capture time (rows carried unchanged from an older version may keep theirs).
        captured_at=_timestamp(df["captured_at"].max()),
        windows={r["feature"]: (as_date(r["window_start"]), as_date(r["window_end"])) for r in records},
        carried={r["feature"]: int(r["carried_from"]) for r in records if _present(r.get("carried_from"))},
        excluded={r["feature"]: [dt.date.fromisoformat(d) for d in json.loads(r["excluded_days"])]
                  for r in records if _present(r.get("excluded_days")) and json.loads(r["excluded_days"])},
    )


def _timestamp(value) -> dt.datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) and value is not pd.NA


DEFAULT_FIRST_N_DAYS = 28  # the first capture's window when no baseline exists yet


def resolve_window(warehouse: Warehouse, start: str | None, end: str | None,
                   first_n_days: int | None, previous: Baseline | None = None,
                   subject: Subject = CUSTOMER) -> tuple[dt.date, dt.date]:
    """[start, end]. Without start, end and `first_n_days`: the window of the `previous` (current)
    baseline, so a recapture (after adding a feature or a patch) keeps monitoring every feature it
    monitored; without a previous one, the first 28 days. `first_n_days` counts from `start` (or
    from the first snapshot day)."""
    if start is None and end is None and first_n_days is None and previous is not None:
        return previous.window_start, previous.window_end
    first_n_days = DEFAULT_FIRST_N_DAYS if first_n_days is None else first_n_days
    if first_n_days < 1:
        raise ValueError(f"first_n_days={first_n_days} must be at least 1")
    first = _parse(start, "start_date")
    if first is None:
        row = warehouse.fetch_one(f"SELECT MIN(snapshot_date) FROM {subject.features}")
        if not row or row[0] is None:
            raise MonitoringError(f"{subject.features} has no rows: materialize {subject.features} first")
        first = as_date(row[0])
    last = _parse(end, "end_date") or first + dt.timedelta(days=first_n_days - 1)
    if last < first:
        raise ValueError(f"baseline window end {last} is before its start {first}")
    return first, last


def dropped_features(previous: Baseline | None, captured: Baseline, subject: Subject = CUSTOMER) -> dict[str, str]:
    """Features the previous baseline monitored and the new one does not (name -> why)."""
    if previous is None:
        return {}
    return {f: (f"its window is first complete on {captured.incomplete[f]}, after the window's end"
                if f in captured.incomplete else f"not in {subject.features} or the catalog any more")
            for f in sorted(set(previous.features) - set(captured.features))}


def capture_baseline(
    warehouse: Warehouse,
    start: dt.date,
    end: dt.date,
    features: Sequence[FeatureSpec],
    grid_size: int = DEFAULT_GRID_SIZE,
    sketch_rows: int | None = None,
    subject: Subject = CUSTOMER,
    only: Sequence[str] | None = None,
    exclude_days: Sequence[dt.date] = (),
) -> Baseline:
    """Capture a new current baseline version from customer_features (the subject's feature table)
    days [start, end], without `exclude_days`.

    `only`: recapture these features alone; every other feature of the current version is carried
    into the new one unchanged (module doc). Names that are not computed features are an error.

    A k-day feature is only complete from the k-th day of event history on (before that its window
    reaches back past the first event), so each feature's baseline starts at the later of `start`
    and that day: a 90-day count still ramping up would otherwise look like drift forever after.
    Features with no complete day in the window are left out (listed in `Baseline.incomplete`).
    `sketch_rows`: grids and quantiles from a row sample of about that many rows per day (pooled:
    per window), see feature_stats.py; exact by default."""
    types = feature_columns(warehouse, subject)
    specs = resolve_features(features)
    if only is not None:
        specs = refresh_specs(specs, only, subject)
    exprs = read_expressions(warehouse, specs, subject)
    skip = sorted({d for d in exclude_days if start <= d <= end})
    days = snapshot_days(warehouse, start, end, subject.features) - _stored_days(warehouse, skip, subject)
    if days <= 0:
        raise MonitoringError(
            f"no {subject.features} rows between {start} and {end}"
            + (f" outside the {len(skip)} excluded day(s)" if skip else "")
            + ": materialize those partitions first or choose another baseline window")
    groups, incomplete = complete_windows(history_start(warehouse, subject), specs, start, end)
    if not groups:
        raise MonitoringError(
            f"no feature is complete anywhere in {start}..{end} (history starts too late): "
            + "; ".join(f"{f} from {d}" for f, d in incomplete.items()))
    summaries: dict[str, Summary] = {}
    edges: dict[str, list[float]] = {}
    daily: dict[str, list[Summary]] = {}
    offsets: dict[str, list[int]] = {}  # per day of `daily`: days before the window's end
    firsts: dict[str, dt.date] = {}
    for first, names in groups.items():
        group_exprs = {n: exprs[n] for n in names if n in exprs}
        if not group_exprs:  # features of the catalog not (yet) in customer_features
            continue
        inputs = input_specs(warehouse, [s for s in specs if s.name in group_exprs])
        # With the sketch, the pooled pass takes only the sample's order statistics, counts and
        # distinct counts; the window's moments come merged from the by-day pass (sketch.py).
        sketch = sketch_rows is not None
        pooled = warehouse.fetch_df(stats_select_sql(warehouse.dialect, group_exprs, first, end, by_day=False,
                                                     grid_size=grid_size, inputs=inputs, sketch_rows=sketch_rows,
                                                     moments=not sketch, subject=subject, exclude_days=skip))
        group = {r["feature"]: Summary.from_row(r) for r in pooled.to_dict("records")}
        group_edges = {f: decile_edges(s.grid) for f, s in group.items()}
        ranges = {f: (s.quantiles["p01"], s.quantiles["p99"]) for f, s in group.items()
                  if s.quantiles["p01"] is not None}
        # Per day: the histograms and tail counts, and (with two days or more) the grids the
        # noise floor compares; a one-day window needs no second grid.
        by_day = warehouse.fetch_df(stats_select_sql(
            warehouse.dialect, group_exprs, first, end, binning=Binning(edges=group_edges, ranges=ranges),
            grid_size=grid_size, inputs=inputs, with_grid=days > 1, sketch_rows=sketch_rows, pooled_row=sketch,
            subject=subject, exclude_days=skip))
        records = by_day.to_dict("records")
        for r in (r for r in records if _missing_date(r["stats_date"])):  # the sketch's pooled moments
            merged = Summary.from_row(r)
            for name in _MOMENTS:
                setattr(group[r["feature"]], name, getattr(merged, name))
        for r in sorted((r for r in records if not _missing_date(r["stats_date"])), key=lambda r: as_date(r["stats_date"])):
            daily.setdefault(r["feature"], []).append(Summary.from_row(r))
            offsets.setdefault(r["feature"], []).append((end - as_date(r["stats_date"])).days)
        summaries.update(group)
        edges.update(group_edges)
        firsts.update(dict.fromkeys(group, first))
    captured_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = []
    for f, s in summaries.items():
        days_f = daily.get(f, [])
        s.edges, s.days = edges[f], len(days_f) or days
        s.hist = [sum(d.hist[i] for d in days_f) for i in range(len(edges[f]) + 1)]
        s.out_of_range_share = _share(sum(d.out_of_range_count or 0 for d in days_f), s.value_count)
        s.above_range_share = _share(sum(d.above_range_count or 0 for d in days_f), s.value_count)
        rows.append({
            "is_current": True, "window_start": firsts[f], "window_end": end, "days": s.days,
            "captured_at": captured_at, "feature": f, "column_type": types[f],
            "row_count": s.row_count, "value_count": s.value_count, "null_rate": s.null_rate,
            "zero_rate": s.zero_rate, "mean": s.mean, "stddev": s.stddev, "kurtosis": s.kurtosis,
            # The extremes at the declared precision (clip bounds are taken from them; nothing
            # else compares with them). The quantiles stay exact: drift bins values against them.
            "min_value": plain_double(s.min_value), "max_value": plain_double(s.max_value), **s.quantiles,
            "distinct_count": s.distinct_count, "input_null_rate": s.input_null_rate,
            "out_of_range_share": s.out_of_range_share, "above_range_share": s.above_range_share,
            "rows_per_day": s.row_count / s.days,
            "noise_floor": json.dumps(baseline_noise(days_f, s, offsets=offsets.get(f)) if len(days_f) > 1 else {}),
            "bin_edges": json.dumps(edges[f]), "hist_counts": json.dumps([int(c) for c in s.hist]),
            "quantile_grid": json.dumps(s.grid) if s.grid is not None else None, "grid_size": grid_size,
            "grid_rank_error": s.grid_rank_error,
            "excluded_days": json.dumps([str(d) for d in skip if d >= firsts[f]]), "carried_from": None,
        })
    if not rows:
        raise MonitoringError(f"none of {', '.join(only or [])} has a column in {subject.features} to capture")
    _append_version(warehouse, rows, subject.baseline, carry_over=only is not None)
    baseline = current_baseline(warehouse, subject)
    assert baseline is not None
    baseline.incomplete = incomplete
    ramp = max((s.window_days for s in specs if isinstance(s.window_days, int)), default=0)
    baseline.warnings = window_warnings(warehouse, start, end, subject, ramp_days=ramp)
    return baseline


def window_warnings(warehouse: Warehouse, start: dt.date, end: dt.date, subject: Subject = CUSTOMER,
                    max_change: float = baseline_window.MAX_CHANGE, ramp_days: int = 0) -> list[str]:
    """Warnings when [start, end] trends in population (rows per snapshot day) or volume (landed
    rows per event day), with a flatter window of the same length (two GROUP BYs, one row a day).
    The population's first `ramp_days` days of history are left out: it fills up while the
    history is shorter than the longest window (the ramp-up the per-feature windows and the
    baseline's own trend already account for), which is not a cohort ageing out."""
    first_day = history_start(warehouse, subject)
    ramped = first_day + dt.timedelta(days=max(ramp_days - 1, 0)) if first_day else None
    population = {as_date(d): float(n) for d, n in warehouse.fetch_all(
        f"SELECT snapshot_date, COUNT(*) FROM {subject.features} GROUP BY snapshot_date")
        if d is not None and (ramped is None or as_date(d) >= ramped)}
    landed: dict[dt.date, float] = {}
    if population and warehouse.table_exists(subject.history):
        landed = {as_date(d): float(n) for d, n in warehouse.fetch_all(
            f"SELECT event_date, COUNT(*) FROM {subject.history} GROUP BY event_date") if d is not None}
        first = min(landed, default=None)
        if first is not None:  # a day without rows between the first and the last landed nothing
            span = (max(landed) - first).days + 1
            landed = {first + dt.timedelta(days=i): landed.get(first + dt.timedelta(days=i), 0.0)
                      for i in range(span)}
    return baseline_window.warnings(population, landed, start, end, max_change)


_MOMENTS = ("zero_rate", "mean", "stddev", "kurtosis", "min_value", "max_value")


def _missing_date(value) -> bool:
    return value is None or pd.isna(value)


def history_start(warehouse: Warehouse, subject: Subject = CUSTOMER) -> dt.date | None:
    """The first day of event history in raw_events (another entity: its population's raw table);
    None without it (then no window is cut)."""
    if not warehouse.table_exists(subject.history):
        return None
    row = warehouse.fetch_one(f"SELECT MIN(event_date) FROM {subject.history}")
    return as_date(row[0]) if row and row[0] is not None else None


def first_complete_day(first_day: dt.date, spec: FeatureSpec) -> dt.date:
    """The first snapshot day whose window of `spec.window_days` days lies inside the history (a
    lifetime feature's covers all of it from the first day)."""
    return first_day + dt.timedelta(days=(spec.window_days or 1) - 1)


def complete_windows(first_day: dt.date | None, specs: Sequence[FeatureSpec], start: dt.date,
                     end: dt.date) -> tuple[dict[dt.date, list[str]], dict[str, dt.date]]:
    """Features grouped by the first day of [start, end] on which their window is complete, and
    those complete only after `end` (name -> first complete day)."""
    groups: dict[dt.date, list[str]] = {}
    incomplete: dict[str, dt.date] = {}
    for spec in specs:
        complete = first_complete_day(first_day, spec) if first_day else start
        first = max(start, complete)
        if first > end:
            incomplete[spec.name] = complete
        else:
            groups.setdefault(first, []).append(spec.name)
    return dict(sorted(groups.items())), incomplete


def _share(count: int | None, total: int) -> float | None:
    return count / total if total and count is not None else None


def decile_edges(grid: list[float] | None) -> list[float]:
    """Interior cut points at the deciles of a quantile grid, deduplicated (discrete features)."""
    if not grid:
        return []
    m = len(grid) - 1
    picks = {grid[round(j * m / 10)] for j in range(1, 10)}
    return sorted(v for v in picks if v == v)


def refresh_specs(specs: Sequence[FeatureSpec], only: Sequence[str], subject: Subject = CUSTOMER) -> list[FeatureSpec]:
    """The specs of the features a per-feature capture recaptures; a name that is not a computed
    feature of the catalog is an error naming it."""
    by_name = {s.name: s for s in specs}
    unknown = [n for n in only if n not in by_name]
    if unknown or not only:
        raise MonitoringError(
            f"baseline refresh of {subject.entity} features {list(only)}: "
            + (f"{', '.join(unknown)} not computed features of the catalog" if unknown else "no feature named")
            + f" (known: {', '.join(sorted(by_name))})")
    return [by_name[n] for n in dict.fromkeys(only)]


def _stored_days(warehouse: Warehouse, days: Sequence[dt.date], subject: Subject = CUSTOMER) -> int:
    """How many of `days` have rows in the feature table."""
    return sum(snapshot_days(warehouse, d, d, subject.features) for d in days) if days else 0


def _append_version(warehouse: Warehouse, rows: list[dict], table: tables.Table, carry_over: bool = False) -> None:
    """Append `rows` as the new current version. `carry_over`: the current version's rows of the
    features not in `rows` are copied into it unchanged (their `carried_from` says from which)."""
    existing = {c for c, _ in warehouse.columns(table.name)}
    if not existing:
        warehouse.execute(f"CREATE TABLE {table.name} AS {rows_select_sql(table.schema, [])}")
    for name, typ in table.schema:  # columns may grow: older versions get NULL there
        if existing and name not in existing:
            warehouse.execute(f"ALTER TABLE {table.name} ADD COLUMN {name} {typ}")
    cols = ", ".join(table.names)
    with warehouse.session() as s, s.transaction():
        row = s.fetch_one(f"SELECT COALESCE(MAX(baseline_version), 0) FROM {table.name}")
        version = int(row[0] or 0) + 1
        if carry_over:
            names = ", ".join(sql_literal(r["feature"]) for r in rows)
            same = [n for n in table.names if n not in ("baseline_version", "carried_from")]
            s.execute(f"INSERT INTO {table.name} ({', '.join(same)}, baseline_version, carried_from) "
                      f"SELECT {', '.join(same)}, {version}, COALESCE(carried_from, baseline_version) "
                      f"FROM {table.name} WHERE is_current AND feature NOT IN ({names})")
        s.execute(f"UPDATE {table.name} SET is_current = FALSE WHERE is_current AND baseline_version < {version}")
        versioned = [{**r, "baseline_version": version} for r in rows]
        s.execute(f"INSERT INTO {table.name} ({cols}) {rows_select_sql(table.schema, versioned)}")


def baseline_history(warehouse: Warehouse, subject: Subject = CUSTOMER) -> list[tuple]:
    """(version, is_current, window_start, window_end, days, captured_at, features), newest first."""
    if not warehouse.table_exists(subject.baseline.name):
        return []
    return warehouse.fetch_all(
        f"SELECT baseline_version, MAX(CASE WHEN is_current THEN 1 ELSE 0 END), MIN(window_start), "
        f"MIN(window_end), MAX(days), MIN(captured_at), COUNT(*) FROM {subject.baseline.name} "
        "GROUP BY baseline_version ORDER BY baseline_version DESC")


def _parse(value: str | None, what: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"baseline {what}={value!r} is not a date in YYYY-MM-DD form") from None


