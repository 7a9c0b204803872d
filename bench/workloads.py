"""The benchmark workloads: sizes (full and `--quick`), the steps each runs, and the goals of issue 8.

A workload is a list of steps run in order, each in its own process: unmeasured preparation
(`measured=False`: data generation, staging, verification inputs) and measured contenders. Goals
are checked against the measured rows; a goal that cannot be judged (a contender skipped or
failed) is reported as not met with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import bgnbd
from bench import calibration
from bench import diagnosis
from bench import health

PIT = "bench.pit"
FEAST = "bench.feast_pit"
DRIFT = "bench.drift"
PIPE = "bench.pipeline"
CHAIN = "bench.chain"
CAL = "bench.calibration"
SERVE = "bench.serving"
DIAG = "bench.diagnosis"
STAGE = "bench.staging"
BGNBD = "bench.bgnbd"
HEALTH = "bench.health"


@dataclass(frozen=True)
class Step:
    name: str
    target: str
    label: str = ""
    measured: bool = True
    reference: bool = False
    capped: bool = False  # expected to reach the memory cap (Feast at scale)
    repeatable: bool = True  # False when a second run would not do the same work (a refresh)
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    summary: str
    sizes: Callable[[bool], dict]  # quick -> parameters
    steps: tuple[Step, ...]
    goals: Callable[[dict, dict], list[dict]]  # (rows by contender, parameters) -> goals
    verify: str | None = None


# -- goal helpers ------------------------------------------------------------------------------------
def _ok(rows: dict, name: str) -> dict | None:
    row = rows.get(name)
    return row if row and row.get("status") == "ok" and row.get("wall_s") is not None else None


def _why(rows: dict, *names: str) -> str:
    for n in names:
        row = rows.get(n)
        if not row:
            return f"{n} not run"
        if row.get("status") != "ok":
            return f"{n} {row.get('status')}: {row.get('reason', '')}"[:200]
    return ""


def goal(text: str, target: str, measured: str | None, met: bool | None, why: str = "") -> dict:
    return {"goal": text, "target": target, "measured": measured if measured is not None else "n/a",
            "met": bool(met) if met is not None else False, "judged": met is not None, "note": why}


def faster_than(rows: dict, ours: str, other: str, factor: float, text: str) -> dict:
    """ours at least `factor` times faster than `other`. A run killed at the memory cap or timeout
    still gives a lower bound on the other's time (its elapsed time when stopped)."""
    a, b = _ok(rows, ours), rows.get(other)
    if a is None:
        return goal(text, f">= {factor:g}x", None, None, _why(rows, ours))
    if b and b.get("status") == "ok":
        r = b["wall_s"] / a["wall_s"]
        return goal(text, f">= {factor:g}x", f"{r:.1f}x", r >= factor, _cpu_note(b, a))
    if b and b.get("status") in ("killed", "timeout") and b.get("process_wall_s"):
        r = b["process_wall_s"] / a["wall_s"]
        return goal(text, f">= {factor:g}x", f">= {r:.1f}x ({other} {b['status']})", True if r >= factor else None,
                    b.get("reason", ""))
    return goal(text, f">= {factor:g}x", None, None, _why(rows, other))


def within(rows: dict, ours: str, ref: str, factor: float, text: str, key: str = "wall_s") -> dict:
    a, b = _ok(rows, ours), _ok(rows, ref)
    if a is None or b is None:
        return goal(text, f"<= {factor:g}x", None, None, _why(rows, ours, ref))
    r = a[key] / b[key]
    return goal(text, f"<= {factor:g}x", f"{r:.2f}x", r <= factor, _cpu_note(a, b) if key == "wall_s" else "")


def _cpu_note(num: dict, den: dict) -> str:
    """The same ratio in CPU seconds: steadier than wall time when other work shares the cores."""
    if num.get("cpu_s") and den.get("cpu_s"):
        return f"CPU-time ratio {num['cpu_s'] / den['cpu_s']:.2f}x"
    return ""


