"""Small hand-made inputs for the ML tests, created per the shared table contract."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from feature_factory.catalog import DType, FeatureSpec, Lifecycle


def spec(name: str, dtype: DType = DType.FLOAT) -> FeatureSpec:
    return FeatureSpec(name=name, description=name, owner="ml-tests", dtype=dtype,
                       lifecycle=Lifecycle.ACTIVE, aggregate=None, window_days=7)


def default_specs() -> list[FeatureSpec]:
    return [spec("f_count", DType.INT), spec("f_amount")]


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def make_raw_events(warehouse, rows: list[tuple]) -> None:
    """rows: (customer_id, event_type, event_date 'YYYY-MM-DD', amount or None)."""
    df = pd.DataFrame(rows, columns=["customer_id", "event_type", "event_date", "amount"])
    df["amount"] = df["amount"].map(lambda v: None if v is None else str(v))
    df["event_id"] = [f"e{i}" for i in range(len(df))]
    warehouse.write_df("src_events", df.astype(object).where(df.notna(), None), mode="replace")
    warehouse.replace_table("raw_events", """
        SELECT event_id, customer_id, event_type, CAST('web' AS VARCHAR) AS channel,
               CAST(amount AS DOUBLE) AS amount,
               CAST(CAST(event_date AS DATE) AS TIMESTAMP) AS event_ts,
               CAST(event_date AS DATE) AS event_date,
               CAST('test.csv' AS VARCHAR) AS source_file, CAST(1 AS BIGINT) AS source_row,
               CAST(CAST(event_date AS DATE) AS TIMESTAMP) AS ingested_at
        FROM src_events""")


def make_features(warehouse, df: pd.DataFrame, table: str = "customer_features") -> None:
    """df: customer_id, snapshot_date 'YYYY-MM-DD', f_count, f_amount (None allowed)."""
    src = df.copy()
    src["snapshot_date"] = src["snapshot_date"].astype(str)
    for c in ("f_count", "f_amount"):
        src[c] = src[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    warehouse.write_df("src_features", src.astype(object).where(src.notna(), None), mode="replace")
    date_col = "CAST(snapshot_date AS DATE) AS snapshot_date"
    extra = ", CAST(FALSE AS BOOLEAN) AS is_stale" if table == "customer_features_online" else ""
    warehouse.replace_table(table, f"""
        SELECT customer_id, {date_col}, CAST(CAST(f_count AS DOUBLE) AS BIGINT) AS f_count,
               CAST(f_amount AS DOUBLE) AS f_amount{extra},
               CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS computed_at
        FROM src_features""")


def make_labels(warehouse, rows: list[tuple]) -> None:
    """rows: (customer_id, label_date 'YYYY-MM-DD', churned)."""
    df = pd.DataFrame(rows, columns=["customer_id", "label_date", "churned"])
    df["churned"] = df["churned"].astype(str)
    warehouse.write_df("src_labels", df, mode="replace")
    warehouse.replace_table("churn_labels", """
        SELECT customer_id, CAST(label_date AS DATE) AS label_date,
               CAST(CAST(churned AS DOUBLE) AS BIGINT) AS churned FROM src_labels""")


def synthetic_frame(n: int = 240, seed: int = 0, signal: float = 2.5, dates: int = 10,
                    customers: int | None = None) -> pd.DataFrame:
    """A labelled frame whose churn depends on f_count (strongly) and f_amount (weakly), its rows
    spread over `dates` weekly label dates from 2024-03-01 (customers recur across dates)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(signal * x1 + 0.5 * x2)))
    y = (rng.uniform(size=n) < p).astype(int)
    f_amount = np.where(rng.uniform(size=n) < 0.1, np.nan, x2 * 10 + 50)
    return pd.DataFrame({
        "customer_id": [f"c{i % (customers or max(1, n // dates)):04d}" for i in range(n)],
        "label_date": [dt.date(2024, 3, 1) + dt.timedelta(days=7 * (i % dates)) for i in range(n)],
        "churned": y,
        "f_count": np.round(x1 * 3 + 10),
        "f_amount": f_amount,
    })


def make_activity_world(warehouse, customers: int = 120, days: int = 70, seed: int = 1) -> pd.DataFrame:
    """Events where churners fade and stop, plus customer_features (purchases and revenue over the
    last 7 days, computed in SQL from those events) and the online table. Returns the truth."""
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 1, 1)
    rows, truth = [], []
    for i in range(customers):
        cid = f"c{i:04d}"
        rate = rng.uniform(0.15, 0.5)
        churner = rng.uniform() < 0.45
        stop = int(rng.integers(25, days)) if churner else days + 1
        truth.append((cid, 0.9 if churner else 0.1))
        for t in range(days):
            fade = max(0.0, min(1.0, (stop - t) / 14)) if churner else 1.0
            if t < stop and rng.uniform() < rate * fade:
                rows.append((cid, "purchase", (start + dt.timedelta(days=t)).isoformat(),
                             float(np.round(rng.uniform(5, 50), 2))))
            if t < stop and rng.uniform() < 0.1:
                rows.append((cid, "browse", (start + dt.timedelta(days=t)).isoformat(), None))
    make_raw_events(warehouse, rows)
    warehouse.replace_table("customer_features", """
        WITH days AS (SELECT DISTINCT event_date AS snapshot_date FROM raw_events),
        custs AS (SELECT DISTINCT customer_id FROM raw_events)
        SELECT c.customer_id, d.snapshot_date,
               CAST(SUM(CASE WHEN e.event_type = 'purchase' THEN 1 ELSE 0 END) AS BIGINT) AS f_count,
               CAST(SUM(CASE WHEN e.event_type = 'purchase' THEN e.amount END) AS DOUBLE) AS f_amount,
               CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS computed_at
        FROM custs c CROSS JOIN days d
        LEFT JOIN raw_events e ON e.customer_id = c.customer_id
             AND e.event_date > d.snapshot_date - 7 AND e.event_date <= d.snapshot_date
        GROUP BY c.customer_id, d.snapshot_date""")
    warehouse.replace_table("customer_features_online", """
        SELECT customer_id, snapshot_date, f_count, f_amount, CAST(FALSE AS BOOLEAN) AS is_stale
        FROM customer_features QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY snapshot_date DESC) = 1""")
    return pd.DataFrame(truth, columns=["customer_id", "churn_propensity"])

