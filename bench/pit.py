"""Workload 1: the point-in-time training set, on the same snapshots and labels for every contender.

Data (`setup`): `customer_features` snapshots (13 catalog features) of `customers` customers over
`days` days, each customer starting on a random day within `start_spread` and present on a day
with probability `presence` (gaps), and `labels` distinct (customer, day) churn labels at random
times of day (never midnight). Stored twice: as tables in a DuckDB file (ours, bare ASOF) and as
Parquet (Feast's file sources, labels as its entity frame, with `event_timestamp` = the end of the
snapshot day, when its features become known).

Semantics shared by all: for a label at time t on day L, use the newest snapshot known at t (dated
<= L - 1) if it is at most `ttl_days` old (dated >= L - ttl); otherwise NULL features, and the label
is kept. `verify` checks every contender's output against the bare ASOF join: labels lost,
duplicates, feature values that differ.
"""

from __future__ import annotations

from pathlib import Path

from bench import synth

LABELS = "churn_labels"
SNAPSHOTS = "customer_features"
ASOF_TABLE = "bench_asof"


def _paths(params: dict) -> dict[str, Path]:
    d = Path(params["dir"])
    return {"dir": d, "db": d / "warehouse.duckdb", "snapshots": d / "snapshots.parquet",
            "labels": d / "labels.parquet"}


def data_params(params: dict) -> dict:
    keys = ("customers", "days", "presence", "start_spread", "labels", "seed")
    return {k: params[k] for k in keys}


def setup(params: dict, meter) -> dict:
    """Build (or reuse) the snapshots and labels; returns their row counts."""
    import duckdb

    p = _paths(params)
    p["dir"].mkdir(parents=True, exist_ok=True)
    wanted = data_params(params)
    if not synth.cached(p["dir"], wanted):
        for f in ("db", "snapshots", "labels"):
            p[f].unlink(missing_ok=True)
        con = duckdb.connect(str(p["db"]))
        try:
            _build(con, params, p)
        finally:
            con.close()
        synth.mark_built(p["dir"], wanted)
    con = duckdb.connect(str(p["db"]), read_only=True)
    try:
        snaps = con.execute(f"SELECT COUNT(*) FROM {SNAPSHOTS}").fetchone()[0]
        labels = con.execute(f"SELECT COUNT(*) FROM {LABELS}").fetchone()[0]
    finally:
        con.close()
    return {"snapshots": int(snaps), "labels": int(labels)}


def _build(con, params: dict, p: dict[str, Path]) -> None:
    specs = synth.features()
    seed, days, start = int(params["seed"]), int(params["days"]), synth.START
    cols = ", ".join(f"{synth.value_sql(s, k, 'c', 'd', seed)} AS {s.name}" for k, s in enumerate(specs))
    u = synth.uniform("c", "d", seed, "'present'")
    present = (f"d >= CAST(hash(c, {seed}, 'start') % {int(params['start_spread'])} AS BIGINT) "
               f"AND {u} < {float(params['presence'])!r}")
    con.execute(f"""
        CREATE TABLE {SNAPSHOTS} AS
        SELECT {synth.customer_id('c')} AS customer_id,
               CAST(DATE '{start}' + CAST(d AS INTEGER) AS DATE) AS snapshot_date, {cols},
               TIMESTAMP '2024-01-01 00:00:00' AS computed_at
        FROM range({int(params['customers'])}) t(c), range({days}) s(d)
        WHERE {present}
        ORDER BY snapshot_date, customer_id""")
    # Distinct (customer, day) pairs: the training set's grain is one label per customer and day.
    con.execute(f"""
        CREATE TABLE {LABELS} AS
        SELECT CAST(row_number() OVER (ORDER BY c, d) AS BIGINT) AS label_id,
               {synth.customer_id('c')} AS customer_id,
               CAST(DATE '{start}' + CAST(d AS INTEGER) AS DATE) AS label_date,
               CAST(hash(c, d, {seed}, 'churn') % 5 = 0 AS BIGINT) AS churned,
               CAST(DATE '{start}' + CAST(d AS INTEGER) AS TIMESTAMP)
                 + to_seconds(CAST(1 + hash(c, d, {seed}, 'sec') % 86399 AS BIGINT)) AS label_ts
        FROM (SELECT c, d FROM range({int(params['customers'])}) t(c), range(1, {days + 1}) s(d)
              ORDER BY hash(c, d, {seed}, 'label') LIMIT {int(params['labels'])})""")
    names = ", ".join(s.name for s in specs)
    con.execute(f"""COPY (SELECT customer_id, CAST(snapshot_date + 1 AS TIMESTAMP) AS event_timestamp,
                   {names} FROM {SNAPSHOTS}) TO '{p['snapshots']}' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT label_id, customer_id, label_ts AS event_timestamp, churned
                   FROM {LABELS} ORDER BY label_id) TO '{p['labels']}' (FORMAT parquet)""")


