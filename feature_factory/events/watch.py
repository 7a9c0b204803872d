"""What the landing sensor should run: pure planning over the landing folder and a cursor.

The cursor maps each seen file to `size:mtime_ns:content_hash`. A file whose size and mtime are
unchanged is not read at all; a touched file with the same content only updates the cursor. New or
changed files are grouped by the contiguous days they cover, one run per group; its run key hashes
the range and each file's path and fingerprint, so a daemon restart (same cursor, or a lost cursor
and the same files) never ingests a file twice, while a rewritten file always gets a new key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from feature_factory.events.landing import LandingFile, file_dates, inspect_file

CURSOR_VERSION = 1


@dataclass(frozen=True)
class PlannedRun:
    first_day: dt.date
    last_day: dt.date  # inclusive
    files: tuple[str, ...]  # "path@fingerprint"
    run_key: str


def load_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    data = json.loads(cursor)
    return dict(data.get("files", {})) if data.get("v") == CURSOR_VERSION else {}


def dump_cursor(seen: dict[str, str]) -> str:
    return json.dumps({"v": CURSOR_VERSION, "files": dict(sorted(seen.items()))}, separators=(",", ":"))


def plan(
    files: list[LandingFile],
    seen: dict[str, str],
    first_day: dt.date,
    last_day: dt.date | None,
    dates_of: Callable[[LandingFile], tuple[dt.date, dt.date] | None] = file_dates,
    ingested: frozenset[dt.date] | set[dt.date] = frozenset(),
) -> tuple[list[PlannedRun], dict[str, str]]:
    """(runs to request, new cursor) for the current landing listing.

    `ingested`: days raw_events already holds (the sensor passes them on its first tick, when it
    has no cursor). A file not in the cursor whose days all lie among them was ingested another way
    (the demo, a backfill): it is recorded as seen, not ingested again. Later changes to it are.

    Days are clipped to the existing partitions [first_day, last_day]. A changed file whose days
    cannot be told (unreadable, no parseable time, outside the partitions) still needs one run to
    be staged and recorded: it rides with the last run of this tick, or gets one for `last_day`.
    """
    if last_day is None:  # no partition exists yet: look again later
        return [], dict(seen)
    new_seen: dict[str, str] = {}
    changed: list[tuple[str, tuple[dt.date, dt.date] | None]] = []
    for f in files:
        prev = seen.get(f.rel)
        if prev and prev.rsplit(":", 1)[0] == f.stat_key:
            new_seen[f.rel] = prev
            continue
        digest, _ = inspect_file(f)
        new_seen[f.rel] = fingerprint = f"{f.stat_key}:{digest}"
        if prev and prev.rsplit(":", 1)[1] == digest:
            continue  # touched, same content
        span = dates_of(f)
        if span:
            lo, hi = max(span[0], first_day), min(span[1], last_day)
            span = (lo, hi) if lo <= hi else None
        if prev is None and span and all(span[0] + dt.timedelta(days=i) in ingested
                                         for i in range((span[1] - span[0]).days + 1)):
            continue  # already in raw_events: seen, not re-ingested
        changed.append((f"{f.rel}@{fingerprint}", span))
    if not changed:
        return [], new_seen

    days = sorted({lo + dt.timedelta(days=i) for _, s in changed if s for lo, hi in [s]
                   for i in range((hi - lo).days + 1)})
    groups: list[list[dt.date]] = []
    for day in days:
        if groups and (day - groups[-1][-1]).days == 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    if not groups:
        groups = [[last_day]]
    undated = [key for key, s in changed if not s]
    runs = []
    for i, group in enumerate(groups):
        lo, hi = group[0], group[-1]
        keys = [key for key, s in changed if s and s[0] <= hi and s[1] >= lo]
        if i == len(groups) - 1:
            keys += undated
        payload = f"{lo}..{hi}|" + "|".join(sorted(keys))
        run_key = f"landing:{lo}..{hi}:{hashlib.sha256(payload.encode()).hexdigest()[:16]}"
        runs.append(PlannedRun(lo, hi, tuple(sorted(keys)), run_key))
    return runs, new_seen
