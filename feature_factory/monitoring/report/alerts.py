"""`drift_alerts` per day: the current baseline vs that day's statistics, one row per feature.

Statistics come from `feature_stats` when its rows for the day were computed against the current
baseline version; otherwise (not materialized yet, or the baseline was recaptured since) they are
recomputed for that day with the same SQL and not written, and the report says so.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from feature_factory.catalog import FeatureSpec
from feature_factory.dates import as_date
from feature_factory.monitoring.detection.baseline import (
    NO_BASELINE, Baseline, current_baseline, first_complete_day, history_start,
)
from feature_factory.monitoring.detection.drift import SEVERITIES, FeatureDrift, Thresholds, compare, severity_rank
from feature_factory.monitoring.statistics.feature_stats import (
    DEFAULT_GRID_SIZE, feature_columns, read_expressions, resolve_features, stats_select_sql,
)
from feature_factory.monitoring.inputs import input_specs
from feature_factory.monitoring.statistics import feed as feeds
from feature_factory.monitoring.detection import volume_trend
from feature_factory.monitoring.explain.root_cause import diagnose_day
from feature_factory.monitoring.subject import CUSTOMER, Subject
from feature_factory.monitoring.statistics.summary import Summary
from feature_factory.warehouse.rows import rows_select_sql

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse



@dataclass
class DayDrift:
    day: dt.date
    baseline: Baseline | None
    results: list[FeatureDrift] = field(default_factory=list)
    current: dict[str, Summary] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    diagnoses: dict[str, tuple[str, dict]] = field(default_factory=dict)  # feature -> (diagnosis, evidence)

    @property
    def message(self) -> str:
        return NO_BASELINE if self.baseline is None else "; ".join(self.notes)

    @property
    def max_severity(self) -> str:
        return SEVERITIES[max((r.severity_rank for r in self.results), default=0)]

    def drifted(self, at: str = "medium") -> list[FeatureDrift]:
        rank = severity_rank(at)
        return [r for r in self.results if r.severity_rank >= rank]

    def drifted_share(self, at: str = "medium") -> float:
        return len(self.drifted(at)) / len(self.results) if self.results else 0.0


def evaluate_day(
    warehouse: Warehouse,
    day: dt.date,
    features: Sequence[FeatureSpec],
    thresholds: Thresholds | None = None,
    grid_size: int = DEFAULT_GRID_SIZE,
    subject: Subject = CUSTOMER,
) -> DayDrift:
    """Compare `day` with the current baseline; `baseline is None` (and no results) without one."""
    return evaluate_days(warehouse, day, day, features, thresholds, grid_size, subject)[0]


def evaluate_days(
    warehouse: Warehouse,
    first: dt.date,
    last: dt.date,
    features: Sequence[FeatureSpec],
    thresholds: Thresholds | None = None,
    grid_size: int = DEFAULT_GRID_SIZE,
    subject: Subject = CUSTOMER,
) -> list[DayDrift]:
    """`evaluate_day` for every day of [first, last], each judged on its own; the baseline, the
    column types and the stored statistics are read once for the range (a 90-day backfill read
    them 90 times)."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    baseline = current_baseline(warehouse, subject)
    if baseline is None:
        return [DayDrift(day=d, baseline=None) for d in days]
    th = thresholds or Thresholds()
    specs = resolve_features(features)
    types = feature_columns(warehouse, subject)
    first_day = history_start(warehouse, subject)
    stored = _stored_stats(warehouse, first, last, subject)
    # Landed rows per event day (STALE judges the feed) and the trailing days' totals of count/sum
    # features (SUSTAINED_TREND): both bounded by days (x features), read once for the range.
    landed, landed_files = feeds.landed_counts(warehouse, subject.history, first, last)
    totalled = {s.name for s in specs if s.agg in volume_trend.TOTALLED}
    totals = _stored_totals(warehouse, first - dt.timedelta(days=th.sustained_trend_days), first, totalled, subject)
    out = []
    for day in days:
        report = DayDrift(day=day, baseline=baseline)
        report.current = _day_stats(warehouse, day, stored.get(day, []), specs, baseline, grid_size, report.notes,
                                    subject)
        for name in totalled:
            totals.setdefault(name, {})[day] = volume_trend.total(report.current.get(name))
        feed = feeds.feed_day(day, landed, files=landed_files) if landed else None
        for spec in specs:
            if not spec.drift_watched:  # declared in the catalog (lifetime aggregates grow as entities age)
                report.notes.append(f"{spec.name}: not judged for drift: {spec.drift_exclude}")
                continue
            # Days whose window reaches back before the first event are ramp-up, not drift (the
            # same rule that keeps them out of the baseline).
            if first_day and day < first_complete_day(first_day, spec):
                report.notes.append(f"{spec.name}: its {spec.window_days}-day window is not complete on "
                                    f"{day} (events start {first_day}); not judged")
                continue
            ref = baseline.features.get(spec.name)
            if ref is None:
                report.notes.append(f"{spec.name} is not in baseline v{baseline.version} (added later, or its "
                                    "window was not yet complete in the baseline window); recapture to monitor it")
                continue
            level = (volume_trend.level(day, {d: t for d, t in totals[spec.name].items() if t is not None},
                                        volume_trend.reference(ref), th.sustained_trend_days)
                     if spec.name in totalled else None)
            report.results.append(compare(spec.name, report.current.get(spec.name), ref, th, types.get(spec.name),
                                          ahead=(day - baseline.window_end_of(spec.name)).days, table=subject.features,
                                          feed=feed, level=level))
        # Attributed over the entity's population rows by its dimensions (subject.attribution).
        report.diagnoses = diagnose_day(warehouse, day, report.results, report.current, baseline.features,
                                        (baseline.window_start, baseline.window_end), specs,
                                        source=subject.attribution)
        out.append(report)
    return out