def ours(params: dict, meter) -> dict:
    """The ML engineer's `build_training_set` (as the training_set asset runs it) on DuckDB."""
    from feature_factory.ml.training_set import build_training_set
    from feature_factory.warehouse import DuckDBWarehouse

    wh = DuckDBWarehouse(path=str(_paths(params)["db"]))
    specs = synth.features()
    with meter.measure():
        summary = build_training_set(wh, specs, ttl_days=int(params["ttl_days"]))
    return {"rows_out": summary.rows, "labels_without_features": summary.missing_features}


def ours_sql(params: dict, meter) -> dict:
    """`training_set_sql` alone, written the way the asset writes it (`replace_table`), without the
    input checks and the summary statistics `build_training_set` adds."""
    from feature_factory.ml.training_set import training_set_sql
    from feature_factory.warehouse import DuckDBWarehouse

    wh = DuckDBWarehouse(path=str(_paths(params)["db"]))
    with meter.measure():
        lo, hi = wh.fetch_one(f"SELECT MIN(label_date), MAX(label_date) FROM {LABELS}")
        rows = wh.replace_table("bench_ours_sql", training_set_sql(
            wh, synth.features(), int(params["ttl_days"]), (lo, hi)))
    return {"rows_out": rows}


def proposed_asof_sql(warehouse, specs, ttl_days: int) -> str:
    """The as-of SELECT written out here, independently of `training_set_sql` (which now emits the
    same through `DuckDBWarehouse.asof_left_join`): a cross-check of the pipeline's output and speed."""
    from feature_factory.features.patch_layer import patched_expressions

    exprs = patched_expressions(warehouse, specs, qualifier="f")
    fresh = f"f.snapshot_date >= l.label_date - {int(ttl_days)}"
    cols = ", ".join(f"CASE WHEN {fresh} THEN {exprs[s.name]} END AS {s.name}" for s in specs)
    return f"""
        SELECT l.customer_id, l.label_date, l.churned,
               CASE WHEN {fresh} THEN f.snapshot_date END AS feature_snapshot_date,
               CAST(CASE WHEN {fresh} THEN datediff('day', f.snapshot_date, l.label_date) END AS BIGINT)
                 AS feature_age_days, {cols}
        FROM {LABELS} l ASOF LEFT JOIN {SNAPSHOTS} f
          ON l.customer_id = f.customer_id AND l.label_date > f.snapshot_date"""


def ours_asof_proposal(params: dict, meter) -> dict:
    from feature_factory.warehouse import DuckDBWarehouse

    wh = DuckDBWarehouse(path=str(_paths(params)["db"]))
    with meter.measure():
        rows = wh.replace_table("bench_ours_asof", proposed_asof_sql(wh, synth.features(), int(params["ttl_days"])))
    return {"rows_out": rows}


