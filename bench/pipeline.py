"""Workloads 3 and 4: the real pipeline through Dagster, in process, on DuckDB.

Landing Parquet files come from the project's generator (cached per parameters). A "home" is one
project home (DuckDB file, Dagster instance, landing folder); files are hard-linked into its landing
folder so a home holds exactly the days it should. `daily_refresh_job` (raw_events,
quarantined_events, customer_features, feature_stats, drift_alerts, drift_report) runs on the home's persistent
Dagster instance:

- `backfill`: every stored day as ONE run over the partition range (single-run backfill policy);
- `prepare_refresh`: capture a baseline (unmeasured) and land the next day's file;
- `refresh`: that new day's partition, events to drift alerts, then the Evidently drift_report
  (`alerts_landed_s`: run start to drift_alerts' materialization, when the sensor can act);
- `features_sql`: the customer_features SQL for that day alone, no Dagster (engine work).

Every child gets FEATURE_FACTORY_HOME / DAGSTER_HOME / FEATURE_FACTORY_LANDING from `home_env`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from bench import synth

JOB = "daily_refresh_job"
TABLES = ("raw_events", "quarantined_events", "customer_features", "feature_stats", "drift_alerts")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def home_env(home: Path, start: dt.date = synth.START) -> dict[str, str]:
    return {"FEATURE_FACTORY_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
            "FEATURE_FACTORY_LANDING": str(home / "landing"), "FEATURE_FACTORY_START_DATE": str(start),
            "FEATURE_FACTORY_DEPLOYMENT": "local"}


def day(i: int) -> dt.date:
    return synth.START + dt.timedelta(days=int(i))


def generate(params: dict, meter) -> dict:
    """Landing Parquet for days 0 .. total_days - 1 in `landing_all` (reused when unchanged)."""
    from feature_factory.synthetic.generator import GeneratorConfig, generate as run

    folder = Path(params["landing_all"])
    wanted = {k: params[k] for k in ("customers", "total_days", "seed")}
    if not synth.cached(folder.parent, wanted):
        shutil.rmtree(folder, ignore_errors=True)
        result = run(GeneratorConfig(customers=int(params["customers"]), days=int(params["total_days"]),
                                     start=synth.START, seed=int(params["seed"]), fmt="parquet",
                                     out_dir=folder, truth_dir=folder.parent / "ground_truth"))
        synth.mark_built(folder.parent, wanted)
        (folder.parent / "events.txt").write_text(str(result.total_events))
    return {"events": int((folder.parent / "events.txt").read_text())}


def _link(src: Path, dst_dir: Path) -> None:
    dst = dst_dir / src.name
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: copy (keeps the same bytes, so the same file version)
        shutil.copy2(src, dst)


def stage(params: dict, meter) -> dict:
    """A fresh home whose landing folder holds days [first, last] of `landing_all`."""
    home = Path(params["home"])
    shutil.rmtree(home, ignore_errors=True)
    (home / "landing").mkdir(parents=True)
    (home / "dagster_home").mkdir()
    for i in range(int(params["first"]), int(params["last"]) + 1):
        for f in sorted(Path(params["landing_all"]).glob(f"events_{day(i)}*")):
            _link(f, home / "landing")
    return {"files": len(list((home / "landing").iterdir()))}


def _run_job(meter, partition_key: str | None = None, first: str | None = None,
             last: str | None = None, run_config: dict | None = None) -> dict:
    import dagster as dg

    from feature_factory.definitions import defs
    from feature_factory.instance import ensure_instance

    job = defs.resolve_job_def(JOB)
    ensure_instance()
    instance = dg.DagsterInstance.get()
    tags = {RANGE_START: first, RANGE_END: last} if first else None
    marks = _cpu_marks(instance)
    load_before = os.getloadavg()[0]
    with meter.measure():
        result = job.execute_in_process(run_config=run_config, instance=instance, partition_key=partition_key,
                                        tags=tags, raise_on_error=False)
    # The machine is shared: the 1-minute load average around the run says how far wall is from CPU.
    load = {"load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2)}
    steps = _step_seconds(instance, result.run_id)
    out = {"success": result.success, "steps": steps, "step_total_s": round(sum(steps.values()), 3),
           "run_id": result.run_id, **_landed(instance, result.run_id), **_cpu_spans(marks), **load}
    if not result.success:
        out["failed"] = _failure(result)
    out.update(_counts())
    instance.dispose()
    return out


def _failure(result) -> str:
    """The failed steps and the first line of their errors, for the results table."""
    parts = []
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            err = ev.step_failure_data.error
            cause = err.cause if err and err.cause else err
            msg = (cause.message if cause else "").strip().splitlines()
            parts.append(f"step {ev.step_key} failed: {msg[0][:300] if msg else '?'}")
    return "; ".join(parts) or "run failed"


def _landed(instance, run_id: str, asset: str = "drift_alerts") -> dict:
    """Seconds from the run's first event to `asset`'s (last) materialization: when the alerts have
    landed and the drift sensor can act, while drift_report (Evidently) may still be running."""
    logs = instance.all_logs(run_id)
    if not logs:
        return {}
    done = [r.timestamp for r in logs if r.dagster_event and r.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
            and r.dagster_event.asset_key and r.dagster_event.asset_key.to_user_string() == asset]
    return {"alerts_landed_s": round(max(done) - logs[0].timestamp, 3)} if done else {}


def _cpu_marks(instance) -> list[tuple[str, str, float]]:
    """Record (event type, step or asset, process CPU seconds) as the run stores each event. The
    machine is shared, so wall seconds swing with the load; the CPU the run (all its threads,
    DuckDB's included) spent up to each event is the comparable figure."""
    import time

    marks: list[tuple[str, str, float]] = []
    store = instance.handle_new_event

    def handle(event, **kwargs):
        ev = event.dagster_event
        kind = ev.event_type_value if ev is not None else "LOG"
        what = ev.asset_key.to_user_string() if kind == "ASSET_MATERIALIZATION" else (event.step_key or "")
        marks.append((kind, what, time.process_time()))
        return store(event, **kwargs)

    instance.handle_new_event = handle  # this instance object only; it is disposed after the run
    return marks


def _cpu_spans(marks: list[tuple[str, str, float]], asset: str = "drift_alerts") -> dict:
    """Per step CPU seconds (STEP_START to its end), and CPU from the run's first event to `asset`'s
    last materialization (`alerts_landed_cpu_s`, the CPU twin of alerts_landed_s)."""
    starts, steps, landed = {}, {}, None
    begin = marks[0][2] if marks else None
    for kind, what, cpu in marks:
        if kind == "STEP_START":
            starts[what] = cpu
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and what in starts:
            steps[what] = round(cpu - starts[what], 3)
        elif kind == "ASSET_MATERIALIZATION" and what == asset:
            landed = cpu
    out = {"steps_cpu_s": steps} if steps else {}
    if begin is not None and landed is not None:
        out["alerts_landed_cpu_s"] = round(landed - begin, 3)
        # Shown in the results table's notes (report.py renders "phases").
        out["phases"] = {"CPU from run start to drift_alerts landed": out["alerts_landed_cpu_s"],
                         **{f"{k} CPU": v for k, v in steps.items()}}
    return out


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Per step: STEP_START to STEP_SUCCESS/FAILURE, from the run's event log."""
    starts, out = {}, {}
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None or not ev.step_key:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = rec.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in starts:
            out[ev.step_key] = round(rec.timestamp - starts[ev.step_key], 3)
    return out


def _counts() -> dict:
    from feature_factory.warehouse import DuckDBWarehouse

    wh = DuckDBWarehouse()
    return {f"rows_{t}": wh.row_count(t) for t in TABLES}


def backfill(params: dict, meter) -> dict:
    out = _run_job(meter, first=str(day(params["first"])), last=str(day(params["last"])))
    out["rows_in"] = out["rows_raw_events"]
    out["rows_out"] = out["rows_customer_features"]
    return out


def backfill_chunks(params: dict, meter) -> dict:
    """Preparation: store days [first, last] with runs of `chunk_days` days each (a history to
    refresh on top of, built without one huge range run)."""
    first, last, chunk = int(params["first"]), int(params["last"]), int(params.get("chunk_days", 30))
    runs, failed = 0, []
    for lo in range(first, last + 1, chunk):
        hi = min(lo + chunk - 1, last)
        out = _run_job(meter, first=str(day(lo)), last=str(day(hi)))
        runs += 1
        if out.get("failed"):
            failed.append(f"{day(lo)}..{day(hi)}: {out['failed']}")
    if failed:
        raise RuntimeError("; ".join(failed))
    return {"runs": runs, **_counts()}


def _new_day(params: dict) -> int:
    """Index of the day a refresh step loads: the day after the stored ones, or `params["new"]`."""
    return int(params.get("new", int(params["last"]) + 1))


def prepare_refresh(params: dict, meter) -> dict:
    """Capture a baseline from the first stored days (unless one exists) and land the new day's file."""
    from feature_factory.catalog import load_catalog
    from feature_factory.monitoring.explain.attribution import refresh_first_seen
    from feature_factory.monitoring.detection.baseline import capture_baseline, current_baseline
    from feature_factory.warehouse import DuckDBWarehouse

    wh = DuckDBWarehouse()
    baseline = current_baseline(wh)
    if baseline is None:
        first = day(params["first"])
        last = min(day(params["first"] + params["baseline_days"] - 1), day(params["last"]))
        baseline = capture_baseline(wh, first, last, load_catalog().computed())  # the code location's catalog
        refresh_first_seen(wh)  # what feature_stats_baseline does after a capture (monitoring/assets.py)
    new = _new_day(params)
    for f in sorted(Path(params["landing_all"]).glob(f"events_{day(new)}*")):
        _link(f, Path(params["home"]) / "landing")
    return {"baseline_version": baseline.version, "new_day": str(day(new))}


def refresh(params: dict, meter) -> dict:
    """One new day through daily_refresh_job; `evidently: false` switches the Evidently second
    opinion (drift_report) off by run config, to show what it costs."""
    new_day = str(day(_new_day(params)))
    before = _counts()
    run_config = None
    if params.get("evidently") is False:
        run_config = {"ops": {"drift_report": {"config": {"enabled": False}}}}
    out = _run_job(meter, partition_key=new_day, run_config=run_config)
    out["rows_in"] = out["rows_raw_events"] - before["rows_raw_events"]
    out["rows_out"] = out["rows_customer_features"] - before["rows_customer_features"]
    out["rows_stored_events"] = out["rows_raw_events"]
    return out


def features_sql(params: dict, meter) -> dict:
    """The features step's SQL alone for the new day (the `direct` plan), no Dagster, no writes
    into customer_features: what the engine needs for that day's snapshot."""
    from feature_factory.catalog import load_catalog
    from feature_factory.features.snapshot_sql import snapshot_plan
    from feature_factory.warehouse import DuckDBWarehouse

    wh = DuckDBWarehouse()
    new_day = day(_new_day(params))
    plan = snapshot_plan(wh.dialect, load_catalog().computed(), new_day, new_day, dt.datetime(2025, 1, 1))
    with wh.session() as s:
        with meter.measure():
            s.execute(f"CREATE OR REPLACE TABLE bench_snapshot AS {plan.sql}")
        rows = s.fetch_one("SELECT COUNT(*) FROM bench_snapshot")[0]
        s.execute("DROP TABLE bench_snapshot")
    return {"rows_out": int(rows), "strategy": plan.strategy}