def _stored_stats(warehouse: Warehouse, first: dt.date, last: dt.date,
                  subject: Subject = CUSTOMER) -> dict[dt.date, list[dict]]:
    if not warehouse.table_exists(subject.stats.name):
        return {}
    df = warehouse.fetch_df(
        f"SELECT * FROM {subject.stats} WHERE stats_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)",
        [str(first), str(last)])
    by_day: dict[dt.date, list[dict]] = {}
    for r in df.to_dict("records"):
        by_day.setdefault(as_date(r["stats_date"]), []).append(r)
    return by_day


def _stored_totals(warehouse: Warehouse, first: dt.date, before: dt.date, features: set[str],
                   subject: Subject = CUSTOMER) -> dict[str, dict[dt.date, float | None]]:
    """Each count/sum feature's total (mean x values) per stored day of [first, before): the
    trailing days SUSTAINED_TREND needs before a run's first day (any baseline version's rows: a
    total does not depend on the bins)."""
    out: dict[str, dict[dt.date, float | None]] = {f: {} for f in features}
    if not features or not warehouse.table_exists(subject.stats.name):
        return out
    for day, feature, mean, values in warehouse.fetch_all(
            f"SELECT stats_date, feature, mean, value_count FROM {subject.stats} "
            "WHERE stats_date >= CAST(? AS DATE) AND stats_date < CAST(? AS DATE)", [str(first), str(before)]):
        if feature in out and mean is not None and values:
            out[feature][as_date(day)] = float(mean) * int(values)
    return out


def _day_stats(warehouse: Warehouse, day: dt.date, rows: list[dict], specs, baseline: Baseline,
               grid_size: int, notes: list[str], subject: Subject = CUSTOMER) -> dict[str, Summary]:
    fresh = bool(rows) and all(_same_version(r["baseline_version"], baseline.version) for r in rows)
    if not fresh:
        exprs = read_expressions(warehouse, specs, subject)
        rows = []
        if exprs:
            inputs = input_specs(warehouse, specs)
            sql = stats_select_sql(warehouse.dialect, exprs, day, day, binning=baseline.binning(),
                                   grid_size=grid_size, inputs=inputs, subject=subject)
            rows = warehouse.fetch_df(sql).to_dict("records")
        notes.append(f"{subject.stats} for {day} was not computed against baseline v{baseline.version}; "
                     "recomputed here (re-materialize feature_stats to store it)")
    return {r["feature"]: Summary.from_row(r) for r in rows}


