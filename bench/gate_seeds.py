"""Does the promotion gate promote a retrain after a real population shift, and keep the champion
on stable data? Measured over many seeds on a synthetic recurring population (issue 15).

Each seed runs two scenarios, each two training rounds through `training.train_frame` (the code
`churn_model` runs) with a fresh registry:

- stable: the champion is trained on 7 weekly label dates, the challenger on the same history plus
  one more week. Same process: the gate should keep the champion (no promotion on noise).
- shift: the champion is trained on 7 pre-shift weeks; from week 7 on, churn is driven by a
  different trait (f_amount instead of f_count); the challenger is trained on 16 weeks. The gate
  should promote it.

    python -m bench.gate_seeds [--seeds 10] [--kinds logistic_regression,random_forest]
        [--out bench/results/gate_seeds.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["f_count", "f_amount"]
SHIFT_WEEK = 7


def temporal_world(seed: int, dates: int, customers: int = 150, shift_from: int | None = None,
                   start: dt.date = dt.date(2024, 2, 1)) -> pd.DataFrame:
    """Weekly label dates of a recurring population: each customer has persistent traits (so its
    overlapping label windows are correlated), observed as noisy features at every date. Churn is
    driven by f_count; from date index `shift_from` on (a real population shift) by f_amount.
    Date k's rows are the same draws whatever `dates` is, so a world with one more date is the
    same history plus one week."""
    base = np.random.default_rng([seed, 0])
    trait_a, trait_b = base.normal(size=customers), base.normal(size=customers)
    frames = []
    for k in range(dates):
        rng = np.random.default_rng([seed, 1, k])
        a = trait_a + rng.normal(scale=0.3, size=customers)
        b = trait_b + rng.normal(scale=0.3, size=customers)
        shifted = shift_from is not None and k >= shift_from
        logit = (0.2 * a + 2.0 * b if shifted else 2.0 * a + 0.2 * b) - 0.3
        y = (rng.uniform(size=customers) < 1 / (1 + np.exp(-logit))).astype(int)
        frames.append(pd.DataFrame({
            "customer_id": [f"c{i:04d}" for i in range(customers)],
            "label_date": start + dt.timedelta(days=7 * k),
            "churned": y, "f_count": np.round(a * 3 + 10, 1), "f_amount": b * 10 + 50,
        }))
    return pd.concat(frames, ignore_index=True)


def scenario(seed: int, shift: bool, *, kinds: tuple[str, ...], customers: int = 150,
             margin: float = 0.005) -> dict:
    """Champion round, promotion, challenger round; the challenger's gate record."""
    from feature_factory.ml import models, training
    from feature_factory.ml.registry import ModelRegistry

    # No CV: the gate reads only holdout scores, and 40 rounds per study add up.
    params = models.Hyperparams(cv_folds=0, rf_n_estimators=50, purge_days=14, bootstrap_resamples=0,
                                min_rows=20, random_state=seed)
    shift_from = SHIFT_WEEK if shift else None
    with tempfile.TemporaryDirectory() as root:
        reg = ModelRegistry(root)
        first = training.train_frame(temporal_world(seed, 7, customers, shift_from), FEATURES, params, reg,
                                     kinds=kinds, margin=margin, render=False)
        reg.promote(first.challenger.version)
        later = temporal_world(seed, 16 if shift else 8, customers, shift_from)
        gate = training.train_frame(later, FEATURES, params, reg, kinds=kinds, margin=margin,
                                    render=False).gate
    return {"seed": seed, "scenario": "shift" if shift else "stable", "promoted": bool(gate["passed"]),
            "challenger": round(gate["challenger_score"], 4), "champion": round(gate["champion_score"], 4),
            "same_rows": gate["same_rows"], "rows": gate["rows"]}


def study(seeds: int, kinds: tuple[str, ...], customers: int = 150) -> dict:
    began = time.perf_counter()
    rows = [scenario(s, shift, kinds=kinds, customers=customers) for s in range(seeds) for shift in (False, True)]
    by = {k: [r for r in rows if r["scenario"] == k] for k in ("stable", "shift")}
    return {
        "seeds": seeds, "kinds": list(kinds), "customers": customers, "margin": 0.005,
        "promoted_after_shift": sum(r["promoted"] for r in by["shift"]),
        "promoted_on_stable": sum(r["promoted"] for r in by["stable"]),
        "mean_gain_after_shift": round(float(np.mean([r["challenger"] - r["champion"] for r in by["shift"]])), 4),
        "mean_gain_on_stable": round(float(np.mean([r["challenger"] - r["champion"] for r in by["stable"]])), 4),
        "max_abs_gain_on_stable": round(float(max(abs(r["challenger"] - r["champion"]) for r in by["stable"])), 4),
        "seconds": round(time.perf_counter() - began, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--kinds", default="logistic_regression,random_forest")
    ap.add_argument("--customers", type=int, default=150)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    result = study(args.seeds, tuple(args.kinds.split(",")), args.customers)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
