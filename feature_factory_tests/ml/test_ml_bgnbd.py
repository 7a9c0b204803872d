"""BG/NBD (ml/bgnbd.py) on values: the published CDNOW fit, the paper's worked example, and the
churn score against simulated customers.

`data/cdnow_customers_summary.csv` (40 KB): the 2,357-customer CDNOW cohort sample of Fader, Hardie
& Lee (2005), as (frequency, recency, T) in weeks, copied unchanged from the PyPI wheel of
`lifetimes` 0.11.3 (MIT licence; lifetimes/datasets/cdnow_customers_summary.csv).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_factory.ml import bgnbd

CDNOW = Path(__file__).parent / "data" / "cdnow_customers_summary.csv"


@pytest.fixture(scope="module")
def cdnow():
    d = pd.read_csv(CDNOW)
    return d, bgnbd.fit(d["frequency"], d["recency"], d["T"])


def test_fit_matches_the_published_cdnow_parameters(cdnow):
    d, p = cdnow
    assert len(d) == p.customers == 2357
    # FHL 2005, section 5: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
    assert (round(p.r, 3), round(p.alpha, 2), round(p.a, 3), round(p.b, 2)) == (0.243, 4.41, 0.793, 2.43)
    assert p.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_the_papers_worked_example(cdnow):
    _, p = cdnow
    # A customer with 2 repeat purchases, the last at week 30.43, observed for 38.86 weeks, is
    # expected to make 1.226 purchases in the next 39 weeks (FHL 2005, section 5).
    assert bgnbd.expected_purchases(p, 39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=5e-4)
    alive = bgnbd.p_alive(p, [2, 2, 0], [30.43, 5.0, 0.0], [38.86, 38.86, 38.86])
    # No repeat purchase: never seen dropping out (P(alive) = 1); a long silence lowers it.
    assert alive[2] == 1.0 and alive[0] == pytest.approx(0.7266, abs=1e-4) and alive[1] < 0.2
    # x = 0: P(no purchase in t) is the gamma-Poisson zero, ((alpha + T) / (alpha + T + t))^r.
    zero = bgnbd.p_no_purchase(p, 39, [0], [0], [38.86])[0]
    assert zero == pytest.approx(((p.alpha + 38.86) / (p.alpha + 38.86 + 39)) ** p.r)


def simulate(n: int, params=(0.5, 5.0, 0.8, 2.5), T: float = 40.0, horizon: float = 20.0, seed: int = 0):
    """Customers of the BG/NBD story: first purchase at 0, Poisson repeats at rate lambda, dropout
    with probability p after each repeat; summaries at T and the count in (T, T + horizon]."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    drop = rng.beta(a, b, n)
    x, t_x, later = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T + horizon:
                break
            if t <= T:
                x[i] += 1
                t_x[i] = t
            else:
                later[i] += 1
            if rng.uniform() < drop[i]:
                break
    return x, t_x, np.full(n, T), later


def test_fit_recovers_simulated_parameters_and_the_churn_score_is_calibrated():
    x, t_x, T, later = simulate(6000)
    p = bgnbd.fit(x, t_x, T)
    assert p.r == pytest.approx(0.5, rel=0.15) and p.alpha == pytest.approx(5.0, rel=0.25)
    assert p.a == pytest.approx(0.8, rel=0.3) and p.b == pytest.approx(2.5, rel=0.35)
    score = bgnbd.p_no_purchase(p, 20.0, x, t_x, T)
    silent = (later == 0).astype(float)
    # Calibrated overall and within score deciles (observed vs predicted share without purchase).
    assert abs(score.mean() - silent.mean()) < 0.02
    bins = pd.qcut(score, 5, duplicates="drop")
    by = pd.DataFrame({"s": score, "y": silent}).groupby(bins, observed=True).mean()
    assert (by["s"] - by["y"]).abs().max() < 0.05
    expected = bgnbd.expected_purchases(p, 20.0, x, t_x, T)
    assert expected.sum() == pytest.approx(later.sum(), rel=0.1)


def test_summarize_counts_purchase_days_before_the_label_date():
    rows = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "c"],
        "event_date": ["2024-01-01", "2024-01-01", "2024-01-05", "2024-01-11", "2024-01-09", "2024-01-20"],
    })
    s = bgnbd.summarize(rows, "2024-01-11").set_index("customer_id")
    # a: purchase days 01-01 (twice: one occasion) and 01-05; 01-11 is the label day itself, unseen.
    assert s.loc["a"].tolist() == [1.0, 4.0, 10.0]
    assert s.loc["b"].tolist() == [0.0, 0.0, 2.0] and "c" not in s.index
    weeks = bgnbd.summarize(rows, "2024-01-15", unit_days=7).set_index("customer_id")
    assert weeks.loc["a", "t_x"] == pytest.approx(10 / 7) and weeks.loc["a", "T"] == 2.0


@pytest.mark.parametrize("x, t_x, T, message", [
    ([1, 0], [2, 1], [3, 3], r"row 1: x=0.0, t_x=1.0"),
    ([1, 1], [4, 1], [3, 3], r"row 0: x=1.0, t_x=4.0, T=3.0"),
    ([1, -1], [1, 0], [3, 3], r"row 1"),
])
def test_impossible_summaries_are_named(x, t_x, T, message):
    with pytest.raises(bgnbd.BGNBDError, match=message):
        bgnbd.p_alive(bgnbd.BGNBDParams(1, 1, 1, 1), x, t_x, T)


def test_unfittable_data_says_why():
    with pytest.raises(bgnbd.BGNBDError, match="no customer has a repeat purchase"):
        bgnbd.fit(np.zeros(20), np.zeros(20), np.full(20, 10.0))
    with pytest.raises(bgnbd.BGNBDError, match="only 3 customers"):
        bgnbd.fit([1, 2, 0], [1, 2, 0], [3, 3, 3])