def _same_version(value, version: int) -> bool:
    try:
        return int(value) == version
    except (TypeError, ValueError):  # NULL (stats computed before any baseline)
        return False


def alert_rows(report: DayDrift, evidently: dict[str, dict] | None = None,
               created_at: dt.datetime | None = None) -> list[dict]:
    created = created_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = []
    for r in report.results:
        cur, ref = report.current.get(r.feature), report.baseline.features[r.feature]
        ev = (evidently or {}).get(r.feature, {})
        m = r.metrics
        diagnosis, why = report.diagnoses.get(r.feature, (None, None))
        rows.append({
            "alert_date": report.day, "feature": r.feature, "baseline_version": report.baseline.version,
            **{k: m.get(k) for k in ("psi", "ks", "wasserstein_norm", "js_distance", "mean_shift_std",
                                     "std_ratio", "null_rate_delta", "input_null_rate_delta", "out_of_range_share",
                                     "out_of_range_excess", "ks_error_bound", "wasserstein_error_bound")},
            "drift_types": r.drift_types, "severity": r.severity, "severity_rank": r.severity_rank,
            "type_severities": json.dumps(dict(sorted(r.types.items()))), "created_at": created,
            "current_rows": cur.row_count if cur else 0, "current_mean": cur.mean if cur else None,
            "baseline_mean": ref.mean, "current_null_rate": cur.null_rate if cur else None,
            "baseline_null_rate": ref.null_rate, "evidently_drift": ev.get("drift"),
            "evidently_score": ev.get("score"), "evidently_method": ev.get("method"), "note": r.note,
            "diagnosis": diagnosis, "diagnosis_evidence": json.dumps(why, default=str) if why else None,
            "top_contributors": json.dumps(why["contributors"]) if why else None,
        })
    return rows


def write_alerts(warehouse: Warehouse, day: dt.date, rows: list[dict], last: dt.date | None = None,
                 subject: Subject = CUSTOMER) -> int:
    """Replace the `drift_alerts` (the subject's alerts table) partitions of days [day, last or day]
    with `rows` in one statement (creating the typed table when needed)."""
    return warehouse.replace_where(
        subject.alerts.name, "alert_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)", rows_select_sql(subject.alerts.schema, rows),
        where_params=[str(day), str(last or day)],
    )


class FeatureAlerts(NamedTuple):
    """One feature's alerts over a window of days."""

    feature: str
    drift_types: tuple[str, ...]  # every drift type named on any of its days, sorted
    worst: int  # highest severity rank
    days: int  # days alerting at the minimum rank or above


def alerts_by_feature(warehouse: Warehouse, first: dt.date, last: dt.date, min_rank: int = 1,
                      subject: Subject = CUSTOMER) -> list[FeatureAlerts]:
    """Features alerting at `min_rank` (default `low`) or above on days [first, last] in drift_alerts
    (the subject's alerts table), worst first, then by name. Bounded: at most features x days rows
    are read; grouped here, so the SQL is the same on every backend."""
    if not warehouse.table_exists(subject.alerts.name):
        return []
    grouped: dict[str, list] = {}
    for feature, types, rank in warehouse.fetch_all(
            f"SELECT feature, drift_types, severity_rank FROM {subject.alerts} "
            "WHERE alert_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) AND severity_rank >= ?",
            [str(first), str(last), int(min_rank)]):
        kinds, worst, days = grouped.setdefault(feature, [set(), 0, 0])
        kinds.update(t for t in (types or "").split(",") if t)
        grouped[feature][1:] = [max(worst, int(rank)), days + 1]
    found = [FeatureAlerts(f, tuple(sorted(k)), w, n) for f, (k, w, n) in grouped.items()]
    return sorted(found, key=lambda a: (-a.worst, a.feature))