def at_most(rows: dict, name: str, key: str, limit: float, unit: str, text: str) -> dict:
    a, row = _ok(rows, name), rows.get(name) or {}
    stopped = row.get("status") in ("killed", "timeout", "failed") and key in ("wall_s", "process_wall_s")
    if a is None and stopped and (row.get("process_wall_s") or 0) > limit:
        return goal(text, f"< {limit:g} {unit}", f"> {row['process_wall_s']:.0f} {unit} ({row['status']})", False,
                    row.get("reason", ""))
    if a is None or a.get(key) is None:
        return goal(text, f"< {limit:g} {unit}", None, None, _why(rows, name))
    return goal(text, f"< {limit:g} {unit}", f"{a[key]:.2f} {unit}", a[key] < limit)


def same_verdicts(rows: dict, sketch: str, exact: str) -> dict:
    """Every feature's severity and drift types the same with the sketch as exact."""
    a, b = _ok(rows, sketch), _ok(rows, exact)
    text = f"{sketch}: every verdict the same as {exact} (severity and drift types of all features)"
    if a is None or b is None or "severities" not in a or "severities" not in b:
        return goal(text, "0 differing", None, None, _why(rows, sketch, exact) or "no verdicts recorded")
    differ = {f: (a["severities"].get(f), v) for f, v in b["severities"].items() if a["severities"].get(f) != v}
    note = (f"KS error bound <= {a.get('max_ks_error_bound')}, Wasserstein (normalised) <= "
            f"{a.get('max_wasserstein_error_bound')}")
    return goal(text, "0 differing", f"{len(differ)} differing" + (f": {differ}" if differ else ""),
                not differ, note)


def no_label_lost(rows: dict, name: str) -> dict:
    a = _ok(rows, name)
    text = f"no label lost, same features as the bare ASOF join ({name})"
    if a is None or "labels_lost" not in a:
        return goal(text, "0 lost, 0 differing", None, None, _why(rows, name) or "not verified")
    return goal(text, "0 lost, 0 differing", f"{a['labels_lost']} lost, {a['mismatched_labels']} differing",
                a["labels_lost"] == 0 and a["mismatched_labels"] == 0 and a["duplicate_rows"] == 0)


# -- 1. point-in-time training set -------------------------------------------------------------------
def _pit_steps() -> tuple[Step, ...]:
    return (
        Step("setup", f"{PIT}:setup", measured=False),
        Step("ours", f"{PIT}:ours", "ml.training_set.build_training_set on DuckDB (the backend's ASOF LEFT JOIN "
             "+ TTL; input checks and summary included)"),
        Step("ours_sql", f"{PIT}:ours_sql", "training_set_sql alone via replace_table (no input checks, no summary)"),
        Step("ours_asof_proposal", f"{PIT}:ours_asof_proposal",
             "the same ASOF SELECT written out in the benchmark (cross-check of what the pipeline emits)"),
        Step("bare_asof", f"{PIT}:bare_asof", "bare DuckDB ASOF LEFT JOIN + TTL (CTAS)", reference=True),
        Step("feast_duckdb", f"{FEAST}:feast_duckdb", "Feast 0.67 get_historical_features, DuckDB offline store",
             capped=True),
        Step("feast_file", f"{FEAST}:feast_file", "Feast 0.67 get_historical_features, file offline store (dask)",
             capped=True),
    )


def _pit_goals(size: str) -> Callable[[dict, dict], list[dict]]:
    def goals(rows: dict, params: dict) -> list[dict]:
        out = [within(rows, "ours", "bare_asof", 1.3, "ours within 1.3x of the bare DuckDB ASOF join")]
        if size == "a":
            out.append(faster_than(rows, "ours", "feast_file", 25, "ours at least 25x faster than Feast's file store"))
        else:
            out.append(faster_than(rows, "ours", "feast_duckdb", 10, "ours at least 10x faster than Feast's DuckDB store"))
            out.append(within(rows, "ours", "feast_duckdb", 0.25, "ours at most a quarter of Feast DuckDB's peak memory",
                              key="peak_rss_mb"))
        out.append(no_label_lost(rows, "ours"))
        return out
    return goals


