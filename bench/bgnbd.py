"""Workload 10: our churn champion vs BG/NBD (Fader, Hardie & Lee 2005) on the SAME out-of-time rows
(issue 26 item 3).

Each case runs the product's own path in process on DuckDB: landing file -> `ingest_range` ->
catalog features (`snapshot_plan`) -> `build_labels` -> `build_training_set` -> `train_frame` (the
code `churn_model` runs). The holdout rows of that round (customer, label date, churned) are then
scored by:

- `champion`: the round's challenger (best candidate on ROC AUC), as the product would promote it;
- `before`: the same round with the pre-issue-26 model settings (LR + RF, uncalibrated, every
  feature), i.e. what `churn_model` trained before this change;
- `bgnbd`: P(no purchase in the next `horizon` days) from ml/bgnbd.py, its four parameters fitted
  once on the purchase history before the first holdout label date, each row scored from the
  customer's purchases before its label date;
- `recency`: days since the last purchase (ranking only: no Brier);
- `constant`: the training set's churn rate on every row.

Metrics: ROC AUC, PR AUC, Brier, with 95% customer-bootstrap intervals; the AUC difference
champion - BG/NBD with its interval from the same resamples (paired).

Cases: `synthetic` (the project's generator, the demo's population) and `cdnow` (the CDNOW master
file, 23,570 customers, 69,659 purchases, 1997-98). CDNOW has no event type, channel or row id:
until the onboarding features of issue 26 item 5 land, the bench converts it here (event_type
purchase, channel web, event_id = customer, date and line number) and says so in the result.
Get the file offline from the `lifetimes` 0.11.3 wheel (never a test-time download):

    pip download --no-deps lifetimes==0.11.3 -d /tmp/lt && cd /tmp/lt && unzip -o -q *.whl
    python -m bench --only bgnbd --cdnow /tmp/lt/lifetimes/datasets/CDNOW_master.txt
    python -m bench.bgnbd --cdnow /tmp/lt/lifetimes/datasets/CDNOW_master.txt   # the table only
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CDNOW_ENV = "FF_BENCH_CDNOW"
CASES = {
    # horizon 90 as measured in the issue; labels every 14 days after a 90-day start.
    "cdnow": {"horizon_days": 90, "every_days": 14, "min_history_days": 90, "lookback_days": 90,
              "keep_inactive_days": "forever"},
    "synthetic": {"horizon_days": 14, "every_days": 7, "min_history_days": 28, "lookback_days": 90,
                  "keep_inactive_days": "forever",
                  "customers": 2000, "days": 150, "seed": 7},
}
BEFORE = {"candidates": ["logistic_regression", "random_forest"], "calibration": "none",
          "drop_constant_features": False, "max_feature_correlation": None}


def cdnow_events(path: Path) -> pd.DataFrame:
    """The CDNOW master file as landing rows (contract columns); the invented columns are constant."""
    with open(path) as fh:  # the lifetimes copy has a header line, the original file none
        header = not fh.readline().split()[0].isdigit()
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["customer", "date", "cds", "amount"],
                      dtype={"customer": str, "date": str}, skiprows=1 if header else 0)
    if raw.empty or not raw["date"].str.fullmatch(r"\d{8}").all():
        raise ValueError(f"{path}: not the CDNOW master file (customer id, YYYYMMDD date, quantity, amount)")
    day = pd.to_datetime(raw["date"], format="%Y%m%d")
    return pd.DataFrame({
        "event_id": [f"cdnow-{i}" for i in range(len(raw))],  # the line: same-day repeat purchases stay
        "customer_id": raw["customer"].str.lstrip("0"),
        "event_type": "purchase", "channel": "web",
        "amount": raw["amount"].astype(float),
        "event_ts": day.dt.strftime("%Y-%m-%dT12:00:00Z"),
    })


def _landing(case: str, work: Path, params: dict) -> tuple[Path, dt.date, dt.date, str]:
    folder = work / case / "landing"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if case == "cdnow":
        src = params.get("cdnow") or os.environ.get(CDNOW_ENV)
        if not src or not Path(src).exists():
            raise FileNotFoundError(
                f"the CDNOW master file is needed: pass --cdnow PATH (or set {CDNOW_ENV}); see the "
                "module docstring to get it offline from the lifetimes 0.11.3 wheel")
        events = cdnow_events(Path(src))
        events.to_parquet(folder / "cdnow_events.parquet", index=False)
        days = pd.to_datetime(events["event_ts"]).dt.date
        note = ("CDNOW converted in bench code: event_type=purchase, channel=web, event_id from the file "
                "line (issue 26 item 5's onboarding features not used)")
        return folder, min(days), max(days), note
    from feature_factory.synthetic.generator import GeneratorConfig, generate

    cfg = CASES[case]
    start = dt.date(2024, 1, 1)
    generate(GeneratorConfig(customers=cfg["customers"], days=cfg["days"], start=start, seed=cfg["seed"],
                             fmt="parquet", out_dir=folder, truth_dir=work / case / "truth"))
    return folder, start, start + dt.timedelta(days=cfg["days"] - 1), "the project's generator"


def build(case: str, work: Path, params: dict, log=print) -> dict:
    """Landing -> warehouse -> training frame; returns what the scoring step needs."""
    from feature_factory.catalog import load_catalog
    from feature_factory.events.config import IngestionConfig
    from feature_factory.events.ingestion import ingest_range
    from feature_factory.features.entities import CUSTOMER_TABLES, resolve
    from feature_factory.features.snapshots import write_snapshots
    from feature_factory.ml import labels, training_set
    from feature_factory.warehouse import DuckDBWarehouse

    cfg = CASES[case]
    landing, first, last, note = _landing(case, work, params)
    db = work / case / "warehouse.duckdb"
    db.unlink(missing_ok=True)
    wh = DuckDBWarehouse(path=str(db))
    t0 = time.perf_counter()
    ingest_range(wh, first, last + dt.timedelta(days=1), IngestionConfig(landing_dir=str(landing)),
                 start_date=first, now=dt.datetime.combine(last + dt.timedelta(days=2), dt.time()))
    log(f"[{case}] ingested {wh.row_count('raw_events')} events in {time.perf_counter() - t0:.0f} s")
    catalog = load_catalog()
    # The population rule an onboarding of a purchase log would pick (entities.customer.
    # keep_inactive_days: forever); the product's write path: 184-day statements, each reading the
    # lifetime state the previous one left.
    keep = cfg.get("keep_inactive_days", "forever")
    spec = dataclasses.replace(CUSTOMER_TABLES.spec, keep_inactive_days=None if keep == "forever" else int(keep))
    entity = resolve(spec, CUSTOMER_TABLES.population_table, CUSTOMER_TABLES.population_key)
    written = write_snapshots(wh, catalog.computed(), first, last, dt.datetime.combine(last, dt.time()), entity=entity)
    log(f"[{case}] {written.rows} feature rows ({len(written.plans)} statements, population {keep}), "
        f"{time.perf_counter() - t0:.0f} s")
    lab = labels.build_labels(wh, horizon_days=cfg["horizon_days"], lookback_days=cfg["lookback_days"],
                              every_days=cfg["every_days"], min_history_days=cfg["min_history_days"])
    ts = training_set.build_training_set(wh, catalog.trainable())
    frame = training_set.load_training_frame(wh, ts.features)
    purchases = wh.fetch_df("SELECT customer_id, event_date FROM raw_events WHERE event_type = 'purchase'")
    first_seen = wh.fetch_df("SELECT customer_id, MIN(event_date) AS first_date FROM raw_events GROUP BY 1")
    log(f"[{case}] {lab.rows} labels on {len(lab.plan.dates)} dates, churn {lab.churn_rate:.3f}")
    return {"frame": frame, "features": ts.features, "purchases": purchases, "first_seen": first_seen,
            "events": wh.row_count("raw_events"), "customers": int(first_seen["customer_id"].nunique()),
            "label_dates": len(lab.plan.dates), "labels": lab.rows, "note": note, "first": first, "last": last}


def bgnbd_scores(purchases: pd.DataFrame, first_seen: pd.DataFrame, rows: pd.DataFrame, horizon: int,
                 fit_as_of: dt.date) -> tuple[np.ndarray, dict]:
    """P(no purchase in [L, L + horizon)) per row, parameters fitted on the history before `fit_as_of`.
    A customer with no purchase yet (only other events) is scored as x = 0 from their first event."""
    from feature_factory.ml import bgnbd

    hist = bgnbd.summarize(purchases, fit_as_of)
    params = bgnbd.fit(hist["x"], hist["t_x"], hist["T"])
    out = np.empty(len(rows))
    firsts = first_seen.set_index("customer_id")["first_date"]
    for L, idx in rows.groupby("label_date").groups.items():
        s = bgnbd.summarize(purchases, L).set_index("customer_id")
        part = rows.loc[idx, ["customer_id"]].join(s, on="customer_id")
        none = part["x"].isna()
        born = pd.to_datetime(part.loc[none, "customer_id"].map(firsts))
        part.loc[none, ["x", "t_x"]] = 0.0
        part.loc[none, "T"] = (pd.Timestamp(L) - born).dt.days.astype(float).to_numpy()
        out[rows.index.get_indexer(idx)] = bgnbd.p_no_purchase(params, horizon, part["x"], part["t_x"], part["T"])
    return out, params.as_dict()


def recency_scores(purchases: pd.DataFrame, first_seen: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Days since the last purchase before L (since the first event when none): larger = likelier churn."""
    p = purchases.assign(event_date=pd.to_datetime(purchases["event_date"]))
    firsts = pd.to_datetime(first_seen.set_index("customer_id")["first_date"])
    out = np.empty(len(rows))
    for L, idx in rows.groupby("label_date").groups.items():
        last = p[p["event_date"] < pd.Timestamp(L)].groupby("customer_id")["event_date"].max()
        seen = rows.loc[idx, "customer_id"].map(last).fillna(rows.loc[idx, "customer_id"].map(firsts))
        out[rows.index.get_indexer(idx)] = (pd.Timestamp(L) - seen).dt.days.to_numpy(dtype=float)
    return out


