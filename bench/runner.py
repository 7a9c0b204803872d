"""Run the selected workloads step by step, each step in its own process, and write the results
after every workload (a crash later leaves the earlier results written)."""

from __future__ import annotations

import datetime as dt
import statistics
import sys
from pathlib import Path

from bench import report
from bench.harness import run_measured, run_plain
from bench.workloads import BY_NAME, WORKLOADS, Workload, resolve_paths

GiB = 2**30
REPEAT_UNDER_S = 60.0  # a contender slower than this on its first run is not repeated


def select(only: list[str] | None) -> list[Workload]:
    if not only:
        return list(WORKLOADS)
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown workload(s) {unknown}; choose from {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in names]


def memory_cap(cap_gb: float) -> int:
    """The cap for capped contenders: the asked cap, but never within 3 GiB of what is free now."""
    available = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    cap = int(cap_gb * GiB)
    return min(cap, available - 3 * GiB) if available else cap


def _env(params: dict) -> dict[str, str]:
    from bench.pipeline import home_env

    home = Path(params["home"])
    return {**home_env(home), "FEAST_USAGE": "False", "PYTHONUNBUFFERED": "1"}


def run_workload(wl: Workload, *, quick: bool, work: Path, cap_gb: float, repeat: int,
                 contenders: set[str] | None = None, log=print) -> dict:
    params = wl.sizes(quick)
    record = {"name": wl.name, "title": wl.title, "summary": wl.summary, "params": params,
              "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "prepare": {}, "rows": [], "goals": []}
    rows: dict[str, dict] = {}
    failed_prep = ""
    logs = work / wl.name / "logs"
    for step in wl.steps:
        p = resolve_paths(wl, params, step, work)
        if not step.measured:
            if failed_prep:
                continue
            log(f"[{wl.name}] {step.name} ...")
            try:
                record["prepare"][step.name] = run_plain(step.target, p, log_path=logs / f"{step.name}.log",
                                                         env=_env(p), mem_cap_bytes=memory_cap(cap_gb))
            except RuntimeError as exc:
                _drop_spill(work / wl.name)
                failed_prep = f"preparation step {step.name} failed: {exc}"
                log(f"[{wl.name}] {failed_prep}")
            continue
        if contenders and step.name not in contenders:
            continue
        if failed_prep:
            rows[step.name] = {"contender": step.name, "label": step.label, "status": "failed",
                               "reason": failed_prep, "reference": step.reference}
            continue
        # Every step is capped (the machine is shared); `capped` marks those expected to reach it.
        cap = memory_cap(cap_gb)
        runs = []
        # Repeats (median wall kept) only where a second run does the same work and is short.
        times = max(1, repeat) if step.repeatable else 1
        for i in range(times):
            log(f"[{wl.name}] {step.name}{f' (run {i + 1})' if repeat > 1 else ''} ...")
            m = run_measured(step.target, p, log_path=logs / f"{step.name}.{i}.log", env=_env(p),
                             mem_cap_bytes=cap)
            runs.append(m)
            if m.status != "ok" or (m.wall_s or 0) > REPEAT_UNDER_S:
                break
        if runs[-1].status in ("killed", "timeout", "failed"):
            _drop_spill(work / wl.name)
        rows[step.name] = _row(step, runs, cap)
        r = rows[step.name]
        log(f"[{wl.name}] {step.name}: {r['status']} wall {_fmt(r.get('wall_s'))} s, "
            f"peak {_fmt(r.get('peak_rss_mb'), 0)} MB {r.get('reason', '')[:160]}")
    if wl.verify and not failed_prep:
        p = resolve_paths(wl, params, wl.steps[0], work)
        try:
            checked = run_plain(wl.verify, p, log_path=logs / "verify.log", env=_env(p))
            for name, v in checked.items():
                if name in rows and isinstance(v, dict):
                    rows[name].update({k: v[k] for k in v if k != "rows_out" or "rows_out" not in rows[name]})
        except RuntimeError as exc:
            record["verify_error"] = str(exc)
    ref = next((r for r in rows.values() if r.get("reference") and r.get("status") == "ok"), None)
    for r in rows.values():
        if ref and r.get("status") == "ok" and r.get("wall_s") and ref.get("wall_s"):
            r["ratio_vs_reference"] = r["wall_s"] / ref["wall_s"]
    record["rows"] = list(rows.values())
    record["goals"] = wl.goals(rows, params)
    return record


def _drop_spill(folder: Path) -> None:
    """A DuckDB killed mid-query leaves its temp spill folder (`<db>.tmp`) behind: remove it."""
    import shutil

    for tmp in folder.rglob("*.duckdb.tmp"):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)


def _row(step, runs, cap) -> dict:
    ok = [m for m in runs if m.status == "ok"]
    chosen = sorted(ok, key=lambda m: m.wall_s)[(len(ok) - 1) // 2] if len(ok) == len(runs) else runs[-1]
    row = {"contender": step.name, "label": step.label, "reference": step.reference, **chosen.to_dict()}
    row.update(row.pop("out", {}) or {})
    if row.get("peak_rss_mb") is not None:
        row["peak_rss_gb"] = row["peak_rss_mb"] / 1024
    if len(runs) > 1:
        row["runs"] = len(runs)
        row["wall_s_all"] = [m.wall_s for m in runs]
        row["peak_rss_mb"] = max(m.peak_rss_mb or 0 for m in runs)
        row["wall_s_spread"] = (max(row["wall_s_all"]) - min(row["wall_s_all"])) if ok else None
        row["wall_s_median"] = statistics.median(row["wall_s_all"]) if len(ok) == len(runs) else None
    if step.capped or chosen.status == "killed":
        row["memory_cap_gb"] = round(cap / GiB, 1)
    return row


def _fmt(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def run(*, quick: bool, only: list[str] | None, out: Path, work: Path, cap_gb: float, repeat: int,
        contenders: list[str] | None = None, log=print) -> dict:
    selected = select(only)
    wanted = {n.strip() for item in contenders or [] for n in item.split(",") if n.strip()} or None
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    results = report.load(out / "results.json") if only else None
    results = report.start(results, quick=quick, python=sys.executable)
    for wl in selected:
        record = run_workload(wl, quick=quick, work=work, cap_gb=cap_gb, repeat=repeat,
                              contenders=wanted, log=log)
        if wanted:  # some contenders re-run: keep the others' stored rows, judge the goals on all
            old = next((w for w in results["workloads"] if w["name"] == wl.name), None)
            ran = {r["contender"] for r in record["rows"]}
            kept = [r for r in (old or {}).get("rows", []) if r["contender"] not in ran]
            record["rows"] = sorted(kept + record["rows"], key=lambda r: [s.name for s in wl.steps].index(r["contender"])
                                    if r["contender"] in [s.name for s in wl.steps] else 99)
            record["goals"] = wl.goals({r["contender"]: r for r in record["rows"]}, record["params"])
        report.put(results, record)
        report.write(results, out)
        log(f"[{wl.name}] done; results in {out}")
    return results


def regenerate(out: Path) -> dict:
    """Re-judge the goals of a results.json and rewrite RESULTS.md, without measuring anything
    (after a change to how goals are judged or shown)."""
    doc = report.load(out / "results.json")
    if doc is None:
        raise ValueError(f"no results.json in {out}")
    for w in doc["workloads"]:
        wl = BY_NAME.get(w["name"])
        if wl:
            w["goals"] = wl.goals({r["contender"]: r for r in w["rows"]}, w["params"])
    report.write(doc, out)
    return doc
