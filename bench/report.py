"""results.json and RESULTS.md: one record per workload, the machine and versions they ran on."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("duckdb", "dagster", "pandas", "pyarrow", "numpy", "evidently", "feast", "dask",
            "ibis-framework", "scipy")


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    except (FileNotFoundError, StopIteration):
        mem = 0
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**20, 1),
            "os": platform.platform(), "python": platform.python_version()}


def versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10, cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def start(previous: dict | None, *, quick: bool, python: str) -> dict:
    """A results document; with `previous` (an `--only` run), its other workloads are kept."""
    doc = {"schema": 1, "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "quick": quick, "machine": machine(), "versions": versions(), "python": python,
           "commit": _git_commit(), "workloads": []}
    if previous and previous.get("quick") == quick:
        doc["workloads"] = previous.get("workloads", [])
    return doc


def put(doc: dict, record: dict) -> None:
    doc["workloads"] = [w for w in doc["workloads"] if w["name"] != record["name"]] + [record]
    order = ["pit_a", "pit_b", "drift", "scale", "incremental", "orchestration", "calibration", "serving", "diagnosis"]
    doc["workloads"].sort(key=lambda w: order.index(w["name"]) if w["name"] in order else 99)


def write(doc: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("results.json", json.dumps(doc, indent=2, default=str, sort_keys=False)),
                       ("RESULTS.md", markdown(doc))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text + "\n")
        tmp.replace(out / name)


def _n(v, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _rows_cell(r: dict) -> str:
    parts = []
    if r.get("rows_in") is not None:
        parts.append(f"in {_n(r['rows_in'])}")
    if r.get("rows_out") is not None:
        parts.append(f"out {_n(r['rows_out'])}")
    return ", ".join(parts) or "-"


def _notes(r: dict) -> str:
    notes = []
    if r.get("status") != "ok":
        notes.append(f"**{r.get('status')}**: {r.get('reason', '')}"[:300])
    if "labels_lost" in r:
        notes.append(f"labels lost {_n(r['labels_lost'])}, differing from reference {_n(r.get('mismatched_labels'))}, "
                     f"without features {_n(r.get('labels_without_features'))}")
    if r.get("false_alarms_per_1000") is not None:
        notes.append(f"false alarms {r['false_alarms_per_1000']:.2f} per 1000 drift-free feature-days "
                     f"({r['false_alarms']} of {r['drift_free_feature_days']:,}); table in docs/drift-calibration.md")
    if r.get("drifted") is not None:
        notes.append(f"drifted: {', '.join(r['drifted']) or 'none'}")
    if r.get("latency"):  # the serving workload
        notes.append("sequential p50/p99 ms: " + ", ".join(
            f"{k} ent {v['p50_ms']:.2f}/{v['p99_ms']:.2f}" for k, v in r["latency"].items()))
        notes.append("32 clients: " + ", ".join(
            f"{k} ent {v['rps']:.0f} req/s p99 {v['p99_ms']:.1f} ms, {v['errors']} errors"
            for k, v in r["concurrent"].items()))
    if r.get("hostile"):  # the serving workload's hostile requests (issue 29)
        h = r["hostile"]
        notes.append(f"issue body (1,000 ids x 70,000 feature names): HTTP {h['issue_body']['status']} in "
                     f"{h['issue_body']['ms']:.1f} ms; widest valid (1,000 ids, all features): HTTP "
                     f"{h['widest_valid']['status']} in {h['widest_valid']['ms']:.1f} ms; /health p50/p99 ms alone "
                     f"{h['health_alone']['p50_ms']:.2f}/{h['health_alone']['p99_ms']:.2f}, "
                     f"under 4 clients of 1,000-id requests ({h['load']['rps'] or 0:.0f} req/s, {h['load']['errors']} errors) "
                     f"{h['health_under_load']['p50_ms']:.2f}/{h['health_under_load']['p99_ms']:.2f}")
    if r.get("steps"):
        notes.append("steps: " + ", ".join(f"{k} {v:.2f}s" for k, v in r["steps"].items()))
    if r.get("phases"):
        notes.append("phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in r["phases"].items()))
    if r.get("runs"):
        notes.append(f"median of {r['runs']} runs: " + ", ".join(f"{w:.2f}" for w in r["wall_s_all"]))
    if r.get("memory_cap_gb"):
        notes.append(f"memory cap {r['memory_cap_gb']} GiB")
    return "; ".join(notes).replace("|", "/").replace("\n", " ")


def markdown(doc: dict) -> str:
    m, v = doc["machine"], doc["versions"]
    lines = [
        "# Benchmark results" + (" (quick sizes: a smoke run, not a measurement)" if doc.get("quick") else ""),
        "",
        f"Generated {doc['generated_at']} by `python -m bench` (commit {doc.get('commit') or '?'}) on "
        f"{m['cpu'] or 'unknown CPU'}, {m['cores']} cores, {m['memory_gib']} GiB RAM, Python {m['python']}.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
        "",
        "Each contender ran in its own process. **wall s** / **CPU s** (user+sys, all threads) cover the "
        "measured block only (the workload, not interpreter start or imports; `process s` is the whole "
        "process); **peak MB** is the process's peak RSS (ru_maxrss). **x ref** = wall / the reference "
        "contender's wall (marked *).",
    ]
    for w in doc["workloads"]:
        lines += ["", f"## {w['title']}", "", w["summary"], "",
                  f"Measured {w['measured_at']}. Parameters: `{json.dumps(w['params'])}`", "",
                  "| contender | status | wall s | CPU s | process s | peak MB | rows | x ref | notes |",
                  "|---|---|---:|---:|---:|---:|---|---:|---|"]
        for r in w["rows"]:
            name = f"{r['contender']}{' *' if r.get('reference') else ''}"
            label = f"{name}: {r.get('label', '')}".strip(": ")
            lines.append(
                f"| {label} | {r.get('status')} | {_n(r.get('wall_s'))} | {_n(r.get('cpu_s'))} | "
                f"{_n(r.get('process_wall_s'))} | {_n(r.get('peak_rss_mb'), 0)} | {_rows_cell(r)} | "
                f"{_n(r.get('ratio_vs_reference'))} | {_notes(r)} |")
        if w.get("goals"):
            lines += ["", "| goal | target | measured | met? |", "|---|---|---|---|"]
            for g in w["goals"]:
                met = ("yes" if g["met"] else "**no**") if g.get("judged", True) else "not judged"
                note = f" ({g['note']})" if g.get("note") else ""
                cells = [g["goal"], g["target"], f"{g['measured']}{note[:400]}", met]
                lines.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
        if w.get("verify_error"):
            lines += ["", f"Verification failed: {w['verify_error'][:500]}"]
    return "\n".join(lines)