def compare(y: np.ndarray, customers: np.ndarray, scores: dict[str, np.ndarray], *, resamples: int = 1000,
            seed: int = 0, pair: tuple[str, str] = ("champion", "bgnbd")) -> dict:
    """Point metrics, 95% customer-bootstrap intervals, and the paired AUC difference of `pair`."""
    from feature_factory.ml.models import evaluate
    from feature_factory.ml.split import weighted_metrics

    codes, uniques = pd.factorize(pd.Series(customers))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(uniques), np.full(len(uniques), 1 / len(uniques)), size=resamples)[:, codes]
    table, boot = {}, {}
    for name, s in scores.items():
        point = evaluate(y, s)
        boot[name] = weighted_metrics(y, s, draws)
        table[name] = {k: point[k] for k in ("roc_auc", "pr_auc", "brier")}
        for k in ("roc_auc", "pr_auc", "brier"):
            v = boot[name][k][np.isfinite(boot[name][k])]
            table[name][f"{k}_ci"] = [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
    a, b = pair
    diff = boot[a]["roc_auc"] - boot[b]["roc_auc"]
    diff = diff[np.isfinite(diff)]
    return {"scorers": table, "auc_diff": table[a]["roc_auc"] - table[b]["roc_auc"],
            "auc_diff_ci": [float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5))],
            "brier_diff_vs_constant": table[a]["brier"] - table["constant"]["brier"]}