def _pit_sizes(size: str) -> Callable[[bool], dict]:
    full = {"a": dict(customers=20_000, days=180, presence=0.75, start_spread=40, labels=200_000),
            "b": dict(customers=100_000, days=100, presence=1.0, start_spread=1, labels=1_000_000)}
    quick = {"a": dict(customers=300, days=30, presence=0.75, start_spread=10, labels=2_000),
             "b": dict(customers=400, days=20, presence=1.0, start_spread=1, labels=3_000)}
    return lambda q: {**(quick if q else full)[size], "seed": 8, "ttl_days": 7,
                      "feast_outputs": ["feast_duckdb", "feast_file"]}


# -- 3, 4. the pipeline through Dagster --------------------------------------------------------------
def _scale_sizes(quick: bool) -> dict:
    n, days = (300, 10) if quick else (108_000, 100)  # ~0.93 events per customer-day: ~10M events
    # Two new days after the stored ones: one refreshed as configured, one without Evidently.
    return {"customers": n, "total_days": days + 2, "seed": 7, "first": 0, "last": days - 1,
            "baseline_days": 7}


def _scale_goals(rows: dict, params: dict) -> list[dict]:
    return [
        at_most(rows, "refresh", "alerts_landed_s", 10, "s", "one day's refresh (events, features, online, stats, "
                "drift alerts) under 10 s wall through Dagster: run start to drift_alerts landed"),
        at_most(rows, "refresh", "peak_rss_gb", 1.5, "GB", "one day's refresh under 1.5 GB peak RSS"),
        at_most(rows, "backfill", "wall_s", 60, "s", f"full {params['last'] + 1}-day backfill as one run under 60 s"),
    ]


def _incremental_sizes(quick: bool) -> dict:
    n, long, short = (200, 40, 10) if quick else (30_000, 365, 30)
    return {"customers": n, "total_days": long + 1, "seed": 11, "long": long, "short": short,
            "baseline_days": 7}


def _incremental_steps() -> tuple[Step, ...]:
    steps = [Step("generate", f"{PIPE}:generate", measured=False)]
    for key, ref in (("short", True), ("long", False)):
        home = {"home_key": key}
        steps += [
            Step(f"stage_{key}", f"{PIPE}:stage", measured=False, params=home),
            Step(f"backfill_{key}", f"{PIPE}:backfill_chunks", measured=False, params=home),
            Step(f"prepare_{key}", f"{PIPE}:prepare_refresh", measured=False, params=home),
            Step(f"refresh_{key}", f"{PIPE}:refresh", f"one new day's refresh with the {key} history stored",
                 reference=ref, params=home, repeatable=False),
        ]
    return tuple(steps)


def _incremental_goals(rows: dict, params: dict) -> list[dict]:
    g = within(rows, "refresh_long", "refresh_short", 1.5,
               f"one day's refresh with {params['long']} days stored at most 1.5x the one with {params['short']}")
    a, b = _ok(rows, "refresh_long"), _ok(rows, "refresh_short")
    if a and b and a.get("steps") and b.get("steps"):
        per = {k: a["steps"][k] / b["steps"][k] for k in a["steps"] if b["steps"].get(k)}
        g["note"] = "per step, long/short: " + ", ".join(f"{k} {v:.2f}x" for k, v in per.items())
    return [g]


