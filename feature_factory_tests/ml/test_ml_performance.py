"""Realized performance of champion and shadow scores, computed in the warehouse once outcomes
mature, checked against scikit-learn on the same rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from ml_helpers import make_raw_events

from feature_factory.ml.performance import build_performance, realized


def _inference(warehouse, rows: list[tuple]) -> None:
    """rows: (run_id, customer_id, snapshot_date, churn_probability, model_version, role)."""
    df = pd.DataFrame(rows, columns=["run_id", "customer_id", "snapshot_date", "p", "model_version", "role"])
    df["p"] = df["p"].astype(str)
    df["model_version"] = df["model_version"].astype(str)
    warehouse.write_df("src_inf", df, mode="replace")
    warehouse.replace_table("inference_results", """
        SELECT run_id, customer_id, CAST(snapshot_date AS DATE) AS snapshot_date,
               CAST(p AS DOUBLE) AS churn_probability, CAST(0 AS BIGINT) AS predicted_churn,
               CAST(CAST(model_version AS DOUBLE) AS BIGINT) AS model_version,
               CAST(0.5 AS DOUBLE) AS threshold,
               CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS scored_at, role FROM src_inf""")


def test_realized_auc_per_scoring_date_and_model(warehouse):
    from sklearn.metrics import brier_score_loss, roc_auc_score

    rng = np.random.default_rng(4)
    day = lambda n: (dt.date(2024, 3, 1) + dt.timedelta(days=n)).isoformat()  # noqa: E731
    events, inf, truth = [], [], []
    for i in range(40):
        cid = f"c{i:02d}"
        events.append((cid, "browse", day(-3), None))  # active before every scoring date
        # Scoring date day(0): horizon 5 -> outcome days 1..5. Churners never buy then.
        churn = i % 3 == 0
        if not churn:
            events.append((cid, "purchase", day(1 + i % 5), 10.0))
        p_champ = float(np.clip(0.7 * churn + rng.uniform(0, 0.5), 0, 1))
        p_shadow = round(float(rng.uniform()), 1)  # noise with ties
        inf += [("r1", cid, day(0), p_champ, 1, "champion"), ("r1", cid, day(0), p_shadow, 2, "shadow")]
        # Scored twice on that day: only the newest run counts (same numbers, no double count).
        inf.append(("r0", cid, day(0), p_champ, 1, "champion"))
        truth.append((int(churn), p_champ, p_shadow))
        # A second scoring date whose window (days 4..8) is not complete.
        inf.append(("r2", cid, day(3), 0.5, 1, "champion"))
    events.append(("c99", "browse", day(6), None))  # last event day: day 6
    make_raw_events(warehouse, events)
    _inference(warehouse, inf)

    s = build_performance(warehouse, horizon_days=5, lookback_days=30)
    y = np.array([t[0] for t in truth])
    got = s.frame.set_index("model_version")
    assert s.rows == 2 and list(got.index) == [1, 2] and s.pending_dates == [day(3)]
    assert got.loc[1, "role"] == "champion" and got.loc[2, "role"] == "shadow"
    assert (got.loc[1, "customers"], got.loc[1, "churned"]) == (40, int(y.sum()))
    for version, col in ((1, 1), (2, 2)):
        p = np.array([t[col] for t in truth])
        assert got.loc[version, "roc_auc"] == pytest.approx(roc_auc_score(y, p))
        assert got.loc[version, "brier"] == pytest.approx(brier_score_loss(y, p))
    assert str(got.loc[1, "scoring_date"]) == day(0)
    assert realized(s.frame, 1) == pytest.approx(roc_auc_score(y, [t[1] for t in truth]))
    assert realized(s.frame, 3) is None
