"""Replayed batches: landing files whose rows repeat rows already stored from other files, under
new ids (no Dagster; the SQL runs in the warehouse, the same text on DuckDB and Snowflake).

Upstream sometimes re-sends days of events in one extra file with freshly minted ids: the event-id
uniqueness check passes, and every count and sum over those days doubles. To drift detection this
looks like a genuine shift (the copy has the same shape as the data), and to attribution the file
is not special (its share of the change equals its share of the rows). What gives it away is
content: the same entity, time, type and amount as a row of another file.

A row's content is every column of the raw table except its lineage (`event_date`,
`source_file`, `source_row`, `ingested_at`) and its ids (columns named `*_id` other than the
entity key): for raw_events `customer_id, event_type, channel, amount, event_ts`. A row is a
copy when a row of the same content sits in another file that was ingested before it (ties: the
file name first in order). A file is a replay when at least `REPLAY_SHARE` (0.9) of its rows are
copies: a few coincidences (two identical purchases in one second) never make a file a replay.

One statement over the event days asked for (the widest drifted window of a judged day): a hash
aggregate on (key, event time) finds the candidate rows, a window over the candidates' content
finds the copies; grouped per (file, event day), so its result is bounded by files x days. Without
copies it costs one aggregate over the window's rows (about 0.3 s of CPU per 3M rows on DuckDB).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from feature_factory.dates import as_date
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # only passed in
    from feature_factory.warehouse.base import Warehouse

REPLAY_SHARE = 0.9
LINEAGE = ("event_date", "source_file", "source_row", "ingested_at")


@dataclass(frozen=True)
class Replay:
    """One replayed file: its rows and copies per event day, and the files it copies."""

    source_file: str
    rows: int
    copies: int
    days: dict[dt.date, int] = field(default_factory=dict)  # event day -> its rows of that day

    @property
    def share(self) -> float:
        return self.copies / self.rows if self.rows else 0.0

    def rows_between(self, first: dt.date, last: dt.date) -> int:
        return sum(n for d, n in self.days.items() if first <= d <= last)

    def evidence(self) -> dict:
        days = sorted(self.days)
        return {"source_file": self.source_file, "rows": self.rows, "copies": self.copies,
                "share": round(self.share, 4), "first_day": str(days[0]) if days else None,
                "last_day": str(days[-1]) if days else None}

    def describe(self) -> str:
        days = sorted(self.days)
        span = f"{days[0]}..{days[-1]}" if days else "no days"
        return (f"{self.source_file} replays {self.copies} of its {self.rows} rows ({self.share:.0%}, event days "
                f"{span}) already stored from other files under new ids")


def content_columns(columns: Sequence[str], key: str) -> list[str]:
    """The columns that say what happened (module doc): not lineage, not an id other than the key."""
    return [c for c in columns if c.lower() not in LINEAGE and (c.lower() == key.lower() or not c.lower().endswith("_id"))]


def copies_sql(raw_table: str, content: Sequence[str], first: dt.date, last: dt.date,
               match: Sequence[str] | None = None) -> str:
    """(source_file, event_date, file_rows, copy_rows) over raw rows of event days [first, last].

    Two steps, so a day without copies costs one hash aggregate: rows whose `match` columns (the
    key and the event time) occur more than once are the only candidates; only they are ordered
    by content to find each content's first holder."""
    if not content:
        raise ValueError(f"{raw_table}: no content columns to compare rows by")
    match = list(match or content)
    part = ", ".join(quote_ident(c) for c in content)
    keys = ", ".join(quote_ident(c) for c in match)
    on = " AND ".join(f"w.{quote_ident(c)} = d.{quote_ident(c)}" for c in match)
    lo, hi = sql_literal(str(first)), sql_literal(str(last))
    # The first holder of each content: the earliest-ingested file (then by name); a row of any
    # other file with the same content is a copy. NULLs compare equal in PARTITION BY (a blank amount).
    return (
        f"WITH w AS (SELECT {part}, source_file, event_date, ingested_at FROM {raw_table} "
        f"WHERE event_date BETWEEN CAST({lo} AS DATE) AND CAST({hi} AS DATE)), "
        f"d AS (SELECT {keys} FROM w GROUP BY {keys} HAVING COUNT(*) > 1), "
        "flagged AS (SELECT w.source_file, w.event_date, CASE WHEN w.source_file <> FIRST_VALUE(w.source_file) "
        f"OVER (PARTITION BY {', '.join('w.' + quote_ident(c) for c in content)} "
        f"ORDER BY w.ingested_at, w.source_file) THEN 1 ELSE 0 END AS copy FROM w JOIN d ON {on}), "
        "c AS (SELECT source_file, event_date, SUM(copy) AS copy_rows FROM flagged GROUP BY source_file, event_date), "
        "t AS (SELECT source_file, event_date, COUNT(*) AS file_rows FROM w GROUP BY source_file, event_date) "
        "SELECT t.source_file, t.event_date, t.file_rows, COALESCE(c.copy_rows, 0) AS copy_rows FROM t "
        "LEFT JOIN c ON c.source_file = t.source_file AND c.event_date = t.event_date")


def match_columns(content: Sequence[str], key: str) -> list[str]:
    """The candidates' key: the entity key and the event time when the table has one (any copy
    shares both), else every content column."""
    time = [c for c in content if c.lower() == "event_ts"]
    return [key, *time] if time and key in content else list(content)


@dataclass(frozen=True)
class Replays:
    """The replayed files of a span of event days (most copies first) and every file's rows per day."""

    files: list[Replay]
    day_rows: dict[dt.date, int]

    def share_between(self, replay: Replay, first: dt.date, last: dt.date) -> float:
        """The replay's part of the raw rows of event days [first, last]."""
        total = sum(n for d, n in self.day_rows.items() if first <= d <= last)
        return replay.rows_between(first, last) / total if total else 0.0


def replayed_files(warehouse: Warehouse, raw_table: str, key: str, first: dt.date, last: dt.date,
                   min_share: float = REPLAY_SHARE) -> Replays:
    """The replayed files with rows in event days [first, last] (module doc)."""
    columns = [c for c, _ in warehouse.columns(raw_table)]
    if not columns or not {"source_file", "ingested_at", "event_date"} <= {c.lower() for c in columns}:
        return Replays([], {})
    per_file: dict[str, list] = {}
    day_rows: dict[dt.date, int] = {}
    for source_file, day, rows, copies in warehouse.fetch_all(
            copies_sql(raw_table, content := content_columns(columns, key), first, last, match_columns(content, key))):
        entry = per_file.setdefault(str(source_file), [0, 0, {}])
        entry[0] += int(rows)
        entry[1] += int(copies or 0)
        entry[2][as_date(day)] = int(rows)
        day_rows[as_date(day)] = day_rows.get(as_date(day), 0) + int(rows)
    found = [Replay(f, rows, copies, days) for f, (rows, copies, days) in per_file.items()
             if rows and copies / rows >= min_share]
    return Replays(sorted(found, key=lambda r: (-r.copies, r.source_file)), day_rows)