# -- 5. orchestration --------------------------------------------------------------------------------
def _chain_goals(rows: dict, params: dict) -> list[dict]:
    out = []
    a, b = _ok(rows, "in_process_10"), _ok(rows, "in_process_1")
    if a and b:
        per = (a["wall_s"] - b["wall_s"]) / 9
        out.append(goal("orchestration overhead per asset step (in-process executor, the local deployment)",
                        "<= 0.15 s", f"{per:.3f} s", per <= 0.15))
    else:
        out.append(goal("orchestration overhead per asset step (in-process executor)", "<= 0.15 s", None, None,
                        _why(rows, "in_process_10", "in_process_1")))
    demo = rows.get("demo")
    if demo and demo.get("status") == "skipped":
        out.append(goal("the demo end to end (issue 20: on an idle machine)", "< 60 s", None, None, demo.get("reason", "")))
    else:
        out.append(at_most(rows, "demo", "process_wall_s", 60, "s", "the demo end to end (issue 20: on an idle machine)"))
    return out


# -- 6. online serving -------------------------------------------------------------------------------
def _serving_sizes(quick: bool) -> dict:
    base = {"layout": 2}  # bump when the store layout changes: the setup's cache is keyed on params
    if quick:
        return {**base, "entities": 2_000, "seed": 19, "clients": 32, "sequential": {"1": 200, "10": 100, "100": 50},
                "seconds": {"1": 2, "100": 2}}
    return {**base, "entities": 100_000, "seed": 19, "clients": 32, "sequential": {"1": 2000, "10": 1000, "100": 300},
            "seconds": {"1": 10, "100": 8}}


def _serving_goals(rows: dict, params: dict) -> list[dict]:
    def ok(name):
        r = rows.get(name)
        return r if r and r.get("status") == "ok" and r.get("latency") else None

    feasts = [r for r in (ok("feast_default"), ok("feast_tuned")) if r]
    best_feast = max((r["concurrent"]["1"]["rps"] for r in feasts), default=None)
    floor = ok("dict_floor")
    out = []
    for name in ("ours_sqlite", "ours_redis"):
        # Ours at its better worker count (1 or 2 uvicorn workers), as Feast's best is taken.
        store = name.split("_")[1]
        runs = [x for x in (ok(name), ok(f"{name}_2w")) if x]
        r = max(runs, key=lambda x: x["concurrent"]["1"]["rps"]) if runs else None
        if r is None:
            out.append(goal(f"{name}: serving goals", "-", None, None, _why(rows, name)))
            continue
        lat, conc = r["latency"], r["concurrent"]
        store = f"{store} ({r.get('workers', 1)} worker{'s' if r.get('workers', 1) > 1 else ''})"
        out.append(goal(f"{store}: p99, 1 entity per request (sequential)", "<= 3 ms",
                        f"{lat['1']['p99_ms']:.2f} ms", lat["1"]["p99_ms"] <= 3))
        out.append(goal(f"{store}: p99, 100 entities per request (sequential)", "<= 15 ms",
                        f"{lat['100']['p99_ms']:.2f} ms", lat["100"]["p99_ms"] <= 15))
        rps = conc["1"]["rps"]
        if best_feast:
            out.append(goal(f"{store}: throughput at {params['clients']} clients vs Feast's best", ">= 5x",
                            f"{rps / best_feast:.1f}x ({rps:.0f} vs {best_feast:.0f} req/s)", rps >= 5 * best_feast))
        else:
            out.append(goal(f"{store}: throughput vs Feast's best", ">= 5x", None, None,
                            _why(rows, "feast_default", "feast_tuned")))
        if floor:
            f = floor["concurrent"]["1"]["rps"]
            out.append(goal(f"{store}: throughput at {params['clients']} clients vs the bare dict ASGI floor",
                            ">= 0.5x", f"{rps / f:.2f}x ({rps:.0f} vs {f:.0f} req/s)", rps >= 0.5 * f))
        errors = sum(v["errors"] for v in (*lat.values(), *conc.values()))
        out.append(goal(f"{store}: request errors, sequential and under load", "0", str(errors), errors == 0))
    return out


