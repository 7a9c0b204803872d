"""Out-of-time evaluation: which label dates train, which are held out, and the purge between them.

A label at L says "no purchase on days [L, L + horizon)". Two labels whose outcome windows overlap
share outcome days (for the same customer, the very same purchases), so a model trained on one
is partly told the answer of the other. The split therefore:

- holds out the LATEST label dates (`holdout_days`, or the newest dates holding `holdout_share`
  of the rows), as serving will face the future, never the past;
- trains only on label dates L with L + purge_days <= the first holdout date (purge_days defaults
  to the label horizon), so no training outcome window overlaps a holdout label's;
- cross-validates by time: expanding windows over the training dates, the validation blocks
  cut from the dates that have a purged training date before them, so every fold asked for runs
  (or the plan says why not), each fold purged the same way.

Bootstrap intervals resample customers (a customer's rows move together, since its labels are
correlated), percentile method.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


class SplitError(ValueError):
    """The label dates cannot support an out-of-time split; the message says what to change."""


@dataclass(frozen=True)
class TimeSplit:
    train_dates: list[dt.date]
    purged_dates: list[dt.date]
    holdout_dates: list[dt.date]
    purge_days: int

    @property
    def train_last(self) -> dt.date:
        return self.train_dates[-1]

    @property
    def holdout_first(self) -> dt.date:
        return self.holdout_dates[0]

    def describe(self) -> str:
        def span(ds: list[dt.date]) -> str:
            return f"{ds[0]}..{ds[-1]} ({len(ds)} dates)" if ds else "none"

        return (f"train {span(self.train_dates)}; purged {span(self.purged_dates)} "
                f"(gap {self.purge_days} days); holdout {span(self.holdout_dates)}")


def time_split(
    label_dates: pd.Series, *, holdout_share: float = 0.2, holdout_days: int | None = None,
    purge_days: int = 30,
) -> TimeSplit:
    """Split the label dates of a training frame (one entry per row) into train / purged / holdout."""
    if not 0 < holdout_share < 1:
        raise SplitError(f"holdout_share must be between 0 and 1, got {holdout_share}")
    if purge_days < 0:
        raise SplitError(f"purge_days must be >= 0, got {purge_days}")
    counts = pd.Series(label_dates).value_counts().sort_index()
    dates = [d for d in counts.index]
    if len(dates) < 2:
        raise SplitError(
            f"out-of-time evaluation needs at least 2 label dates, the training set has {len(dates)} "
            f"({dates[0] if dates else 'none'}): add label dates (churn_labels every_days / label_dates)"
        )
    if holdout_days is not None:
        if holdout_days < 1:
            raise SplitError(f"holdout_days must be >= 1, got {holdout_days}")
        first = dates[-1] - dt.timedelta(days=holdout_days - 1)
        holdout = [d for d in dates if d >= first]
    else:
        # The newest dates until they hold the share of rows (at least one date).
        need, got, holdout = holdout_share * counts.sum(), 0, []
        for d in reversed(dates):
            holdout.insert(0, d)
            got += counts[d]
            if got >= need:
                break
    h0 = holdout[0]
    train = [d for d in dates if d + dt.timedelta(days=purge_days) <= h0]
    purged = [d for d in dates if d < h0 and d not in train]
    if not train:
        raise SplitError(
            f"no label date is {purge_days} days (the purge gap) before the holdout's first date {h0}: "
            f"label dates run {dates[0]}..{dates[-1]}. Load more history, shorten churn_labels "
            "horizon_days, or hold out fewer days (holdout_share / holdout_days)"
        )
    return TimeSplit(train, purged, holdout, purge_days)


@dataclass(frozen=True)
class FoldPlan:
    """The time-CV folds (row indices) and, when fewer than asked run, why."""

    folds: list[tuple[np.ndarray, np.ndarray]]
    requested: int
    note: str = ""


def plan_time_folds(label_dates: pd.Series, n_splits: int, purge_days: int) -> FoldPlan:
    """Expanding-window CV folds over the label dates of the training rows: fold k validates on a
    later block of dates and trains on every date at least `purge_days` before that block.

    The validation blocks are cut from the dates that HAVE such a training date (the first
    `purge_days` of dates cannot be validated on: nothing may train before them), so every fold
    asked for runs while there are enough dates; fewer run only when there are fewer such dates
    than folds, and the note says so. (Cutting blocks from all dates, as TimeSeriesSplit does, left
    3 of 5 folds without training dates at a 90-day purge.)"""
    values = pd.Series(label_dates).to_numpy()
    dates = np.array(sorted(set(values)))
    if n_splits < 1 or len(dates) == 0:
        return FoldPlan([], max(n_splits, 0), "" if n_splits < 1 else "no label dates")
    gap = dt.timedelta(days=purge_days)
    eligible = [d for d in dates if d - gap >= dates[0]]
    n = min(n_splits, len(eligible))
    note = ""
    if n < n_splits:
        note = (f"{n} of {n_splits} folds: only {len(eligible)} training label date(s) have a label date "
                f"{purge_days} days (the purge gap) before them to train on; add label dates (every_days) "
                "or history")
    # Like TimeSeriesSplit, blocks of equal size from the newest dates back, about 1/(n + 1) of
    # the eligible dates each, so the earliest fold still trains on a few dates.
    size = max(1, len(eligible) // (n + 1))
    blocks = [eligible[len(eligible) - (n - i) * size: len(eligible) - (n - i - 1) * size] for i in range(n)]
    folds = []
    for block in blocks:
        cutoff = block[0] - gap
        folds.append((np.flatnonzero(values <= cutoff), np.flatnonzero(np.isin(values, block))))
    return FoldPlan(folds, n_splits, note)


def time_folds(
    label_dates: pd.Series, n_splits: int, purge_days: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The folds of `plan_time_folds` (row indices: train, validate)."""
    yield from plan_time_folds(label_dates, n_splits, purge_days).folds


