"""History -> metrics and findings: the one judgement the `pipeline_health` asset and the replay
benchmark share.

Metrics (one per subject and metric, the rows of `pipeline_health`):
- job: runtime_s (successful runs: p50, p90, Theil-Sen trend per day, days to its budget),
  failure_rate and retry_rate over its last `failure_window` runs;
- step (`job/step`): runtime_s (p50, p90, latest, total over the window): the step's warehouse
  seconds, since a local step's time is the embedded warehouse's time;
- asset: warehouse_s, its steps' seconds per run (a step materializing several assets is split
  evenly among them) and in total; age_h since its last materialization against its cadence;
- source: rows per partition; lateness_h of its landing files;
- warehouse: size_bytes, its trend and days to the storage threshold.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from feature_factory.health import detectors as rules
from feature_factory.health.findings import Finding
from feature_factory.health.forecast import Projection
from feature_factory.health.samples import FAILURE, SUCCESS, History, Point
from feature_factory.health.settings import HealthSettings


@dataclass
class Metric:
    subject_kind: str  # job, step, asset, source, warehouse
    subject: str
    metric: str
    samples: int
    latest: float | None = None
    p50: float | None = None
    p90: float | None = None
    total: float | None = None
    trend_per_day: float | None = None
    expected: float | None = None
    threshold: float | None = None
    days_to_threshold: float | None = None
    days_low: float | None = None
    days_high: float | None = None
    finding: Finding | None = None

    def project(self, p: Projection | None) -> None:
        if p is None:
            return
        finite = lambda d: d if math.isfinite(d) else None  # noqa: E731
        self.trend_per_day, self.threshold = p.slope_per_day, p.threshold
        self.days_to_threshold, self.days_low, self.days_high = finite(p.days), finite(p.days_low), finite(p.days_high)


@dataclass
class HealthReport:
    metrics: list[Metric] = field(default_factory=list)
    series: dict[str, list[Point]] = field(default_factory=dict)  # what the plots draw

    @property
    def findings(self) -> list[Finding]:
        """Each finding once (one stopped run's stale assets share one), worst first."""
        found = {m.finding.key: m.finding for m in self.metrics if m.finding is not None}
        return sorted(found.values(), key=lambda f: (-f.severity.rank, f.kind.value, f.subject))


def _quantiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p50, p90 = np.quantile(values, (0.5, 0.9))
    return float(p50), float(p90)


def _metric(kind: str, subject: str, metric: str, points: list[Point]) -> Metric:
    values = [p.value for p in sorted(points, key=lambda p: p.at)]
    p50, p90 = _quantiles(values)
    return Metric(kind, subject, metric, len(values), values[-1] if values else None, p50, p90,
                  float(sum(values)) if values else None)


def _attach(m: Metric, finding: Finding | None) -> Metric:
    m.finding = finding
    return m


def evaluate(history: History, now: float, s: HealthSettings | None = None) -> HealthReport:
    """Judge `history` as of `now` (epoch seconds)."""
    s = s or HealthSettings()
    report = HealthReport()
    by_job: dict[str, list] = defaultdict(list)
    for run in history.runs:
        by_job[run.job].append(run)
    for job, runs in sorted(by_job.items()):
        runs.sort(key=lambda r: (r.started, r.run_id))
        ok = [Point(r.started, r.run_id, r.seconds) for r in runs if r.status == SUCCESS and r.seconds is not None]
        m = _metric("job", job, "runtime_s", ok)
        projection, finding = rules.runtime_forecast(job, ok, now, s)
        m.project(projection)
        report.metrics.append(_attach(m, finding))
        report.series[f"job:{job}"] = ok
        recent = runs[-s.failure_window:]
        failed = sum(r.status == FAILURE for r in recent)
        report.metrics.append(_attach(Metric("job", job, "failure_rate", len(recent), failed / len(recent),
                                             total=float(failed)), rules.failures(job, runs, s)))
        retried = sum(any(st.attempts > 1 for st in r.steps) for r in recent)
        report.metrics.append(Metric("job", job, "retry_rate", len(recent), retried / len(recent),
                                     total=float(retried)))
        report.metrics += _steps(job, runs, s)
    report.metrics += _assets(history, now, s)
    for source, points in sorted(history.volumes.items()):
        report.metrics.append(_attach(_metric("source", source, "rows", list(points)), rules.volume(source, points, s)))
        report.series[f"rows:{source}"] = sorted(points, key=lambda p: p.at)
    for source, points in sorted(history.lateness.items()):
        report.metrics.append(_attach(_metric("source", source, "lateness_h", list(points)),
                                      rules.late(source, points, s)))
    if history.sizes:
        limit = (s.storage_budget_bytes if s.storage_budget_bytes is not None
                 else history.disk_bytes and history.disk_bytes * s.disk_fraction)
        m = _metric("warehouse", "warehouse", "size_bytes", list(history.sizes))
        m.total = None
        projection, finding = rules.growth(history.sizes, limit or None, now, s)
        m.project(projection)
        m.threshold = m.threshold or limit or None
        report.metrics.append(_attach(m, finding))
        report.series["size:warehouse"] = sorted(history.sizes, key=lambda p: p.at)
    return report


def _steps(job: str, runs: list, s: HealthSettings) -> Iterable[Metric]:
    series: dict[str, list[Point]] = defaultdict(list)
    for r in runs:
        for st in r.steps:
            if st.status == SUCCESS and st.seconds is not None:
                series[st.step].append(Point(r.started, r.run_id, st.seconds))
    for step, points in sorted(series.items()):
        subject = f"{job}/{step}"
        yield _attach(_metric("step", subject, "runtime_s", points), rules.slowdown(subject, points, s))


def _assets(history: History, now: float, s: HealthSettings) -> Iterable[Metric]:
    spent: dict[str, list[Point]] = defaultdict(list)
    for r in history.runs:
        for st in r.steps:
            if st.seconds is not None and st.assets:
                for asset in st.assets:
                    spent[asset].append(Point(r.started, r.run_id, st.seconds / len(st.assets)))
    ages: list[Metric] = []
    for asset in sorted(set(spent) | set(history.materialized)):
        if asset in spent:
            yield _metric("asset", asset, "warehouse_s", spent[asset])
        times = history.materialized.get(asset)
        if times:
            age, cadence, finding = rules.stale(asset, times, now, s, daily=asset in history.daily)
            ages.append(Metric("asset", asset, "age_h", len(times), age, expected=cadence, finding=finding,
                               threshold=None if cadence is None or asset not in history.daily
                               else cadence * s.stale_factor + s.stale_grace_hours))
    found = {m.subject: m.finding for m in ages if m.finding is not None}
    if found:
        shared = rules.stale_together(found, history.last_run, {r.run_id: r.job for r in history.runs})
        for m in ages:
            m.finding = shared.get(m.subject, m.finding)
    yield from ages