def _serving_steps() -> tuple[Step, ...]:
    return (
        Step("setup", f"{SERVE}:setup", measured=False),
        Step("dict_floor", f"{SERVE}:dict_floor", "bare ASGI app answering from a Python dict (uvicorn)",
             reference=True, repeatable=False),
        Step("ours_sqlite", f"{SERVE}:ours_sqlite", "feature-factory serve, SQLite store", repeatable=False),
        Step("ours_sqlite_2w", f"{SERVE}:ours_sqlite_2w", "the same, 2 uvicorn workers", repeatable=False),
        Step("ours_redis", f"{SERVE}:ours_redis", "feature-factory serve, Redis store", repeatable=False),
        Step("ours_redis_2w", f"{SERVE}:ours_redis_2w", "the same, 2 uvicorn workers", repeatable=False),
        Step("hostile_sqlite", f"{SERVE}:hostile_sqlite", "ours, SQLite: issue 29's ~1 MB body, then /health "
             "while 4 clients send 1,000-id requests", repeatable=False),
        Step("hostile_redis", f"{SERVE}:hostile_redis", "the same on Redis", repeatable=False),
        Step("feast_default", f"{SERVE}:feast_default", "feast serve (0.67), SQLite online store, defaults",
             repeatable=False),
        Step("feast_tuned", f"{SERVE}:feast_tuned", "feast serve, 2 workers, no access log, no worker "
             "recycling", repeatable=False),
    )