def weighted_metrics(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """ROC AUC, average precision (PR AUC) and Brier score for each row of `weights` (resamples x
    rows) at once; the same definitions as scikit-learn's with sample_weight (ties count half in
    AUC; AP steps at each distinct score), vectorised because a bootstrap needs hundreds."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=float)
    W = np.atleast_2d(np.asarray(weights, dtype=float))
    order = np.argsort(s, kind="mergesort")
    s_sorted, y_sorted, W = s[order], y[order], W[:, order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])  # tie groups, ascending
    pos = np.add.reduceat(W * y_sorted, starts, axis=1)
    neg = np.add.reduceat(W * ~y_sorted, starts, axis=1)
    P, N = pos.sum(1), neg.sum(1)
    neg_below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (neg_below + 0.5 * neg)).sum(1) / (P * N)
        # Descending thresholds: cumulative true positives and predicted positives per group.
        tp = np.cumsum(pos[:, ::-1], axis=1)
        allp = tp + np.cumsum(neg[:, ::-1], axis=1)
        prec = np.where(allp > 0, tp / allp, 0.0)
        ap = (pos[:, ::-1] * prec).sum(1) / P
        brier = (W * (s_sorted - y_sorted) ** 2).sum(1) / W.sum(1)
    return {"roc_auc": auc, "pr_auc": ap, "brier": brier}


def bootstrap_ci(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray, n_resamples: int = 200,
    level: float = 0.95, seed: int = 0,
) -> dict[str, list[float]]:
    """Percentile intervals of ROC AUC, PR AUC and Brier under a cluster bootstrap: customers are
    drawn with replacement and every row carries its customer's draw count as weight. Resamples
    with a single class are dropped (AUC is undefined there)."""
    if n_resamples < 1:
        return {}
    codes, uniques = pd.factorize(pd.Series(groups))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(uniques), np.full(len(uniques), 1 / len(uniques)), size=n_resamples)
    values = weighted_metrics(y, scores, draws[:, codes])
    tail = (1 - level) / 2 * 100
    out = {}
    for k, v in values.items():
        v = v[np.isfinite(v)]
        if len(v):
            out[k] = [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))]
    return out


def purge_default(horizon_days: int | None, purge_days: int | None) -> int:
    """The purge gap: as configured, else the label horizon (the outcome window's length)."""
    if purge_days is not None:
        return int(purge_days)
    if horizon_days is None:
        raise SplitError("purge_days is unset and the label horizon is unknown: set purge_days")
    return int(horizon_days)


def dates_of(frame: pd.DataFrame, dates: Sequence[dt.date]) -> pd.DataFrame:
    return frame[frame["label_date"].isin(set(dates))]
