"""Test data for the features domain: raw_events rows written per the contract, and a plain pandas
reference implementation of the 19 shipped features (written from the semantics in the brief, not
from the SQL)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

D = dt.date.fromisoformat


def events_frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (customer_id, event_type, channel, amount or None, event_date 'YYYY-MM-DD')."""
    df = pd.DataFrame(rows, columns=["customer_id", "event_type", "channel", "amount", "event_date"])
    df["event_date"] = df["event_date"].map(lambda v: v if isinstance(v, dt.date) else D(v))
    df["amount"] = df["amount"].astype(object)
    df.insert(0, "event_id", [f"e{i:06d}" for i in range(len(df))])
    return df


def random_events(seed: int, customers: int = 25, start: str = "2024-01-01", days: int = 130,
                  n: int = 900) -> pd.DataFrame:
    """Random events with day gaps, NULL and zero amounts, and customers who go quiet."""
    rng = np.random.default_rng(seed)
    day0 = D(start)
    # Leave whole days without any event, so gaps in the calendar are exercised too.
    quiet_days = set(rng.choice(days, size=days // 8, replace=False).tolist())
    rows = []
    for _ in range(n):
        c = int(rng.integers(customers))
        # Some customers are only active early (then only seen > 90 days before the end).
        offset = int(rng.integers(days // 3 if c % 7 == 3 else days))
        if offset in quiet_days:
            continue
        etype = str(rng.choice(["purchase", "browse", "refund"], p=[0.35, 0.5, 0.15]))
        amount = None if rng.random() < 0.12 else (
            0.0 if etype == "browse" and rng.random() < 0.6 else round(float(rng.uniform(0.5, 400.0)), 2))
        rows.append((f"c{c:03d}", etype, str(rng.choice(["web", "mobile"])), amount,
                     day0 + dt.timedelta(days=offset)))
    return events_frame(rows)


def write_raw_events(warehouse, events: pd.DataFrame) -> None:
    """Create `raw_events` with the contract's column types from a frame of `events_frame` shape."""
    src = pd.DataFrame({
        "event_id": events["event_id"],
        "customer_id": events["customer_id"],
        "event_type": events["event_type"],
        "channel": events["channel"],
        "amount": events["amount"].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))),
        "event_date": events["event_date"].map(lambda d: d.isoformat()),
    }).astype(object)
    warehouse.write_df("src_events", src, mode="replace")
    warehouse.replace_table("raw_events", """
        SELECT event_id, customer_id, event_type, channel, CAST(amount AS DOUBLE) AS amount,
               CAST(CAST(event_date AS DATE) AS TIMESTAMP) AS event_ts,
               CAST(event_date AS DATE) AS event_date,
               CAST('test.csv' AS VARCHAR) AS source_file, CAST(1 AS BIGINT) AS source_row,
               CAST('2024-06-01 00:00:00' AS TIMESTAMP) AS ingested_at
        FROM src_events""")
    warehouse.execute("DROP TABLE IF EXISTS src_events")


def reference_features(events: pd.DataFrame, days: list[dt.date], keep: int | None = 90) -> pd.DataFrame:
    """The shipped features by direct definition, one row per (customer whose last event is within
    `keep` days, None: any event so far; day)."""
    ev = events.copy()
    ev["amount"] = pd.to_numeric(ev["amount"], errors="coerce").astype(float)
    out = []
    for day in days:
        upto = ev[ev["event_date"] <= day]
        for cust, life in upto.groupby("customer_id"):
            if keep is not None and (day - life["event_date"].max()).days >= keep:
                continue
            g = life[life["event_date"] > day - dt.timedelta(days=90)]
            def win(k):
                return g[g["event_date"] > day - dt.timedelta(days=k)]

            w7, w30 = win(7), win(30)
            amt7 = w7["amount"].dropna()
            nonzero = amt7[amt7 > 0]

            def purchases(w):
                return int((w["event_type"] == "purchase").sum())

            def revenue(w):
                return float(w.loc[w["event_type"] == "purchase", "amount"].sum())

            out.append({
                "customer_id": cust,
                "snapshot_date": day,
                "days_since_last_event": (day - life["event_date"].max()).days,
                "purchases_7d": purchases(w7),
                "revenue_7d": revenue(w7),
                "refunds_7d": int((w7["event_type"] == "refund").sum()),
                "refund_amount_7d": float(w7.loc[w7["event_type"] == "refund", "amount"].sum()),
                "events_7d": len(w7),
                "mobile_events_7d": int((w7["channel"] == "mobile").sum()),
                "web_events_7d": int((w7["channel"] == "web").sum()),
                "avg_amount_nonzero_7d": float(nonzero.mean()) if len(nonzero) else None,
                "browse_events_7d": int((w7["event_type"] == "browse").sum()),
                "amount_stddev_7d": float(amt7.std(ddof=1)) if len(amt7) >= 2 else None,
                "max_amount_7d": float(amt7.max()) if len(amt7) else None,
                "min_amount_7d": float(amt7.min()) if len(amt7) else None,
                "purchases_30d": purchases(w30),
                "revenue_30d": revenue(w30),
                "events_30d": len(w30),
                "purchases_90d": purchases(g),
                "revenue_90d": revenue(g),
                "events_90d": len(g),
                **lifetime_reference(life, day),
            })
    return pd.DataFrame(out)


def lifetime_reference(life: pd.DataFrame, day: dt.date) -> dict:
    """The shipped lifetime features of one customer as of `day` from all their events up to it."""
    bought = life[life["event_type"] == "purchase"]
    amounts = bought["amount"].dropna()
    tenure = (day - life["event_date"].min()).days
    return {
        "tenure_days": tenure,
        "days_since_last_purchase": (day - bought["event_date"].max()).days if len(bought) else None,
        "purchases_lifetime": len(bought),
        "purchase_days_lifetime": bought["event_date"].nunique(),
        "purchase_days_per_30d": bought["event_date"].nunique() * 30 / (tenure + 1),
        "revenue_lifetime": float(amounts.sum()),
        "avg_purchase_amount_lifetime": float(amounts.mean()) if len(amounts) else None,
    }


def assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    """Same (customer, day) keys; integers equal; floats equal to rounding; NULL where NULL."""
    key = ["customer_id", "snapshot_date"]
    a = actual.copy()
    a["snapshot_date"] = pd.to_datetime(a["snapshot_date"]).dt.date
    a = a.sort_values(key).reset_index(drop=True)
    e = expected.sort_values(key).reset_index(drop=True)
    assert a[key].values.tolist() == e[key].values.tolist(), "different (customer, snapshot_date) rows"
    for col in columns:
        for i, (x, y) in enumerate(zip(a[col].tolist(), e[col].tolist())):
            where = f"{col} at {e.loc[i, 'customer_id']} {e.loc[i, 'snapshot_date']}"
            x_null = x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA
            y_null = y is None or (isinstance(y, float) and math.isnan(y))
            assert x_null == y_null, f"{where}: got {x!r}, expected {y!r}"
            if x_null:
                continue
            if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
                assert int(x) == int(y) and float(x) == float(int(x)), f"{where}: got {x!r}, expected {y!r}"
            else:
                assert math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-9), f"{where}: got {x!r}, expected {y!r}"
