"""Monitoring fixtures: a small catalog built from FeatureSpec objects and a hand-made wide
customer_features table (the features contract), so these tests do not depend on the features code."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from feature_factory.catalog import DType, FeatureSpec, Lifecycle

START = dt.date(2024, 1, 1)


def spec(name: str, dtype: DType = DType.FLOAT, lifecycle: Lifecycle = Lifecycle.ACTIVE) -> FeatureSpec:
    return FeatureSpec(name=name, description=name, owner="tests", dtype=dtype, lifecycle=lifecycle,
                       aggregate=None, window_days=7)


@pytest.fixture
def features() -> list[FeatureSpec]:
    return [spec("amount"), spec("visits", DType.INT), spec("ratio")]


def make_days(days: int, customers: int = 300, seed: int = 0, start: dt.date = START,
              shift: dict[int, dict] | None = None) -> pd.DataFrame:
    """customer x day rows. `shift[day_index]` = {"amount_shift": s (in stds), "null_rate": r,
    "outliers": share} alters that day only."""
    rng = np.random.default_rng(seed)
    frames = []
    for d in range(days):
        opts = (shift or {}).get(d, {})
        amount = rng.normal(50.0, 10.0, customers) + 10.0 * opts.get("amount_shift", 0.0)
        visits = rng.poisson(3, customers).astype("int64")
        ratio = rng.beta(2, 5, customers)
        out = int(round(opts.get("outliers", 0.0) * customers))
        if out:
            amount[:out] = 40 * 50.0
        frame = pd.DataFrame({
            "customer_id": [f"c{i:05d}" for i in range(customers)],
            "snapshot_date": start + dt.timedelta(days=d),
            "amount": amount, "visits": visits, "ratio": ratio,
        })
        base_null = rng.random(customers) < 0.05
        extra = rng.random(customers) < opts.get("null_rate", 0.0)
        frame.loc[base_null | extra, "ratio"] = np.nan
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    df["snapshot_date"] = pd.to_datetime(df["snapshot_date"]).dt.date
    df["computed_at"] = pd.Timestamp("2024-06-01 00:00:00")
    return df


def load_features(warehouse, df: pd.DataFrame) -> None:
    """Write the frame as customer_features with DATE/TIMESTAMP columns on every backend (dates go
    through text because fakesnow's write_pandas takes no datetime columns)."""
    staged = df.assign(snapshot_date=df["snapshot_date"].astype(str), computed_at=df["computed_at"].astype(str))
    warehouse.write_df("customer_features_in", staged, mode="replace")
    names = ", ".join(c for c in df.columns if c not in ("snapshot_date", "computed_at"))
    warehouse.replace_table(
        "customer_features",
        f"SELECT {names}, CAST(snapshot_date AS DATE) AS snapshot_date, "
        "CAST(computed_at AS TIMESTAMP) AS computed_at FROM customer_features_in",
    )
