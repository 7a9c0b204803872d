"""One detector per finding kind. Each takes a series (oldest first) and the settings and returns
a `Finding` or None; none reads Dagster or a warehouse, so the asset and the replay benchmark run
the very same judgement.

Why each rule is shaped as it is:
- slowdown: a step is judged against its own median; one slow run is noise (a cold cache, a busy
  neighbour), `sustain_runs` slow runs in a row are a slowdown (Airflow's CI needed the same
  rule to cut false alerts). Per step only, not per job, so one slow step is one finding.
- failure_rate: `failure_streak` failed runs in a row, or a failure rate over the job's recent
  window at or above `failure_rate`; the onset is the episode's first failure.
- volume_drop / volume_spike: the partition's rows against the median of the 14 before it, both a
  relative change and a robust z-score (a relative change alone alarms on a small noisy source,
  a z-score alone on a very steady one).
- late: a day's landing lateness against the usual lateness (median + margin, z-score).
- stale: the time since the last materialization against the asset's own cadence (the median gap
  between its runs) or, without enough history, the expected daily interval.
- forecast / growth: a significant trend (Theil-Sen slope interval above zero) reaching the budget
  or storage threshold within the horizon, or already past it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from feature_factory.health.episodes import Baseline, trailing_episode
from feature_factory.health.findings import Finding, Kind, Severity, severity_by_ratio
from feature_factory.health.forecast import Projection, project
from feature_factory.health.samples import FAILURE, Point, RunSample
from feature_factory.health.settings import HealthSettings

HOUR = 3600.0


def _sorted(points: Sequence[Point]) -> list[Point]:
    return sorted(points, key=lambda p: (p.at, p.label))


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def slowdown(subject: str, points: Sequence[Point], s: HealthSettings) -> Finding | None:
    """`subject` (job/step): its last `sustain_runs` or more successful runs all slow."""
    pts = _sorted(points)

    def slow(v: float, b: Baseline) -> bool:
        return v > b.median * s.slowdown_ratio and v > b.median + s.slowdown_z * b.sigma

    ep = trailing_episode([p.value for p in pts], slow, s.baseline_runs, s.min_baseline)
    if ep is None or ep.length < s.sustain_runs:
        return None
    recent = [p.value for p in pts[ep.start:]]
    ratio = sorted(recent)[len(recent) // 2] / ep.base.median
    onset = pts[ep.start]
    return Finding(Kind.SLOWDOWN, subject, "runtime_s", severity_by_ratio(ratio, (1.25, 1.75, 3.0)), onset.label,
                   f"{subject} is {ratio:.1f}x slower than its median {ep.base.median:,.1f} s for the last "
                   f"{ep.length} runs (since run {onset.label} at {_when(onset.at)})",
                   value=recent[-1], expected=ep.base.median, details={"runs": ep.length, "ratio": round(ratio, 2)})


def failures(job: str, runs: Sequence[RunSample], s: HealthSettings) -> Finding | None:
    """`job`'s recent runs: failed `failure_streak` times in a row, or too often in its window."""
    rs = sorted(runs, key=lambda r: (r.started, r.run_id))[-s.failure_window:]
    if not rs:
        return None
    streak = 0
    for r in reversed(rs):
        if r.status != FAILURE:
            break
        streak += 1
    failed = [r for r in rs if r.status == FAILURE]
    rate = len(failed) / len(rs)
    if streak >= s.failure_streak:
        onset = rs[-streak]
        why = f"failed its last {streak} runs (since run {onset.run_id} at {_when(onset.started)})"
    elif len(rs) >= s.min_baseline and rate >= s.failure_rate and len(failed) >= 2:
        onset = failed[0]
        why = f"failed {len(failed)} of its last {len(rs)} runs ({rate:.0%})"
    else:
        return None
    severity = Severity.CRITICAL if streak >= max(3, s.failure_streak + 1) else \
        Severity.HIGH if streak >= s.failure_streak else Severity.MEDIUM
    return Finding(Kind.FAILURE_RATE, job, "failure_rate", severity, onset.run_id, f"{job} {why}",
                   value=rate, details={"failed_in_a_row": streak, "failed": len(failed), "runs": len(rs)})