def asof_sql(specs, ttl_days: int) -> str:
    """DuckDB's native ASOF LEFT JOIN, then the TTL as a CASE: the bare reference."""
    names = [s.name for s in specs]
    fresh = f"s IS NOT NULL AND s >= label_date - {int(ttl_days)}"
    inner = ", ".join(f"f.{n}" for n in names)
    outer = ", ".join(f"CASE WHEN {fresh} THEN {n} END AS {n}" for n in names)
    return f"""
        CREATE OR REPLACE TABLE {ASOF_TABLE} AS
        WITH j AS (
            SELECT l.customer_id, l.label_date, l.churned, f.snapshot_date AS s, {inner}
            FROM {LABELS} l ASOF LEFT JOIN {SNAPSHOTS} f
              ON l.customer_id = f.customer_id AND l.label_date > f.snapshot_date)
        SELECT customer_id, label_date, churned, CASE WHEN {fresh} THEN s END AS feature_snapshot_date,
               {outer}
        FROM j"""


def bare_asof(params: dict, meter) -> dict:
    import duckdb

    specs = synth.features()
    con = duckdb.connect(str(_paths(params)["db"]))
    try:
        with meter.measure():
            con.execute(asof_sql(specs, int(params["ttl_days"])))
        rows = con.execute(f"SELECT COUNT(*) FROM {ASOF_TABLE}").fetchone()[0]
    finally:
        con.close()
    return {"rows_out": int(rows)}


def verify(params: dict, meter) -> dict:
    """Per output (name -> relation), compared with the bare ASOF join on every feature."""
    import duckdb

    p = _paths(params)
    specs = synth.features()
    con = duckdb.connect()
    con.execute(f"ATTACH '{p['db']}' AS wh (READ_ONLY)")
    by_label = "SELECT l.label_id, o.* FROM wh.{t} o JOIN wh." + LABELS + " l USING (customer_id, label_date)"
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh'").fetchall()}
    outputs = {name: by_label.format(t=table) for name, table in (
        ("ours", "training_set"), ("ours_sql", "bench_ours_sql"), ("ours_asof_proposal", "bench_ours_asof"),
        ("bare_asof", ASOF_TABLE)) if table in present}
    for name in params.get("feast_outputs", []):
        path = p["dir"] / f"out_{name}.parquet"
        if path.exists():
            outputs[name] = f"SELECT * FROM read_parquet('{path}')"
    labels = con.execute(f"SELECT COUNT(*) FROM wh.{LABELS}").fetchone()[0]
    ref = outputs["bare_asof"]
    differs = " OR ".join(
        f"(o.{n} IS NULL) <> (r.{n} IS NULL) OR ABS(CAST(o.{n} AS DOUBLE) - CAST(r.{n} AS DOUBLE)) "
        f"> 1e-9 * GREATEST(1, ABS(CAST(r.{n} AS DOUBLE)))" for n in (s.name for s in specs))
    all_null = " AND ".join(f"o.{s.name} IS NULL" for s in specs)
    out = {}
    for name, rel in outputs.items():
        try:
            rows, distinct, lost, mismatched, empty = con.execute(f"""
                WITH o AS ({rel}), r AS ({ref}),
                d AS (SELECT * FROM o QUALIFY ROW_NUMBER() OVER (PARTITION BY label_id) = 1)
                SELECT (SELECT COUNT(*) FROM o), (SELECT COUNT(*) FROM d),
                       (SELECT COUNT(*) FROM wh.{LABELS} l ANTI JOIN d USING (label_id)),
                       (SELECT COUNT(*) FROM d o JOIN r USING (label_id) WHERE {differs}),
                       (SELECT COUNT(*) FROM d o WHERE {all_null})""").fetchone()
        except duckdb.Error as exc:
            out[name] = {"error": str(exc).splitlines()[0]}
            continue
        out[name] = {"rows_out": int(rows), "labels_out": int(distinct), "labels_lost": int(lost),
                     "duplicate_rows": int(rows - distinct), "mismatched_labels": int(mismatched),
                     "labels_without_features": int(empty), "labels": int(labels)}
    con.close()
    return out