def run_case(case: str, work: Path, params: dict, log=print) -> dict:
    from feature_factory.ml import models, training
    from feature_factory.ml.registry import ModelRegistry

    t0 = time.perf_counter()
    data = build(case, work, params, log)
    cfg = CASES[case]
    frame, features = data["frame"], data["features"]
    hp = {"cv_folds": 5, "bootstrap_resamples": 0, "n_jobs": 1, **params.get("hyperparams", {})}
    rounds = {}
    for name, extra in (("champion", {}), ("before", BEFORE)):
        with tempfile.TemporaryDirectory() as reg_dir:
            rnd = training.train_frame(frame, features, models.Hyperparams(**{**hp, **extra}), ModelRegistry(reg_dir),
                                       horizon_days=cfg["horizon_days"], render=False)
        rounds[name] = rnd
        log(f"[{case}] {name}: " + ", ".join(f"{k} {m.metrics['roc_auc']:.3f}/{m.metrics['brier']:.3f}"
                                               for k, m in rnd.result.models.items()))
    res = rounds["champion"].result
    best = res.best("roc_auc")
    before_best = rounds["before"].result.best("roc_auc")
    hold = res.holdout.reset_index(drop=True)
    assert hold[["customer_id", "label_date"]].equals(rounds["before"].result.holdout[["customer_id", "label_date"]].reset_index(drop=True))
    y = hold["churned"].to_numpy()
    bg, bg_params = bgnbd_scores(data["purchases"], data["first_seen"], hold, cfg["horizon_days"],
                                 res.split.holdout_first)
    scores = {"champion": best.holdout_scores, "before": before_best.holdout_scores, "bgnbd": bg,
              # A rank in [0, 1] (AUC unchanged): its Brier means nothing and is not shown.
              "recency": pd.Series(recency_scores(data["purchases"], data["first_seen"], hold)).rank(pct=True).to_numpy(),
              "constant": np.full(len(hold), res.base_rate)}
    for kind, m in res.models.items():
        if kind != best.kind:
            scores[f"candidate_{kind}"] = m.holdout_scores
    if params.get("stacked"):
        # What a lifetime signal adds (issue 26 item 1 is not in yet): BG/NBD's score as one more
        # feature, point in time per label date (its 4 parameters fitted before the holdout).
        stacked_frame = frame.copy()
        stacked_frame["bgnbd_p_no_purchase"], _ = bgnbd_scores(
            data["purchases"], data["first_seen"], frame, cfg["horizon_days"], res.split.holdout_first)
        with tempfile.TemporaryDirectory() as reg_dir:
            st = training.train_frame(stacked_frame, [*features, "bgnbd_p_no_purchase"], models.Hyperparams(**hp),
                                      ModelRegistry(reg_dir), horizon_days=cfg["horizon_days"], render=False)
        scores["stacked"] = st.result.best("roc_auc").holdout_scores
        log(f"[{case}] stacked: {st.result.best('roc_auc').kind} {st.result.best('roc_auc').metrics['roc_auc']:.3f}")
    out = compare(y, hold["customer_id"].to_numpy(), scores, resamples=int(params.get("resamples", 1000)))
    before_diff = compare(y, hold["customer_id"].to_numpy(), scores, resamples=int(params.get("resamples", 1000)),
                          pair=("before", "bgnbd"))
    return {
        "case": case, "note": data["note"], "events": data["events"], "customers": data["customers"],
        "label_dates": data["label_dates"], "labels": data["labels"], "holdout_rows": len(hold),
        "holdout_customers": int(hold["customer_id"].nunique()), "holdout_churn": float(y.mean()),
        "training_churn": res.base_rate, "split": res.split.describe(), "champion_kind": best.kind,
        "before_kind": before_best.kind, "dropped_features": res.dropped_features,
        "calibration": res.calibration, "cv_note": res.cv_note or "all folds ran",
        "cv_folds": {k: m.cv.get("roc_auc", {}).get("folds", 0) for k, m in res.models.items()},
        "bgnbd_params": bg_params, **out,
        "before_auc_diff": before_diff["auc_diff"], "before_auc_diff_ci": before_diff["auc_diff_ci"],
        "seconds": round(time.perf_counter() - t0, 1), **{k: str(v) for k, v in CASES[case].items()},
    }