WORKLOADS: tuple[Workload, ...] = (
    Workload("pit_a", "1a. Point-in-time training set, size (a)",
             "20k customers x 180 daily snapshots with gaps (~2.4M rows), 200k labels at random times, "
             "13 features, TTL 7 days.", _pit_sizes("a"), _pit_steps(), _pit_goals("a"), f"{PIT}:verify"),
    Workload("pit_b", "1b. Point-in-time training set, size (b)",
             "100k customers x 100 daily snapshots (10M rows), 1M labels at random times, 13 features, "
             "TTL 7 days.", _pit_sizes("b"), _pit_steps(), _pit_goals("b"), f"{PIT}:verify"),
    Workload("drift", "2. Drift, 13 features",
             "1M reference rows (one snapshot day) vs 1M current rows (the next day), drift injected "
             "into 4 of 13 features.",
             lambda q: {"rows": 5_000 if q else 1_000_000, "seed": 5},
             (Step("setup", f"{DRIFT}:setup", measured=False),
              Step("ours", f"{DRIFT}:ours", "capture_baseline + write_feature_stats + evaluate_day + alerts"),
              Step("ours_daily", f"{DRIFT}:ours_daily", "ours, daily run (baseline already stored)"),
              Step("ours_sketch", f"{DRIFT}:ours_sketch", "ours with the quantile sketch (sketch_rows 65,536; "
                   "baseline and stats), from scratch"),
              Step("ours_sketch_daily", f"{DRIFT}:ours_sketch_daily", "ours with the sketch, daily run "
                   "(sketch baseline stored)"),
              Step("bare_sql", f"{DRIFT}:bare", "bare DuckDB quantile/histogram query (+ PSI in Python)",
                   reference=True),
              Step("evidently", f"{DRIFT}:evidently", "Evidently 0.7 DataDriftPreset on pandas (fetch included)")),
             lambda rows, p: [
                 faster_than(rows, "ours", "evidently", 30, "ours at least 30x faster than Evidently"),
                 faster_than(rows, "ours_sketch", "evidently", 30,
                             "ours with the quantile sketch at least 30x faster than Evidently"),
                 same_verdicts(rows, "ours_sketch", "ours"),
                 same_verdicts(rows, "ours_sketch_daily", "ours_daily"),
                 within(rows, "ours", "bare_sql", 2.0, "ours within 2x of a bare DuckDB quantile/histogram query"),
             ]),
    Workload("scale", "3. Scale: the pipeline through Dagster, ~10M events",
             "~108k customers x 100 days of generated events (Parquet landing files): the full backfill "
             "as one run, then one new day's refresh (events, features, stats, drift alerts, then the Evidently "
             "drift_report).",
             _scale_sizes,
             (Step("generate", f"{PIPE}:generate", measured=False),
              Step("stage", f"{PIPE}:stage", measured=False),
              Step("backfill", f"{PIPE}:backfill", "daily_refresh_job over all stored days, one run",
                   repeatable=False),
              Step("prepare", f"{PIPE}:prepare_refresh", measured=False),
              Step("refresh", f"{PIPE}:refresh", "daily_refresh_job for the new day (as shipped)",
                   repeatable=False),
              Step("features_sql", f"{PIPE}:features_sql", "that day's customer_features SQL alone, no Dagster",
                   reference=True),
              Step("prepare_next", f"{PIPE}:prepare_refresh", measured=False, params={"next": 2}),
              Step("refresh_no_evidently", f"{PIPE}:refresh",
                   "the next new day, drift_report (Evidently) disabled by run config",
                   params={"next": 2, "evidently": False}, repeatable=False)),
             _scale_goals),
    Workload("incremental", "4. Incremental cost",
             "One new day's refresh (through Dagster) with 365 days stored vs with 30 days stored, "
             "30k customers, the same new day.", _incremental_sizes, _incremental_steps(), _incremental_goals),
    Workload("orchestration", "5. Orchestration overhead",
             "A chain of trivial assets as one job on a persistent instance, at 1 and 10 steps, per "
             "executor; and `feature-factory demo` end to end.",
             lambda q: {"steps": 10},
             (Step("python_only", f"{CHAIN}:python_only", "the 10 asset bodies called directly"),
              Step("in_process_1", f"{CHAIN}:run_chain", "1 step, in-process executor",
                   params={"factory": "chain_1_in_process"}),
              Step("in_process_10", f"{CHAIN}:run_chain", "10 steps, in-process executor",
                   params={"factory": "chain_10_in_process"}),
              Step("multiprocess_1", f"{CHAIN}:run_chain", "1 step, multiprocess executor",
                   params={"factory": "chain_1_multiprocess"}),
              Step("multiprocess_10", f"{CHAIN}:run_chain", "10 steps, multiprocess executor",
                   params={"factory": "chain_10_multiprocess"}),
              Step("demo", f"{CHAIN}:demo", "feature-factory demo, end to end (subprocess)", repeatable=False)),
             _chain_goals),
    Workload("calibration", "6. Drift calibration by simulation",
             "Simulated per-day feature values (1k to 1M a day; 28 baseline days, then test days) judged "
             "by the product's baseline, stats SQL and drift code: false alarms per 1,000 drift-free "
             "feature-days at medium+ and recall per injected effect (docs/drift-calibration.md).",
             lambda q: {"grids": calibration.QUICK_SIZES if q else calibration.SIZES, "seed": 13},
             tuple(Step(name, f"{CAL}:calibrate", f"{grid[0]:,} values a day, {grid[1]} replica(s) x {grid[2]} "
                        f"test days, {(*grid, 28)[3]}-day baseline", repeatable=False, params={"size": name})
                   for name, grid in calibration.SIZES.items()),
             calibration.goals),
    Workload("serving", "7. Online serving: feature server vs Feast",
             "100k entities x 13 features; sequential p50/p99 at 1, 10 and 100 entities per request, "
             "throughput at 32 concurrent clients (1 and 100 entities per request), loopback, "
             "the load generator on the same 2 cores.", _serving_sizes, _serving_steps(), _serving_goals),
    Workload("diagnosis", "8. Diagnosis of drift causes on simulations with known causes",
             "Generated events (2,000 customers, 108 days, 4 landing files a day) with one known cause each "
             "(outlier burst in one file / spread over all files, channel mix, price inflation, blank amounts "
             "from one file, a type change in one file, and a drift-free control) through ingestion, features, "
             "stats, baseline, drift + diagnosis + attribution and the proposal rules; and attribution's cost "
             "on ~10M stored events (docs/diagnosis.md).",
             diagnosis.sizes,
             (Step("scenarios", f"{DIAG}:scenarios", "7 scenarios x 4 judged days, the real pipeline (scored)",
                   repeatable=False),
              Step("scale", f"{DIAG}:scale", "one day's drift run on ~10M stored events, with vs without "
                   "diagnosis + attribution (median of 3)", repeatable=False)),
             diagnosis.goals),
)

