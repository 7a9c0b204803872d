"""Which training-set columns a model may learn from: constant columns and (near-)identical copies
of an earlier column are dropped before training, each with its reason, which the model's record
keeps (issue 26: on a purchase-only log four features were constant zero and `web_events_7d`
equalled `events_7d` on every row, yet all were trained on; a constant column teaches nothing and
a copy splits one signal's importance in two and hides that the data has less than the catalog
says).

Decided on the training rows only (never the holdout), in catalog order: of two identical columns
the first one stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Screened:
    kept: list[str]
    dropped: dict[str, str] = field(default_factory=dict)  # feature -> why


def screen_features(frame: pd.DataFrame, features: Sequence[str], *, drop_constant: bool = True,
                    max_correlation: float | None = 0.995) -> Screened:
    """Keep the features that vary and are not a (near-)copy of an earlier kept one.

    Constant: at most one distinct non-NULL value and no NULL/non-NULL split (an all-NULL column
    is constant too). Identical: the same values (NULLs included) as an earlier kept feature.
    Near-identical: |Pearson r| >= `max_correlation` with an earlier kept feature, over the rows
    where both are non-NULL, and NULL on the same rows (None: only exact copies)."""
    dropped: dict[str, str] = {}
    kept: list[str] = []
    for f in features:
        col = frame[f]
        if drop_constant:
            values = col.dropna().unique()
            if len(values) <= 1 and (col.isna().all() or col.notna().all()):
                dropped[f] = ("constant: always NULL" if len(values) == 0
                              else f"constant: {float(values[0]):g} on every training row")
                continue
        copy = _copy_of(frame, f, kept, max_correlation)
        if copy:
            dropped[f] = copy
            continue
        kept.append(f)
    return Screened(kept, dropped)


def _copy_of(frame: pd.DataFrame, f: str, kept: list[str], max_correlation: float | None) -> str:
    col = frame[f].to_numpy(dtype=float)
    nulls = np.isnan(col)
    for k in kept:
        other = frame[k].to_numpy(dtype=float)
        if not np.array_equal(nulls, np.isnan(other)):
            continue
        if np.array_equal(col[~nulls], other[~nulls]):
            return f"identical to {k} on every training row"
        if max_correlation is None or (~nulls).sum() < 3:
            continue
        a, b = col[~nulls], other[~nulls]
        if a.std() == 0 or b.std() == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if abs(r) >= max_correlation:
            return f"near-identical to {k} (Pearson r = {r:.4f}, limit {max_correlation:g})"
    return ""
