"""Drift metrics from bounded summaries (pure numpy/scipy; no warehouse, no Dagster).

Every metric is computed from what the stats SQL returns for one feature and one day, never from
the rows themselves: histogram counts over the baseline's frozen bins, and a quantile grid of
m + 1 nearest-rank order statistics (`q_k = x_(max(1, ceil(k n / m)))`, k = 0..m).

Error bounds of the grid variants (m = grid size of each side; proofs in the docstrings):
- KS: |KS_grid - KS_exact| < max(1/m_current, 1/m_baseline)  (0.01 for the default m = 100).
- Wasserstein-1: |W_grid - W_exact| <= (range_current / m_current + range_baseline / m_baseline) / 2,
  divided by the baseline std for the normalised value. It is loose for heavy tails (the range
  includes the outliers); observed errors are far smaller (see the tests).
- PSI and Jensen-Shannon are exact on the frozen bins (they are defined on bins).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PSI_EPSILON = 1e-4


def quantile_grid(values: Sequence[float], m: int) -> np.ndarray:
    """Reference implementation of the SQL grid: nearest-rank order statistics at k/m, k = 0..m."""
    x = np.sort(np.asarray([v for v in values if v is not None and not _isnan(v)], dtype=float))
    if len(x) == 0:
        return np.array([])
    n = len(x)
    ranks = np.maximum(1, np.ceil(np.arange(m + 1) * n / m).astype(int))
    return x[ranks - 1]


def bucketize(values: Sequence[float], edges: Sequence[float]) -> np.ndarray:
    """Reference implementation of the SQL bucketing: bin i holds edges[i-1] < v <= edges[i]."""
    x = np.asarray([v for v in values if v is not None and not _isnan(v)], dtype=float)
    idx = np.searchsorted(np.asarray(edges, dtype=float), x, side="left")
    return np.bincount(idx, minlength=len(edges) + 1)


def psi(current_counts: Sequence[float], baseline_counts: Sequence[float],
        epsilon: float = PSI_EPSILON) -> float | None:
    """Population stability index sum((c - b) * ln(c / b)) over bin shares, each share floored at
    `epsilon` so an empty bin contributes a large but finite term."""
    c, b = _shares(current_counts), _shares(baseline_counts)
    if c is None or b is None or len(c) != len(b):
        return None
    c, b = np.maximum(c, epsilon), np.maximum(b, epsilon)
    return float(np.sum((c - b) * np.log(c / b)))


def js_distance(current_counts: Sequence[float], baseline_counts: Sequence[float]) -> float | None:
    """Jensen-Shannon distance (base 2, in [0, 1]) between the binned distributions."""
    from scipy.spatial.distance import jensenshannon

    c, b = _shares(current_counts), _shares(baseline_counts)
    if c is None or b is None or len(c) != len(b):
        return None
    return float(jensenshannon(c, b, base=2))


def ks_from_grids(current: Sequence[float], baseline: Sequence[float]) -> float | None:
    """Two-sample KS statistic from two nearest-rank quantile grids.

    With the grid's CDF estimate F^(x) = max{k/m : q_k <= x}, the empirical CDF satisfies
    F(x) - F^(x) in [0, 1/m) for every x (q_k <= x < q_k+1 puts F(x) in [k/m, (k+1)/m), ties
    included). Both errors are one-sided in the same direction, so (F - G) - (F^ - G^) lies in
    (-1/m_G, 1/m_F) and |KS - KS^| < max(1/m_F, 1/m_G). F^ and G^ are step functions jumping only
    at grid points, so the sup is taken over the union of the grids.
    """
    qc, qb = _grid(current), _grid(baseline)
    if qc is None or qb is None:
        return None
    points = np.union1d(qc, qb)
    return float(np.max(np.abs(_grid_cdf(qc, points) - _grid_cdf(qb, points))))


def wasserstein_from_grids(current: Sequence[float], baseline: Sequence[float]) -> float | None:
    """Wasserstein-1 distance integral_0^1 |F^-1(u) - G^-1(u)| du from two quantile grids.

    On u in ((k-1)/m, k/m] the nearest-rank quantile function lies in [q_k-1, q_k]; we use the
    midpoint, so each interval errs by at most (dq_k + dg_k) / 2 times its width and the total by
    (range_F / m_F + range_G / m_G) / 2 (`wasserstein_error_bound`).
    """
    qc, qb = _grid(current), _grid(baseline)
    if qc is None or qb is None:
        return None
    uc, ub = np.linspace(0, 1, len(qc)), np.linspace(0, 1, len(qb))
    cuts = np.union1d(uc, ub)
    mids = (cuts[:-1] + cuts[1:]) / 2
    width = np.diff(cuts)
    return float(np.sum(width * np.abs(_step_midpoints(qc, uc, mids) - _step_midpoints(qb, ub, mids))))


def wasserstein_error_bound(current: Sequence[float], baseline: Sequence[float],
                            rank_error: tuple[float, float] = (0.0, 0.0)) -> float | None:
    """The grids' bound above, plus eps x range for each side whose grid comes from a sketch with
    rank error eps (feature_stats.py): a quantile read at rank u lies between the true ones at u -/+ eps,
    so |F^-1 - F~^-1| integrates to at most eps times the grid's range (within the sketch's
    probability)."""
    qc, qb = _grid(current), _grid(baseline)
    if qc is None or qb is None:
        return None
    ec, eb = rank_error
    rc, rb = qc[-1] - qc[0], qb[-1] - qb[0]
    return float((rc / (len(qc) - 1) + rb / (len(qb) - 1)) / 2 + ec * rc + eb * rb)


def ks_error_bound(current: Sequence[float], baseline: Sequence[float],
                   rank_error: tuple[float, float] = (0.0, 0.0)) -> float | None:
    """max(1/m_F, 1/m_G) (see ks_from_grids), plus each sketch's rank error eps (feature_stats.py): a
    sketched CDF is within eps of the day's, so KS moves by at most eps_F + eps_G more."""
    qc, qb = _grid(current), _grid(baseline)
    if qc is None or qb is None:
        return None
    return 1.0 / min(len(qc) - 1, len(qb) - 1) + float(rank_error[0]) + float(rank_error[1])


def _grid(values: Sequence[float] | None) -> np.ndarray | None:
    if values is None or len(values) < 2:
        return None
    q = np.asarray(values, dtype=float)
    if np.any(np.isnan(q)):
        return None
    return q


def _grid_cdf(q: np.ndarray, points: np.ndarray) -> np.ndarray:
    m = len(q) - 1
    k = np.searchsorted(q, points, side="right") - 1  # largest k with q_k <= x
    return np.where(k < 0, 0.0, k / m)


def _step_midpoints(q: np.ndarray, u: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Value of the midpoint step function (q_k-1 + q_k)/2 on ((k-1)/m, k/m] at `at`."""
    mid = (q[:-1] + q[1:]) / 2
    k = np.clip(np.searchsorted(u, at, side="left"), 1, len(q) - 1)
    return mid[k - 1]


def _shares(counts: Sequence[float] | None) -> np.ndarray | None:
    if counts is None or len(counts) == 0:
        return None
    arr = np.asarray(counts, dtype=float)
    total = arr.sum()
    return arr / total if total > 0 else None


def _isnan(v) -> bool:
    try:
        return math.isnan(v)
    except TypeError:
        return False
