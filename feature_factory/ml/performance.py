"""Realized model performance: once the outcome window of a scoring date has passed, how well did
each model's scores (champion and shadow challenger) predict who actually stopped buying?

A score computed from features as of snapshot day S is a prediction for label date L = S + 1, the
same "no purchase on days [L, L + horizon)" as `churn_labels`, for customers active in the
`lookback_days` before L (the labels' eligibility rule). The outcome is mature when the last event
day loaded is >= S + horizon. Everything is one SQL statement in the warehouse: outcomes per
(customer, scoring date) from `raw_events`, then per (scoring date, model version) the row count,
churn rate, mean score, Brier score and ROC AUC from ranks (Mann-Whitney; tied scores get their
average rank), so no score rows are pulled into Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from feature_factory import tables
from feature_factory.warehouse.dialect import Dialect

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse


class PerformanceError(ValueError):
    """Realized performance cannot be computed; the message names the missing input."""


def performance_sql(dialect: Dialect, horizon_days: int, lookback_days: int) -> str:
    h, lb = int(horizon_days), int(lookback_days)
    outcome_end = dialect.date_add_days("p.snapshot_date", h)
    look_from = dialect.date_add_days("p.snapshot_date", -lb)
    # The newest run per (customer, snapshot, model): re-scoring the same day does not double-count.
    return f"""
WITH last_day AS (SELECT MAX(event_date) AS d FROM {tables.RAW_EVENTS.name}),
scored AS (
    SELECT customer_id, snapshot_date, model_version, COALESCE(role, 'champion') AS role,
           churn_probability
    FROM {tables.INFERENCE_RESULTS.name}
    WHERE snapshot_date IS NOT NULL
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY customer_id, snapshot_date, model_version ORDER BY scored_at DESC, run_id DESC) = 1
),
pairs AS (
    SELECT DISTINCT s.customer_id, s.snapshot_date
    FROM scored s CROSS JOIN last_day l
    WHERE {dialect.date_add_days("s.snapshot_date", h)} <= l.d
),
outcome AS (
    SELECT p.customer_id, p.snapshot_date,
           MAX(CASE WHEN e.event_date > p.snapshot_date AND e.event_type = 'purchase' THEN 1 ELSE 0 END) AS bought,
           MAX(CASE WHEN e.event_date <= p.snapshot_date THEN 1 ELSE 0 END) AS active
    FROM pairs p
    JOIN {tables.RAW_EVENTS.name} e ON e.customer_id = p.customer_id
     AND e.event_date > {look_from} AND e.event_date <= {outcome_end}
    GROUP BY p.customer_id, p.snapshot_date
),
labelled AS (
    SELECT s.snapshot_date, s.model_version, s.role, s.churn_probability AS p,
           CAST(1 - o.bought AS DOUBLE) AS y
    FROM scored s
    JOIN outcome o ON o.customer_id = s.customer_id AND o.snapshot_date = s.snapshot_date
    WHERE o.active = 1
),
ranked AS (
    SELECT snapshot_date, model_version, role, p, y,
           RANK() OVER (PARTITION BY snapshot_date, model_version ORDER BY p)
             + (COUNT(*) OVER (PARTITION BY snapshot_date, model_version, p) - 1) / 2.0 AS r
    FROM labelled
)
SELECT
    snapshot_date AS scoring_date,
    CAST(model_version AS BIGINT) AS model_version,
    MAX(role) AS role,
    CAST(COUNT(*) AS BIGINT) AS customers,
    CAST(SUM(y) AS BIGINT) AS churned,
    AVG(y) AS churn_rate,
    AVG(p) AS mean_score,
    AVG((p - y) * (p - y)) AS brier,
    CASE WHEN SUM(y) > 0 AND SUM(y) < COUNT(*) THEN
        (SUM(y * r) - SUM(y) * (SUM(y) + 1) / 2.0) / (SUM(y) * (COUNT(*) - SUM(y)))
    END AS roc_auc,
    CAST({h} AS BIGINT) AS horizon_days,
    MAX(l.d) AS matured_through