WORKLOADS += (
    Workload("staging", "9. Staging landed files: CSV and Parquet (issue 20)",
             "The generator's events (~108k customers x 20 days, ~2M events, one file a day) as CSV and as "
             "Parquet, ingested as one range into an empty DuckDB warehouse: staging (read, parse, "
             "classify into landing_rows) and the partition writes, timed apart.",
             lambda q: {"customers": 300 if q else 108_000, "days": 5 if q else 20, "seed": 7},
             (Step("generate", f"{STAGE}:generate", measured=False),
              Step("csv", f"{STAGE}:ingest", "CSV landing files, ingest_range over every day", params={"fmt": "csv"},
                   repeatable=False),
              Step("parquet", f"{STAGE}:ingest", "Parquet landing files, the same events",
                   params={"fmt": "parquet"}, repeatable=False)),
             lambda rows, params: []),
    Workload("health", "10. Pipeline health by replay (issue 31)",
             "Synthetic daily run histories (30 per injected problem and 30 normal, 200 runs each, runtime noise, "
             "1% failed runs, 2% retries, 2% single slow runs) with injected 2x slowdowns, failure streaks, "
             "halved volumes, late files and a stopped schedule, replayed day by day through the pipeline_health "
             "asset's own evaluate(); plus forecasts on a known runtime trend (docs/pipeline-health.md).",
             health.sizes,
             (Step("replay", f"{HEALTH}:replay_step", "every history judged after each day's run", repeatable=False),),
             health.goals),
)

WORKLOADS += (
    Workload("bgnbd", "10. Churn champion vs BG/NBD on the same out-of-time rows (issue 26)",
             "The product's path (ingest, catalog features, labels, training set, churn_model's training round) "
             "on generated events (2,000 customers, 150 days, 14-day horizon) and on the CDNOW purchase log "
             "(23,570 customers, 1997-98, 90-day horizon; --cdnow PATH), the holdout rows scored by our champion, "
             "the pre-issue-26 model, BG/NBD (Fader, Hardie & Lee 2005), recency and a constant; 95% customer-"
             "bootstrap intervals (docs/models.md).",
             bgnbd.sizes,
             (Step("synthetic", f"{BGNBD}:case_step", "generated events, 14-day horizon", repeatable=False,
                   params={"case": "synthetic"}),
              Step("cdnow", f"{BGNBD}:case_step", "CDNOW master file, 90-day horizon", repeatable=False,
                   params={"case": "cdnow"})),
             bgnbd.goals),
)

BY_NAME = {w.name: w for w in WORKLOADS}


def resolve_paths(workload: Workload, params: dict, step: Step, work: Path) -> dict:
    """Fill in the folders a step uses, under the workload's work folder."""
    base = work / workload.name
    out = {**params, **step.params, "dir": str(base)}
    out["landing_all"] = str(base / "data" / "landing")
    if workload.name == "incremental":
        key = step.params.get("home_key")
        if key:
            n, long = params[key], params["long"]
            # Both homes end on the same day, so both refresh the same new day.
            out.update(home=str(base / f"home_{key}"), first=long - n, last=long - 1)
    out.setdefault("home", str(base / "home"))
    if "next" in out:  # the n-th day after the stored ones
        out["new"] = int(out["last"]) + int(out.pop("next"))
    return out
