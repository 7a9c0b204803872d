"""Drift metrics from bounded summaries, cross-checked against numpy/scipy on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from feature_factory.monitoring.detection import metrics as M

SAMPLES = {
    "normal_shift": lambda r: (r.normal(0, 1, 3000), r.normal(0.3, 1.2, 2000)),
    "lognormal_outliers": lambda r: (r.lognormal(3, 0.6, 4000),
                                     np.concatenate([r.lognormal(3, 0.6, 1960), r.uniform(400, 1000, 40)])),
    "poisson_ties": lambda r: (r.poisson(2, 5000).astype(float), r.poisson(2.4, 1500).astype(float)),
    "tiny": lambda r: (r.normal(0, 1, 9), r.normal(1, 1, 5)),
}


def numpy_psi(cur, base, edges, eps=M.PSI_EPSILON):
    """PSI as a user would write it with numpy: same right-closed bins, shares floored at eps."""
    idx_c = np.searchsorted(edges, cur, side="left")
    idx_b = np.searchsorted(edges, base, side="left")
    c = np.bincount(idx_c, minlength=len(edges) + 1) / len(cur)
    b = np.bincount(idx_b, minlength=len(edges) + 1) / len(base)
    c, b = np.maximum(c, eps), np.maximum(b, eps)
    return np.sum((c - b) * np.log(c / b))


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("m", [100, 1000])
def test_grid_ks_and_wasserstein_within_documented_bounds(name, m):
    base, cur = SAMPLES[name](np.random.default_rng(11))
    gc, gb = M.quantile_grid(cur, m), M.quantile_grid(base, m)
    ks = M.ks_from_grids(gc, gb)
    exact_ks = ks_2samp(cur, base).statistic
    assert abs(ks - exact_ks) < M.ks_error_bound(gc, gb) == pytest.approx(1 / m)
    w = M.wasserstein_from_grids(gc, gb)
    exact_w = wasserstein_distance(cur, base)
    assert abs(w - exact_w) <= M.wasserstein_error_bound(gc, gb) + 1e-12
    if name in ("normal_shift", "poisson_ties"):
        # Without far outliers inside the top grid interval the error is far below the bound.
        assert abs(w - exact_w) <= 0.02 * exact_w + 0.01 * np.std(base)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=2, max_size=60),
       st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=60),
       st.integers(2, 40))
def test_ks_bound_holds_for_any_data(a, b, m):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ga, gb = M.quantile_grid(a, m), M.quantile_grid(b, m)
    assert abs(M.ks_from_grids(ga, gb) - ks_2samp(a, b).statistic) < 1 / m + 1e-12
    assert abs(M.wasserstein_from_grids(ga, gb) - wasserstein_distance(a, b)) <= (
        M.wasserstein_error_bound(ga, gb) + 1e-9)


@pytest.mark.parametrize("name", SAMPLES)
def test_psi_and_js_match_numpy_and_scipy_on_the_same_bins(name):
    base, cur = SAMPLES[name](np.random.default_rng(5))
    from feature_factory.monitoring.detection.baseline import decile_edges

    edges = decile_edges(M.quantile_grid(base, 100).tolist())
    hc, hb = M.bucketize(cur, edges), M.bucketize(base, edges)
    assert hc.sum() == len(cur) and hb.sum() == len(base)
    assert M.psi(hc, hb) == pytest.approx(numpy_psi(cur, base, np.asarray(edges)), rel=1e-12)
    assert M.js_distance(hc, hb) == pytest.approx(jensenshannon(hc / hc.sum(), hb / hb.sum(), base=2))


def test_decile_edges_are_deduplicated_for_discrete_features():
    from feature_factory.monitoring.detection.baseline import decile_edges

    base = np.random.default_rng(1).poisson(1.0, 5000).astype(float)
    edges = decile_edges(M.quantile_grid(base, 100).tolist())
    assert edges == sorted(set(edges)) and set(edges) <= set(np.unique(base)) and len(edges) <= 4
    # Right-closed bins put every atom in its own bin: 0 in bin 0, 1 in bin 1, ...
    assert M.bucketize([0.0, 1.0], edges).tolist()[:2] == [1, 1]


def test_identical_distributions_score_zero():
    x = np.random.default_rng(0).normal(size=500)
    g = M.quantile_grid(x, 100)
    h = M.bucketize(x, [-1.0, 0.0, 1.0])
    assert M.ks_from_grids(g, g) == 0 and M.wasserstein_from_grids(g, g) == 0
    assert M.psi(h, h) == 0 and M.js_distance(h, h) == 0
    assert M.psi([], h) is None and M.ks_from_grids(None, g) is None