def volume(subject: str, points: Sequence[Point], s: HealthSettings) -> Finding | None:
    """`subject`'s rows per partition: the trailing partitions far below or above its normal."""
    pts = _sorted(points)

    def off(v: float, b: Baseline, sign: int) -> bool:
        return sign * (v - b.median) > s.volume_change * b.median and sign * b.z(v) > s.volume_z

    values = [p.value for p in pts]
    for kind, sign in ((Kind.VOLUME_DROP, -1), (Kind.VOLUME_SPIKE, 1)):
        ep = trailing_episode(values, lambda v, b: off(v, b, sign), s.volume_baseline, s.min_baseline)
        if ep is None:
            continue
        latest = values[-1]
        change = latest / ep.base.median - 1 if ep.base.median else math.inf
        ratio = (ep.base.median / max(latest, 1e-9)) if sign < 0 else (latest / max(ep.base.median, 1e-9))
        return Finding(kind, subject, "rows", severity_by_ratio(ratio, (1.5, 2.0, 5.0)), pts[ep.start].label,
                       f"{subject}: {latest:,.0f} rows in partition {pts[-1].label}, {change:+.0%} against its "
                       f"median {ep.base.median:,.0f} ({ep.length} partition(s) since {pts[ep.start].label})",
                       value=latest, expected=ep.base.median, details={"partitions": ep.length})
    return None


def late(subject: str, points: Sequence[Point], s: HealthSettings) -> Finding | None:
    """`subject`'s landing lateness (hours after the end of the day) on its latest days."""
    pts = _sorted(points)

    def is_late(v: float, b: Baseline) -> bool:
        return v > b.median + s.late_margin_hours and b.z(v) > s.late_z

    ep = trailing_episode([p.value for p in pts], is_late, s.volume_baseline, s.min_baseline)
    if ep is None:
        return None
    latest = pts[-1].value
    extra = latest - ep.base.median
    severity = Severity.HIGH if extra >= 24 else Severity.MEDIUM if extra >= 6 else Severity.LOW
    return Finding(Kind.LATE, subject, "lateness_h", severity, pts[ep.start].label,
                   f"{subject}: files for {pts[-1].label} landed {latest:.1f} h after the day ended, usually "
                   f"{ep.base.median:.1f} h", value=latest, expected=ep.base.median)


