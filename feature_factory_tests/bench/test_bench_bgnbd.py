"""bench/bgnbd.py's pure parts on tiny inputs: the CDNOW conversion and the paired comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import bgnbd as B


def test_cdnow_conversion_keeps_every_purchase_and_says_what_it_invents(tmp_path):
    path = tmp_path / "CDNOW_master.txt"
    path.write_text(" customer_id  date number_of_cds  dollar_value\n"
                    " 00001 19970101  1   11.77\n 00001 19970101  2   20.00\n 00002 19980630  1   0.00\n")
    e = B.cdnow_events(path)
    assert e["event_id"].tolist() == ["cdnow-0", "cdnow-1", "cdnow-2"]  # same-day repeats stay apart
    assert e["customer_id"].tolist() == ["1", "1", "2"] and e["amount"].sum() == pytest.approx(31.77)
    assert e["event_ts"].tolist() == ["1997-01-01T12:00:00Z", "1997-01-01T12:00:00Z", "1998-06-30T12:00:00Z"]
    assert set(e["event_type"]) == {"purchase"} and set(e["channel"]) == {"web"}
    path.write_text("1 1997-01-01 1 3.0\n")
    with pytest.raises(ValueError, match="not the CDNOW master file"):
        B.cdnow_events(path)


def test_compare_pairs_the_bootstrap_of_the_auc_difference():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    n = 600
    y = rng.integers(0, 2, n)
    good = np.clip(y * 0.3 + rng.uniform(size=n) * 0.7, 0, 1)
    weak = np.clip(y * 0.1 + rng.uniform(size=n) * 0.9, 0, 1)
    customers = np.array([f"c{i // 3}" for i in range(n)])
    out = B.compare(y, customers, {"champion": good, "bgnbd": weak, "constant": np.full(n, y.mean())},
                    resamples=300)
    diff = roc_auc_score(y, good) - roc_auc_score(y, weak)
    assert out["auc_diff"] == pytest.approx(diff)
    lo, hi = out["auc_diff_ci"]
    assert 0 < lo < diff < hi
    assert out["scorers"]["constant"]["roc_auc"] == 0.5
    assert out["brier_diff_vs_constant"] == pytest.approx(
        out["scorers"]["champion"]["brier"] - np.mean((y.mean() - y) ** 2))
