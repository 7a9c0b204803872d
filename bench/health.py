"""Workload 10: pipeline health measured by replay (issue 31 item 5).

Synthetic run histories of a daily job (4 steps, one run a day at 01:00 UTC, lognormal runtime
noise, 1% failed runs, 2% retried steps, 2% single slow runs: the noise a real pipeline has)
with one injected problem each, replayed day by day through the very `evaluate` the
`pipeline_health` asset runs (its 02:00 evaluation after each day's run, on the last 60 days):

- slowdown: one step twice as slow from run k on;
- failure: the job fails from run k, three runs in a row;
- volume_drop: raw_events' rows halve from partition k on;
- late: landing files arrive 12 hours later than usual from day k on;
- stopped: the schedule stops after run k - 1 (no runs, no materializations after);
- normal: nothing injected (false alerts);
- trend: one step's runtime grows 2 s a day, with a known day the job reaches its budget.

Scored: detection = a finding of the injected kind on the injected subject at the evaluation of
day k or k + 1 ("within 2 runs"); false alerts = distinct finding keys (a sensor notifies once per
key) first raised on a day before any injection, per 100 such evaluated runs; forecast error =
|predicted - true days to the budget| / true days, and whether the truth lies in the interval.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from feature_factory.health.evaluate import evaluate
from feature_factory.health.findings import Kind
from feature_factory.health.samples import FAILURE, SUCCESS, History, Point, RunSample, StepSample
from feature_factory.health.settings import HealthSettings

DAY, HOUR = 86400.0, 3600.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % DAY  # a midnight UTC
JOB = "daily_refresh_job"
STEPS = (("ingest_events", 30.0, ("raw_events", "quarantined_events")),
         ("customer_features", 60.0, ("customer_features",)),
         ("feature_stats", 20.0, ("feature_stats",)), ("drift_alerts", 10.0, ("drift_alerts",)))
SOURCE = "raw_events"
LOOKBACK_DAYS = 60
KINDS = {"slowdown": Kind.SLOWDOWN, "failure": Kind.FAILURE_RATE, "volume_drop": Kind.VOLUME_DROP,
         "late": Kind.LATE, "stopped": Kind.STALE}


@dataclass(frozen=True)
class Day:
    run: RunSample | None
    rows: float
    lateness_h: float


def synth(seed: int, days: int, inject: str = "normal", at: int | None = None, slow_step: int = 1,
          trend_s_per_day: float = 0.0) -> list[Day]:
    """One history: a day per element, its run (None when the schedule stopped), rows and lateness."""
    rng = np.random.default_rng(seed)
    out = []
    for d in range(days):
        on = at is not None and d >= at
        if inject == "stopped" and on:
            out.append(Day(None, 0.0, 0.0))
            continue
        started = T0 + d * DAY + HOUR + rng.uniform(0, 20 * 60)
        failed = rng.random() < 0.01 or (inject == "failure" and on and d < at + 3)
        fail_at = int(rng.integers(0, len(STEPS))) if failed else None
        steps, total = [], 5.0
        for i, (name, base, assets) in enumerate(STEPS):
            seconds = base * rng.lognormal(0, 0.1) + (trend_s_per_day * d if i == slow_step else 0.0)
            if rng.random() < 0.02:
                seconds *= 2.2  # one slow run: noise the rule must not alert on
            if inject == "slowdown" and on and i == slow_step:
                seconds *= 2
            attempts = 2 if rng.random() < 0.02 else 1
            seconds *= 1.5 if attempts > 1 else 1
            status = FAILURE if fail_at == i else SUCCESS
            steps.append(StepSample(name, status, seconds, attempts, assets if status == SUCCESS else ()))
            total += seconds
            if status == FAILURE:
                break
        run = RunSample(JOB, f"run-{d:04d}", FAILURE if failed else SUCCESS, started, total, tuple(steps))
        rows = 10_000 * (1 + 0.1 * math.sin(2 * math.pi * d / 7)) * rng.lognormal(0, 0.03)
        rows *= 0.5 if inject == "volume_drop" and on else 1
        late = 1.0 + abs(rng.normal(0, 0.25)) + (12.0 if inject == "late" and on else 0.0)
        out.append(Day(run, rows, late))
    return out


def history_at(days: list[Day], d: int) -> History:
    """What the asset reads at 02:00 of day d: the last LOOKBACK_DAYS of runs and events."""
    window = range(max(0, d - LOOKBACK_DAYS + 1), d + 1)
    runs = [days[i].run for i in window if days[i].run is not None]
    materialized: dict[str, list[float]] = {}
    last_run: dict[str, str] = {}
    for r in runs:
        for st in r.steps:
            for a in st.assets:
                materialized.setdefault(a, []).append(r.started + r.seconds)
                last_run[a] = r.run_id
    label = lambda i: f"day-{i:04d}"  # noqa: E731
    volumes = {SOURCE: [Point(T0 + i * DAY, label(i), days[i].rows) for i in window if days[i].run is not None]}
    lateness = {SOURCE: [Point(T0 + i * DAY, label(i), days[i].lateness_h) for i in window if days[i].run is not None]}
    return History(runs=runs, volumes=volumes, lateness=lateness, materialized=materialized,
                   daily=frozenset(materialized), last_run=last_run)


def now_of(d: int) -> float:
    return T0 + d * DAY + 2 * HOUR


def expected_subject(inject: str, slow_step: int) -> str | None:
    subjects = {"slowdown": f"{JOB}/{STEPS[slow_step][0]}", "failure": JOB, "volume_drop": SOURCE, "late": SOURCE}
    return subjects.get(inject)


def replay(seed: int, days: int, inject: str, at: int | None, settings: HealthSettings | None = None) -> dict:
    """Evaluate every day of one history; what was found when."""
    slow_step = seed % len(STEPS)
    history = synth(seed, days, inject, at, slow_step)
    first_seen: dict[str, tuple[int, Kind, str]] = {}
    for d in range(days):
        for f in evaluate(history_at(history, d), now_of(d), settings).findings:
            first_seen.setdefault(f.key, (d, f.kind, f.subject))
    detected_on = None
    if inject in KINDS:
        subject = expected_subject(inject, slow_step)
        hits = [d for d, kind, subj in first_seen.values()
                if kind == KINDS[inject] and d >= at and (subject is None or subj == subject)]
        detected_on = min(hits) - at if hits else None
    clean_days = at if at is not None else days
    false = [k for k, (d, _, _) in first_seen.items() if d < clean_days]
    return {"seed": seed, "inject": inject, "at": at, "detected_after_runs": detected_on,
            "false_alerts": len(false), "false_keys": false, "clean_runs": clean_days}


def forecast_errors(seeds: range, days: int, trend: float, settings: HealthSettings | None = None,
                    judged: tuple[int, ...] = (90, 120, 150, 180)) -> list[dict]:
    """Known trend: the job's runtime is sum(step medians) + trend x day; its true day at the budget
    is known, so the projected days to it can be scored."""
    s = settings or HealthSettings()
    budget = s.budget(JOB)
    base = 5.0 + sum(b * math.exp(0.1 ** 2 / 2) for _, b, _ in STEPS)  # lognormal means
    base += 0.02 * 1.2 * STEPS[1][1] * math.exp(0.1 ** 2 / 2)  # the 2% single slow runs, on average
    out = []
    for seed in seeds:
        history = synth(seed, days, "normal", None, slow_step=1, trend_s_per_day=trend)
        for d in judged:
            report = evaluate(history_at(history, d), now_of(d), s)
            m = next(m for m in report.metrics if m.subject == JOB and m.metric == "runtime_s")
            truth = (budget - base) / trend - (now_of(d) - T0 - HOUR) / DAY
            if truth <= 0:
                continue  # past the budget already: nothing to forecast
            if m.days_to_threshold is None:
                out.append({"seed": seed, "day": d, "truth": truth, "predicted": None})
                continue
            inside = (m.days_low or 0) <= truth <= (m.days_high if m.days_high is not None else math.inf)
            out.append({"seed": seed, "day": d, "truth": round(truth, 1), "predicted": round(m.days_to_threshold, 1),
                        "low": m.days_low, "high": m.days_high, "inside": bool(inside),
                        "error": float(abs(m.days_to_threshold - truth) / truth)})
    return out


def score(histories: int, days: int, seed0: int = 0, settings: HealthSettings | None = None) -> dict:
    """`histories` per injected kind (and as many normal ones), `days` runs each, injections at a
    random day in the history's second half; plus forecast errors on a known trend."""
    rng = np.random.default_rng(seed0)
    rows = []
    for kind in (*KINDS, "normal"):
        for h in range(histories):
            seed = seed0 + 1000 * len(rows) + h
            at = int(rng.integers(days // 2, days - 3)) if kind != "normal" else None
            rows.append(replay(seed, days, kind, at, settings))
    per_kind = {}
    for kind in KINDS:
        rs = [r for r in rows if r["inject"] == kind]
        found = [r for r in rs if r["detected_after_runs"] is not None and r["detected_after_runs"] <= 1]
        per_kind[kind] = {"histories": len(rs), "detected_within_2_runs": len(found),
                          "rate": len(found) / len(rs) if rs else None,
                          "missed": [(r["seed"], r["at"], r["detected_after_runs"]) for r in rs if r not in found][:5]}
    clean_runs = sum(r["clean_runs"] for r in rows)
    false = sum(r["false_alerts"] for r in rows)
    detected = sum(k["detected_within_2_runs"] for k in per_kind.values())
    injected = sum(k["histories"] for k in per_kind.values())
    return {"histories": len(rows), "runs_per_history": days, "per_kind": per_kind,
            "detection_rate": detected / injected if injected else None,
            "false_alerts": false, "clean_runs": clean_runs,
            "false_alerts_per_100_runs": 100 * false / clean_runs if clean_runs else None,
            "false_by_kind": dict(sorted(Counter(k.split(":")[0] for r in rows for k in r["false_keys"]).items())),
            "false_examples": [k for r in rows for k in r["false_keys"]][:10]}


def forecast_summary(rows: list[dict]) -> dict:
    scored = [r for r in rows if r["predicted"] is not None]
    errors = sorted(r["error"] for r in scored)
    return {"forecasts": len(rows), "made": len(scored),
            "median_error": errors[len(errors) // 2] if errors else None,
            "p90_error": errors[int(0.9 * (len(errors) - 1))] if errors else None,
            "truth_inside_interval": sum(bool(r["inside"]) for r in scored) / len(scored) if scored else None}


# -- harness steps -----------------------------------------------------------------------------------
def sizes(quick: bool) -> dict:
    return {"histories": 5 if quick else 30, "days": 120 if quick else 200, "seed": 31}


def replay_step(params: dict, meter) -> dict:
    t0 = time.perf_counter()
    with meter.measure():
        out = score(int(params["histories"]), int(params["days"]), int(params["seed"]))
        forecasts = forecast_errors(range(int(params["histories"])), 200, trend=TREND)
    out["forecast"] = forecast_summary(forecasts)
    out["forecast_trend"] = (f"step customer_features +{TREND:g} s/day (the job reaches its 600 s budget on about day "
                           "235); judged on days 90, 120, 150, 180 (145 to 55 days ahead)")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["rows_out"] = out["histories"]
    return out


FORECAST_ERROR_GOAL = 0.25
TREND = 2.0  # s/day


def goals(rows: dict, params: dict) -> list[dict]:
    from bench.workloads import _ok, _why, goal

    r = _ok(rows, "replay")
    texts = ("injected problems detected within 2 runs", "false alerts per 100 normal runs",
             "forecast median error on a known trend (days to the budget)")
    if r is None:
        targets = (">= 90%", "<= 1", f"<= {FORECAST_ERROR_GOAL:.0%}")
        return [goal(t, g, None, None, _why(rows, "replay")) for t, g in zip(texts, targets)]
    fc = r.get("forecast") or {}
    err = fc.get("median_error")
    return [
        goal(texts[0], ">= 90%", f"{r['detection_rate']:.1%}", r["detection_rate"] >= 0.9,
             "; ".join(f"{k} {v['detected_within_2_runs']}/{v['histories']}" for k, v in r["per_kind"].items())),
        goal(texts[1], "<= 1", f"{r['false_alerts_per_100_runs']:.2f}", r["false_alerts_per_100_runs"] <= 1,
             f"{r['false_alerts']} over {r['clean_runs']} runs: "
             + ", ".join(f"{k} {n}" for k, n in (r.get("false_by_kind") or {}).items())),
        goal(texts[2], f"<= {FORECAST_ERROR_GOAL:.0%}", None if err is None else f"{err:.1%}",
             None if err is None else err <= FORECAST_ERROR_GOAL,
             f"truth inside the {HealthSettings().forecast_confidence:.0%} interval in "
             f"{fc.get('truth_inside_interval') or 0:.0%} of {fc.get('made')} forecasts"),
    ]