def case_step(params: dict, meter) -> dict:
    """A bench step (`bench.bgnbd:case_step`): one case, its table in the row."""
    work = Path(params["dir"])
    with meter.measure():  # the whole case: pipeline, both training rounds, scoring, bootstrap
        row = run_case(params["case"], work, params)
    shutil.rmtree(work / params["case"], ignore_errors=True)
    return {"rows_out": row["holdout_rows"], **row}


def sizes(quick: bool) -> dict:
    return {"resamples": 200 if quick else 1000, "cdnow": os.environ.get(CDNOW_ENV, "")}


def goals(rows: dict, params: dict) -> list[dict]:
    from bench.workloads import goal

    out = []
    for case in ("synthetic", "cdnow"):
        r = rows.get(case)
        if not r or r.get("status") != "ok":
            out.append(goal(f"{case}: champion ahead of BG/NBD on ROC AUC (interval above 0)", "> 0", None, None,
                            (r or {}).get("reason", "not run")))
            continue
        lo, hi = r["auc_diff_ci"]
        out.append(goal(f"{case}: champion ahead of BG/NBD on ROC AUC (interval above 0)", "lower bound > 0",
                        f"{r['auc_diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]", lo > 0))
        b, c = r["scorers"]["champion"]["brier"], r["scorers"]["constant"]["brier"]
        out.append(goal(f"{case}: champion's Brier below the constant's", "< constant",
                        f"{b:.4f} vs {c:.4f}", b < c))
    return out


