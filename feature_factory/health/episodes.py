"""Robust baselines and the trailing episode of a series: the shared core of every rule.

A series' normal is its median and robust spread (1.4826 x MAD, floored at a share of the median
so a perfectly steady series does not alarm on a 1% wobble), learned from the points *before* the
episode being judged, so a sustained change does not become its own baseline. The episode is the
longest run of trailing points that each deviate from that baseline: its first point is the onset,
which stays the same while the episode lasts (the finding's key).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826
SIGMA_FLOOR = 0.05  # of the median


@dataclass(frozen=True)
class Baseline:
    median: float
    sigma: float
    n: int

    def z(self, value: float) -> float:
        return (value - self.median) / self.sigma if self.sigma > 0 else 0.0


def baseline(values: Sequence[float], floor: float = SIGMA_FLOOR) -> Baseline:
    v = np.asarray(values, dtype=float)
    med = float(np.median(v))
    mad = float(np.median(np.abs(v - med))) * MAD_TO_SIGMA
    return Baseline(med, max(mad, abs(med) * floor, 1e-9), len(v))


@dataclass(frozen=True)
class Episode:
    start: int  # index of the onset in the series
    length: int
    base: Baseline


def trailing_episode(values: Sequence[float], deviates: Callable[[float, Baseline], bool], window: int,
                     min_baseline: int, max_length: int = 60, look_past: int = 2) -> Episode | None:
    """The longest run of trailing points that each `deviates` from the baseline of the `window`
    points before the run (at least `min_baseline` of them); None when no trailing run does.

    A shorter run failing does not end the search: judged alone, the last point's baseline holds
    the episode's first points (a 2x step after one 2.2x run reads as 1.5x of a median the 2.2x
    run has raised), while the run from the onset, judged against what came before it, deviates
    throughout. The search stops `look_past` lengths beyond the longest run found."""
    n = len(values)
    found = None
    for length in range(1, min(max_length, n - min_baseline) + 1):
        if length > (found.length if found else 0) + look_past:
            break
        start = n - length
        base = baseline(values[max(0, start - window):start])
        if all(deviates(v, base) for v in values[start:]):
            found = Episode(start, length, base)
    return found
