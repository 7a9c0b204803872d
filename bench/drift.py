"""Workload 2: drift of 13 features, `rows` reference rows (one snapshot day) vs `rows` current rows
(the next day), with drift injected into three features (a mean shift, a scale change, a NULL
spike) and none in the other ten.

- ours: the monitoring engineer's public functions, from scratch, as Evidently works: capture a
  baseline from the reference day (`capture_baseline`), the current day's statistics
  (`write_feature_stats`), drift metrics and severities (`evaluate_day`), alerts written.
- ours_daily: what the daily run does (baseline already stored): statistics + drift + alerts.
- ours_sketch / ours_sketch_daily: the same two with the quantile sketch (`sketch_rows`, stats.py):
  grids, quantiles and distinct counts from a ~65k-row sample per day, everything else exact;
  their verdicts (every feature's severity) are compared with the exact contenders'.
- evidently: the same rows fetched into pandas, `Report([DataDriftPreset()]).run(current, ref)`.
- bare_sql: one DuckDB query with per-feature moments, quantiles and a 10-bin histogram over the
  reference deciles for both days; PSI from the counts in Python (the reference).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bench import synth

TABLE = "customer_features"
REF_DAY = synth.START
CUR_DAY = synth.START + dt.timedelta(days=1)
# feature index -> (mean shift in log/relative units, scale multiplier, extra NULL rate)
DRIFT = {2: (0.3, 1.0, 0.0), 6: (0.5, 1.0, 0.0), 8: (0.0, 1.6, 0.0), 10: (0.0, 1.0, 0.15)}
DRIFTED_AT = "medium"
SKETCH_ROWS = 65_536


def _db(params: dict) -> Path:
    return Path(params["dir"]) / "warehouse.duckdb"


def setup(params: dict, meter) -> dict:
    import duckdb

    folder = Path(params["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {"rows": params["rows"], "seed": params["seed"], "drift": str(sorted(DRIFT.items()))}
    if not synth.cached(folder, wanted):
        _db(params).unlink(missing_ok=True)
        specs = synth.features()
        con = duckdb.connect(str(_db(params)))
        seed = int(params["seed"])
        days = []
        for day, drifted in ((0, False), (1, True)):
            cols = []
            for k, s in enumerate(specs):
                shift, scale, nulls = DRIFT.get(k, (0.0, 1.0, 0.0)) if drifted else (0.0, 1.0, 0.0)
                null_rate = 0.05 + nulls if s.dtype.sql_type == "DOUBLE" else 0.0
                cols.append(f"{synth.value_sql(s, k, 'c', day, seed, shift, scale, null_rate)} AS {s.name}")
            days.append(f"SELECT {synth.customer_id('c')} AS customer_id, "
                        f"CAST(DATE '{synth.START}' + {day} AS DATE) AS snapshot_date, {', '.join(cols)}, "
                        f"TIMESTAMP '2024-01-03 00:00:00' AS computed_at FROM range({int(params['rows'])}) t(c)")
        con.execute(f"CREATE TABLE {TABLE} AS {' UNION ALL '.join(days)} ORDER BY snapshot_date, customer_id")
        con.close()
        synth.mark_built(folder, wanted)
    specs = synth.features()
    return {"rows_per_day": int(params["rows"]), "features": len(specs),
            "injected": sorted(specs[k].name for k in DRIFT)}


def _warehouse(params: dict):
    from feature_factory.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(path=str(_db(params)))


def _drifted(report) -> list[str]:
    from feature_factory.monitoring.detection.drift import severity_rank

    return sorted(r.feature for r in report.results if r.severity_rank >= severity_rank(DRIFTED_AT))


def _verdicts(report) -> dict:
    """What the detection benchmark compares between exact and sketch: every feature's severity
    and drift types, plus the largest KS / Wasserstein error bound."""
    def top(key):
        values = [r.metrics.get(key) for r in report.results if r.metrics.get(key) is not None]
        return round(max(values), 5) if values else None

    return {"drifted": _drifted(report),
            "severities": {r.feature: f"{r.severity} {r.drift_types}".strip() for r in report.results},
            "max_ks_error_bound": top("ks_error_bound"),
            "max_wasserstein_error_bound": top("wasserstein_error_bound")}


def _from_scratch(params: dict, meter, sketch_rows: int | None) -> dict:
    from feature_factory.monitoring.report.alerts import alert_rows, evaluate_day, write_alerts
    from feature_factory.monitoring.detection.baseline import capture_baseline
    from feature_factory.monitoring.statistics.feature_stats import write_feature_stats

    wh, specs = _warehouse(params), synth.features()
    with meter.measure(), wh.held():  # as drift_alerts does: one open file for the small reads
        with meter.phase("baseline"):
            baseline = capture_baseline(wh, REF_DAY, REF_DAY, specs, sketch_rows=sketch_rows)
        with meter.phase("stats"):
            write_feature_stats(wh, CUR_DAY, CUR_DAY, specs, binning=baseline.binning(), sketch_rows=sketch_rows)
        with meter.phase("drift"):
            report = evaluate_day(wh, CUR_DAY, specs)
            written = write_alerts(wh, CUR_DAY, alert_rows(report))
    return {"rows_out": written, **_verdicts(report)}


def _daily(params: dict, meter, sketch_rows: int | None) -> dict:
    from feature_factory.monitoring.report.alerts import alert_rows, evaluate_day, write_alerts
    from feature_factory.monitoring.detection.baseline import current_baseline
    from feature_factory.monitoring.statistics.feature_stats import write_feature_stats

    wh, specs = _warehouse(params), synth.features()
    with meter.measure(), wh.held():
        baseline = current_baseline(wh)
        if baseline is None:
            raise RuntimeError("the daily contenders need the baseline captured by `ours` / `ours_sketch`")
        write_feature_stats(wh, CUR_DAY, CUR_DAY, specs, binning=baseline.binning(), sketch_rows=sketch_rows)
        report = evaluate_day(wh, CUR_DAY, specs)
        written = write_alerts(wh, CUR_DAY, alert_rows(report))
    return {"rows_out": written, **_verdicts(report)}


def ours(params: dict, meter) -> dict:
    return _from_scratch(params, meter, None)


def ours_daily(params: dict, meter) -> dict:
    """Needs a current baseline in the file: run after `ours`."""
    return _daily(params, meter, None)


def ours_sketch(params: dict, meter) -> dict:
    return _from_scratch(params, meter, int(params.get("sketch_rows", SKETCH_ROWS)))


def ours_sketch_daily(params: dict, meter) -> dict:
    """Needs the sketch baseline in the file: run after `ours_sketch`."""
    return _daily(params, meter, int(params.get("sketch_rows", SKETCH_ROWS)))


def evidently(params: dict, meter) -> dict:
    import duckdb
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    specs = synth.features()
    names = [s.name for s in specs]
    con = duckdb.connect(str(_db(params)), read_only=True)
    sql = f"SELECT {', '.join(names)} FROM {TABLE} WHERE snapshot_date = ?"
    with meter.measure():
        with meter.phase("fetch to pandas"):
            current = con.execute(sql, [CUR_DAY]).df().astype("float64")
            reference = con.execute(sql, [REF_DAY]).df().astype("float64")
        with meter.phase("evidently"):
            definition = DataDefinition(numerical_columns=names)
            snapshot = Report([DataDriftPreset()], include_tests=True).run(
                Dataset.from_pandas(current, data_definition=definition),
                Dataset.from_pandas(reference, data_definition=definition))
            report = snapshot.dict()
    con.close()
    drifted = sorted(
        t["metric_config"]["params"]["column"] for t in report.get("tests", [])
        if t.get("id") == "drift" and t.get("status") == "FAIL"
        and t.get("metric_config", {}).get("params", {}).get("column") in names)
    return {"rows_out": len(names), "drifted": drifted}


def bare_sql(specs) -> str:
    names = [s.name for s in specs]
    deciles = "[" + ", ".join(str(i / 10) for i in range(1, 10)) + "]"
    qs = "[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]"
    bucket = "CASE " + " ".join(f"WHEN v <= e.e[{i}] THEN {i - 1}" for i in range(1, 10)) + " ELSE 9 END"
    casts = ", ".join(f"CAST({n} AS DOUBLE) AS {n}" for n in names)
    return f"""
        WITH long AS (
            UNPIVOT (SELECT snapshot_date, {casts} FROM {TABLE}
                     WHERE snapshot_date IN (DATE '{REF_DAY}', DATE '{CUR_DAY}'))
            ON {', '.join(names)} INTO NAME feature VALUE v),
        edges AS (SELECT feature, quantile_cont(v, {deciles}) AS e FROM long
                  WHERE snapshot_date = DATE '{REF_DAY}' GROUP BY feature),
        moments AS (SELECT feature, snapshot_date, COUNT(v) AS n, AVG(v) AS mean, STDDEV_SAMP(v) AS std,
                    quantile_cont(v, {qs}) AS q FROM long GROUP BY feature, snapshot_date),
        hist AS (SELECT l.feature, l.snapshot_date, {bucket} AS b, COUNT(*) AS c
                 FROM long l JOIN edges e USING (feature) GROUP BY ALL)
        SELECT h.feature, h.snapshot_date, h.b, h.c, m.n, m.mean, m.std, m.q
        FROM hist h JOIN moments m USING (feature, snapshot_date) ORDER BY 1, 2, 3"""


def bare(params: dict, meter) -> dict:
    import math

    import duckdb

    specs = synth.features()
    con = duckdb.connect(str(_db(params)), read_only=True)
    with meter.measure():
        rows = con.execute(bare_sql(specs)).fetchall()
        counts: dict[str, dict] = {}
        for feature, day, b, c, *_ in rows:
            counts.setdefault(feature, {}).setdefault(day, [0] * 10)[b] = c
        psi = {}
        for feature, by_day in counts.items():
            ref, cur = by_day.get(REF_DAY, [0] * 10), by_day.get(CUR_DAY, [0] * 10)
            rn, cn = max(sum(ref), 1), max(sum(cur), 1)
            psi[feature] = sum((c / cn - r / rn) * math.log(max(c / cn, 1e-4) / max(r / rn, 1e-4))
                               for r, c in zip(ref, cur))
    con.close()
    return {"rows_out": len(rows), "drifted": sorted(f for f, v in psi.items() if v > 0.1),
            "psi": {f: round(v, 4) for f, v in sorted(psi.items())}}
