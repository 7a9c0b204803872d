"""Out-of-time evaluation: which label dates train, which are held out, and the purge between them.

A label at L says "no purchase on days [L, L + horizon)". Two labels whose outcome windows overlap
share outcome days (for the same customer, the very same purchases), so a model trained on one
is partly told the answer of the other. The split therefore:

- holds out the LATEST label dates (`holdout_days`, or the newest dates holding `holdout_share`
  of the rows), as serving will face the future, never the past;
- trains only on label dates L with L + purge_days <= the first holdout date (purge_days defaults
  to the label horizon), so no training outcome window overlaps a holdout label's;
- cross-validates by time: expanding windows over the training dates (scikit-learn's
  TimeSeriesSplit over date groups), each fold purged the same way.

Bootstrap intervals resample customers (a customer's rows move together, since its labels are
correlated), percentile method.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
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


def time_folds(
    label_dates: pd.Series, n_splits: int, purge_days: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window CV folds (row indices) over the label dates of the training rows: fold k
    validates on a later block of dates and trains on every earlier date at least `purge_days`
    before that block. Folds with no training date are skipped."""
    from sklearn.model_selection import TimeSeriesSplit

    values = pd.Series(label_dates).to_numpy()
    dates = np.array(sorted(set(values)))
    n_splits = min(n_splits, len(dates) - 1)
    if n_splits < 1:
        return
    for _, test_idx in TimeSeriesSplit(n_splits=n_splits).split(dates):
        test_dates = dates[test_idx]
        cutoff = test_dates[0] - dt.timedelta(days=purge_days)
        train_rows = np.flatnonzero(values <= cutoff)
        test_rows = np.flatnonzero(np.isin(values, test_dates))
        if len(train_rows):
            yield train_rows, test_rows


def bootstrap_ci(
    y: np.ndarray, scores: np.ndarray, groups: np.ndarray,
    metrics: dict[str, Callable[..., float]], n_resamples: int = 200, level: float = 0.95,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Percentile intervals of each metric(y, scores, sample_weight=...) under a cluster bootstrap:
    customers are drawn with replacement and every row carries its customer's draw count as weight.
    Resamples with a single class are skipped (AUC is undefined there)."""
    codes, uniques = pd.factorize(pd.Series(groups))
    rng = np.random.default_rng(seed)
    y = np.asarray(y).astype(int)
    values: dict[str, list[float]] = {k: [] for k in metrics}
    for _ in range(n_resamples):
        w = rng.multinomial(len(uniques), np.full(len(uniques), 1 / len(uniques)))[codes]
        if len(np.unique(y[w > 0])) < 2:
            continue
        for k, fn in metrics.items():
            values[k].append(float(fn(y, scores, sample_weight=w)))
    tail = (1 - level) / 2 * 100
    return {k: [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))]
            for k, v in values.items() if v}


def purge_default(horizon_days: int | None, purge_days: int | None) -> int:
    """The purge gap: as configured, else the label horizon (the outcome window's length)."""
    if purge_days is not None:
        return int(purge_days)
    if horizon_days is None:
        raise SplitError("purge_days is unset and the label horizon is unknown: set purge_days")
    return int(horizon_days)


def dates_of(frame: pd.DataFrame, dates: Sequence[dt.date]) -> pd.DataFrame:
    return frame[frame["label_date"].isin(set(dates))]