FROM ranked CROSS JOIN last_day l
GROUP BY snapshot_date, model_version
"""


@dataclass(frozen=True)
class PerformanceSummary:
    rows: int
    frame: pd.DataFrame  # the table: one row per scoring date x model version (bounded)
    pending_dates: list[str]  # scoring dates whose outcome window has not passed yet


def build_performance(warehouse: Warehouse, horizon_days: int, lookback_days: int = 90) -> PerformanceSummary:
    """Replace `model_performance` atomically from inference_results and raw_events."""
    if horizon_days < 1 or lookback_days < 1:
        raise PerformanceError(f"horizon_days and lookback_days must be >= 1, got {horizon_days}, {lookback_days}")
    for table, hint in ((tables.INFERENCE_RESULTS.name, "inference_results"), (tables.RAW_EVENTS.name, "raw_events")):
        if not warehouse.table_exists(table):
            raise PerformanceError(f"table {table} does not exist: materialize {hint} first")
    if "role" not in {c for c, _ in warehouse.columns(tables.INFERENCE_RESULTS.name)}:
        warehouse.execute(f"ALTER TABLE {tables.INFERENCE_RESULTS.name} ADD COLUMN role VARCHAR")
    rows = warehouse.replace_table(tables.MODEL_PERFORMANCE.name, performance_sql(warehouse.dialect, horizon_days, lookback_days))
    frame = warehouse.fetch_df(f"SELECT * FROM {tables.MODEL_PERFORMANCE.name} ORDER BY scoring_date, model_version")
    if not frame.empty:
        frame["scoring_date"] = pd.to_datetime(frame["scoring_date"]).dt.date
    last = warehouse.fetch_one(f"SELECT MAX(event_date) FROM {tables.RAW_EVENTS.name}")
    pending = warehouse.fetch_all(
        f"SELECT DISTINCT snapshot_date FROM {tables.INFERENCE_RESULTS.name} WHERE snapshot_date IS NOT NULL "
        f"AND {warehouse.date_add_days('snapshot_date', int(horizon_days))} > ? ORDER BY snapshot_date",
        [last[0]] if last else [None],
    )
    return PerformanceSummary(rows, frame, [str(r[0])[:10] for r in pending])


def realized(frame: pd.DataFrame, version: int, dates: set | None = None) -> float | None:
    """Mean realized ROC AUC of one model version over its (optionally given) scoring dates."""
    rows = frame[(frame["model_version"] == version) & frame["roc_auc"].notna()]
    if dates is not None:
        rows = rows[rows["scoring_date"].isin(dates)]
    return float(rows["roc_auc"].mean()) if len(rows) else None


def realized_gate(frame: pd.DataFrame, champion: int, challenger: int, margin: float,
                  min_dates: int = 1) -> tuple[bool | None, str]:
    """Promotion on realized performance: mean realized ROC AUC of the challenger (scored in
    shadow) and the champion over the SAME matured scoring dates. None when fewer than
    `min_dates` such dates exist yet (keep waiting, keep the champion)."""
    ok = frame[frame["roc_auc"].notna()].copy() if len(frame) else frame
    if len(ok):
        ok["scoring_date"] = pd.to_datetime(ok["scoring_date"]).dt.date
    dates = (set(ok.loc[ok["model_version"] == champion, "scoring_date"])
             & set(ok.loc[ok["model_version"] == challenger, "scoring_date"])) if len(ok) else set()
    if len(dates) < min_dates:
        return None, (f"v{challenger} has {len(dates)} matured scoring date(s) shared with champion "
                      f"v{champion} (needs {min_dates}): it stays in shadow")
    ch, cp = realized(ok, challenger, dates), realized(ok, champion, dates)
    assert ch is not None and cp is not None
    span = f"{min(dates)}..{max(dates)}, {len(dates)} date(s)"
    if ch >= cp + margin:
        return True, f"realized roc_auc {ch:.4f} >= champion {cp:.4f} + margin {margin:g} ({span})"
    return False, f"realized roc_auc {ch:.4f} < champion {cp:.4f} + margin {margin:g} ({span})"