def table_markdown(r: dict) -> str:
    """The issue's table for one case."""
    lines = ["| scorer | ROC AUC | PR AUC | Brier |", "|---|---|---|---|"]
    names = {"champion": f"our champion ({r['champion_kind']}, calibrated)", "before": f"before (issue 26): {r['before_kind']}, uncalibrated",
             "bgnbd": "BG/NBD, P(no purchase in the horizon)", "recency": "recency alone",
             "constant": "constant (training churn rate)",
             "stacked": "ours + BG/NBD's score as a feature (bench only)"}
    for k, v in r["scorers"].items():
        label = names.get(k, k.replace("candidate_", "candidate: "))
        brier = "-" if k == "recency" else f"{v['brier']:.3f} [{v['brier_ci'][0]:.3f}, {v['brier_ci'][1]:.3f}]"
        lines.append(f"| {label} | {v['roc_auc']:.3f} [{v['roc_auc_ci'][0]:.3f}, {v['roc_auc_ci'][1]:.3f}] | "
                     f"{v['pr_auc']:.3f} | {brier} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bgnbd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdnow", help="path of CDNOW_master.txt (skip the cdnow case without it)")
    parser.add_argument("--cases", default="synthetic,cdnow")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--stacked", action="store_true",
                        help="also train our candidates with BG/NBD's score as one more feature (what a lifetime "
                             "signal adds)")
    parser.add_argument("--work", type=Path, default=Path("bench/work/bgnbd"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/bgnbd.json"))
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a churn_model hyperparameter for the champion round, e.g. calibration_purge_days=90")
    args = parser.parse_args(argv)
    hyper = {}
    for item in args.set:
        k, v = item.split("=", 1)
        hyper[k] = json.loads(v) if v not in ("None",) else None
    results = {}
    for case in args.cases.split(","):
        if case == "cdnow" and not args.cdnow:
            print("cdnow: skipped (no --cdnow PATH)")
            continue
        r = run_case(case, args.work, {"cdnow": args.cdnow, "resamples": args.resamples, "hyperparams": hyper,
                                    "stacked": args.stacked})
        results[case] = r
        print(f"\n## {case}: {r['holdout_rows']} holdout rows, {r['holdout_customers']} customers; "
              f"AUC champion - BG/NBD {r['auc_diff']:+.3f} [{r['auc_diff_ci'][0]:+.3f}, {r['auc_diff_ci'][1]:+.3f}]; "
              f"before {r['before_auc_diff']:+.3f} [{r['before_auc_diff_ci'][0]:+.3f}, {r['before_auc_diff_ci'][1]:+.3f}]")
        print(table_markdown(r))
        print({k: r[k] for k in ("split", "calibration", "cv_note", "cv_folds", "dropped_features", "bgnbd_params",
                                 "training_churn", "holdout_churn", "seconds")})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
