"""Is a day's feed complete? Landed rows of the day against comparable recent days (pure, plus one
bounded read).

`STALE` means the feed is incomplete, not that the snapshot has fewer rows than the baseline: a
cohort that ages out of the snapshot population (customers leave it some days after their last
event) shrinks every snapshot day without a single file missing. So the day's landed rows (the
entity's raw table, rows per `event_date`) are compared with what landed on comparable recent days:

| step       | rule                                                                                    |
|------------|-----------------------------------------------------------------------------------------|
| comparable | the `lookback` (28) days before the day, from the first landed day on; the same weekday  |
|            | among them when at least 3 exist (weekly patterns), else all of them (>= `min_days`, 7)  |
| expected   | their median (a missing day among them does not drag it down), of rows and of the       |
|            | landing files the day's rows came from                                                   |
| short      | nothing landed; or landed < `share` (0.6) x expected, the shortfall beyond noise (at     |
|            | least `z` (3) x max(sqrt(expected), 1.4826 x MAD of the comparable days)), *and* fewer   |
|            | landing files than the comparable days' median                                           |

A day missing half of its files lands about half its rows from half the files: short. A quiet day
of a complete feed (a holiday: CDNOW's Sunday before Christmas landed 51 purchases against 104 on
earlier Sundays, from the same single file) is as low in rows but not in files: not short, nothing
is missing. A slow decline moves the comparable days with it, so it never looks short either
(trend of volume: volume_trend.py). The price: a file cut short in a feed of one file a day
(files equal, rows short) is not STALE here; ingestion's quarantine and the file checks see it.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feature_factory.dates import as_date

if TYPE_CHECKING:  # drift.py imports this module: no Dagster (warehouse.base) at import time
    from feature_factory.warehouse.base import Warehouse

LOOKBACK_DAYS = 28
MIN_DAYS = 7
SAME_WEEKDAY_MIN = 3


@dataclass(frozen=True)
class FeedDay:
    """The landed rows of one day and what comparable days landed (`expected` None: too little
    history to judge)."""

    day: dt.date
    landed: int
    expected: float | None = None
    spread: float = 0.0  # robust standard deviation of the comparable days (1.4826 x MAD)
    comparable: int = 0
    files: int | None = None  # landing files the day's rows came from (None: unknown)
    expected_files: float | None = None  # their median over the comparable days

    @property
    def ratio(self) -> float | None:
        return self.landed / self.expected if self.expected else None

    def short(self, share: float = 0.6, z: float = 3.0) -> bool:
        """Fewer landed rows than `share` of the comparable days' median, beyond their noise."""
        if not self.expected:
            return False
        if self.landed == 0:
            return True
        noise = max(math.sqrt(self.expected), self.spread)
        rows_short = self.landed < share * self.expected and (self.expected - self.landed) >= z * noise
        # Rows alone cannot tell a quiet day from a missing file; the files it landed from can.
        files_short = self.files is None or self.expected_files is None or self.files < self.expected_files
        return rows_short and files_short

    def describe(self) -> str:
        if self.expected is None:
            return f"{self.landed} rows landed for {self.day} (too few earlier days to compare)"
        files = (f", from {self.files} landing file(s) vs {self.expected_files:g}"
                 if self.files is not None and self.expected_files is not None else "")
        return (f"{self.landed} rows landed for {self.day} vs {self.expected:.0f} on comparable recent days "
                f"(median of {self.comparable}){files}")


def feed_day(day: dt.date, counts: Mapping[dt.date, int], lookback: int = LOOKBACK_DAYS,
             min_days: int = MIN_DAYS, files: Mapping[dt.date, int] | None = None) -> FeedDay:
    """`day`'s landed rows against the comparable days in `counts` (landed rows per event day;
    a day absent from it, between the first landed day and `day`, landed nothing); `files`: the
    landing files each day's rows came from (None: unknown, rows decide alone)."""
    landed = int(counts.get(day, 0))
    first = min(counts, default=day)
    earlier = [day - dt.timedelta(days=i) for i in range(1, lookback + 1)]
    earlier = [d for d in earlier if d >= first]
    if len(earlier) < min_days:
        return FeedDay(day, landed)
    same = [d for d in earlier if d.weekday() == day.weekday()]
    picked = same if len(same) >= SAME_WEEKDAY_MIN else earlier
    values = [float(counts.get(d, 0)) for d in picked]
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    if files is None:
        return FeedDay(day, landed, median, 1.4826 * mad, len(values))
    return FeedDay(day, landed, median, 1.4826 * mad, len(values), int(files.get(day, 0)),
                   statistics.median(float(files.get(d, 0)) for d in picked))


def landed_counts(warehouse: Warehouse, table: str, first: dt.date, last: dt.date,
                  lookback: int = LOOKBACK_DAYS) -> tuple[dict[dt.date, int], dict[dt.date, int] | None]:
    """(rows, landing files) of `table` per `event_date` over [first - lookback, last] (one
    GROUP BY, one row a day); files None when the table has no `source_file`; ({}, None) when the
    table does not exist."""
    if not warehouse.table_exists(table):
        return {}, None
    has_files = "source_file" in {c.lower() for c, _ in warehouse.columns(table)}
    files = "COUNT(DISTINCT source_file)" if has_files else "0"
    rows = warehouse.fetch_all(
        f"SELECT event_date, COUNT(*), {files} FROM {table} "
        "WHERE event_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) GROUP BY event_date",
        [str(first - dt.timedelta(days=lookback)), str(last)])
    counts = {as_date(d): int(n) for d, n, _ in rows if d is not None}
    return counts, ({as_date(d): int(f) for d, _, f in rows if d is not None} if has_files else None)