def cadence_hours(times: Sequence[float], s: HealthSettings, default: float | None = None) -> float | None:
    """The asset's own cadence: the median gap between its last materializing runs (times
    within a minute are one run: a range run materializes every partition at once); `default`
    with fewer than three gaps."""
    distinct: list[float] = []
    for t in sorted(times):
        if not distinct or t - distinct[-1] > 60:
            distinct.append(t)
    gaps = [b - a for a, b in zip(distinct, distinct[1:])][-s.baseline_runs:]
    if len(gaps) < 3:
        return default
    return sorted(gaps)[len(gaps) // 2] / HOUR


def stale(asset: str, times: Sequence[float], now: float, s: HealthSettings,
          daily: bool = True) -> tuple[float, float | None, Finding | None]:
    """(age in hours, cadence in hours, finding): a `daily` asset (partitioned by day: expected on
    a schedule) is stale when older than stale_factor x its cadence + grace; its cadence is its own
    when it has one, else expected_interval_hours. Any other asset (a baseline captured by hand, a
    model retrained on demand) is never stale: its age and cadence are reported, not judged."""
    if not times:
        return math.nan, None, None
    last = max(times)
    age = (now - last) / HOUR
    cadence = cadence_hours(times, s, s.expected_interval_hours if daily else None)
    if cadence is None or not daily:
        return age, cadence, None
    limit = cadence * s.stale_factor + s.stale_grace_hours
    if age <= limit:
        return age, cadence, None
    missed = age / cadence
    severity = Severity.HIGH if missed >= 3 else Severity.MEDIUM
    return age, cadence, Finding(
        Kind.STALE, asset, "age_h", severity, _when(last),
        f"{asset} last materialized {age:.1f} h ago ({_when(last)}); it usually materializes every "
        f"{cadence:.1f} h: about {max(1, math.floor(missed))} run(s) missed (a stopped schedule or sensor?)",
        value=age, expected=cadence, details={"assets": [asset]})


def stale_together(findings: dict[str, Finding], last_run: dict[str, str], jobs: dict[str, str]) -> dict[str, Finding]:
    """One finding per run that stopped: the stale assets whose newest materialization came from
    the same run (a stopped schedule's whole job) share one finding, named after its job, so one
    stopped schedule is one alert, not one per asset. Assets without a known run stay alone."""
    groups: dict[str, list[str]] = {}
    for asset in sorted(findings):
        groups.setdefault(last_run.get(asset, f"asset:{asset}"), []).append(asset)
    out = {}
    for run, assets in groups.items():
        first = findings[assets[0]]
        if len(assets) == 1 and run not in jobs:
            out[assets[0]] = first
            continue
        worst = max((findings[a] for a in assets), key=lambda f: (f.severity.rank, f.value or 0))
        subject = jobs.get(run, assets[0])
        shared = Finding(Kind.STALE, subject, "age_h", worst.severity, first.since,
                         f"{subject}: {', '.join(assets)} last materialized {worst.value:.1f} h ago by run {run} "
                         f"({first.since}); usually every {worst.expected:.1f} h (a stopped schedule or sensor?)",
                         value=worst.value, expected=worst.expected, details={"assets": assets, "run_id": run})
        out.update({a: shared for a in assets})
    return out


def _enough(pts: list[Point], s: HealthSettings) -> bool:
    """Enough points, over enough days, to fit a daily trend."""
    return len(pts) >= s.forecast_min_points and (pts[-1].at - pts[0].at) / 86400 >= s.forecast_min_days


def runtime_forecast(job: str, points: Sequence[Point], now: float,
                     s: HealthSettings) -> tuple[Projection | None, Finding | None]:
    """A job's successful runtimes projected to its budget."""
    pts = _sorted(points)[-s.forecast_runs:]
    if not _enough(pts, s):
        return None, None
    budget = s.budget(job)
    p = project([q.at for q in pts], [q.value for q in pts], budget, now, s.forecast_confidence)
    return p, _threshold_finding(Kind.FORECAST, job, "runtime_s", p, s, f"budget {budget:,.0f} s", " s")


def growth(points: Sequence[Point], limit: float | None, now: float,
           s: HealthSettings) -> tuple[Projection | None, Finding | None]:
    """The warehouse's size projected to `limit` (disk_fraction of what it may use)."""
    pts = _sorted(points)
    if limit is None or not _enough(pts, s):
        return None, None
    p = project([q.at for q in pts], [q.value for q in pts], limit, now, s.forecast_confidence)
    return p, _threshold_finding(Kind.GROWTH, "warehouse", "size_bytes", p, s,
                                 f"{s.disk_fraction:.0%} of its space ({limit / 1e9:,.2f} GB)", " B")


def _threshold_finding(kind: Kind, subject: str, metric: str, p: Projection | None, s: HealthSettings,
                       what: str, unit: str) -> Finding | None:
    if p is None:
        return None
    if p.days == 0:
        return Finding(kind, subject, metric, Severity.HIGH, "past",
                       f"{subject} is past its {what}: {p.now_value:,.0f}{unit.strip() and unit} now",
                       value=p.now_value, expected=p.threshold)
    if not p.significant or p.days > s.forecast_horizon_days:
        return None
    severity = Severity.HIGH if p.days <= 7 else Severity.MEDIUM if p.days <= 14 else Severity.LOW
    high = "never" if not math.isfinite(p.days_high) else f"{p.days_high:.0f}"
    return Finding(kind, subject, metric, severity, f"within_{s.forecast_horizon_days:g}d",
                   f"{subject} reaches its {what} in about {p.days:.0f} days ({p.days_low:.0f}-{high} days at "
                   f"{s.forecast_confidence:.0%} confidence) at the current growth of "
                   f"{p.slope_per_day:+,.2f}{unit}/day",
                   value=p.now_value, expected=p.threshold,
                   details={"days": round(p.days, 1), "days_low": round(p.days_low, 1),
                            "days_high": None if not math.isfinite(p.days_high) else round(p.days_high, 1)})
