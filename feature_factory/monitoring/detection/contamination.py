"""Days a baseline capture must not absorb: contamination findings and clipped days (no Dagster).

A baseline is "normal" by definition: every later day is judged against it. A day whose data was
found contaminated (an outlier burst, blank inputs, a type change, one bad landing file, a replayed
batch) would make that contamination normal, and the drift it caused would stop alerting while
it continues. So a capture leaves out of its window:

| reason     | a day of the window on which                                                      |
|------------|-----------------------------------------------------------------------------------|
| finding    | `drift_alerts` (the entity's alerts) holds a row at `min_severity` or above whose  |
|            | diagnosis is a contamination (`CONTAMINATION`: tail_contamination, single_source,  |
|            | missing_data, type_or_schema), on any feature of the entity: a burst in one file   |
|            | moves every feature that reads those rows, also those not (yet) alerting           |
| clip       | an applied (active) `clip` patch changes at least one value of its feature: the    |
|            | alerts judged after the clip no longer show the contamination it hides             |

A finding is open while the day's stored alert row says so: re-judging the day after the cause
was fixed (an exclusion applied, the file re-ingested) closes it. Genuine population shifts are
not contamination: a refresh exists to accept those.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from feature_factory.dates import as_date
from feature_factory.monitoring.kinds import Diagnosis
from feature_factory.monitoring.subject import CUSTOMER, Subject
from feature_factory.monitoring.detection.thresholds import severity_rank
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # only passed in
    from feature_factory.warehouse.base import Warehouse

CONTAMINATION = (Diagnosis.TAIL_CONTAMINATION, Diagnosis.SINGLE_SOURCE, Diagnosis.MISSING_DATA,
                 Diagnosis.TYPE_OR_SCHEMA)


def finding_days(warehouse: Warehouse, start: dt.date, end: dt.date, subject: Subject = CUSTOMER,
                 min_severity: str = "medium") -> dict[dt.date, str]:
    """Day -> why (the features and diagnoses found on it), for days of [start, end] with an open
    contamination finding (module table)."""
    if not warehouse.table_exists(subject.alerts.name):
        return {}
    if "diagnosis" not in {c for c, _ in warehouse.columns(subject.alerts.name)}:
        return {}  # alerts written before diagnoses existed: nothing to go by
    kinds = ", ".join(sql_literal(str(d)) for d in CONTAMINATION)
    rows = warehouse.fetch_all(
        f"SELECT alert_date, feature, diagnosis FROM {subject.alerts} "
        f"WHERE alert_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) AND diagnosis IN ({kinds}) "
        f"AND severity_rank >= ? ORDER BY alert_date, feature", [str(start), str(end), severity_rank(min_severity)])
    found: dict[dt.date, list[str]] = {}
    for day, feature, diagnosis in rows:
        found.setdefault(as_date(day), []).append(f"{feature} {diagnosis}")
    return {d: "finding: " + ", ".join(items[:3]) + (f" (+{len(items) - 3})" if len(items) > 3 else "")
            for d, items in found.items()}


def active_clips(warehouse: Warehouse, subject: Subject = CUSTOMER) -> list[tuple[str, float, float]]:
    """(feature, lower, upper) of every active clip patch of the entity."""
    table = subject.patches.name
    if not warehouse.table_exists(table):
        return []
    out = []
    for feature, params in warehouse.fetch_all(
            f"SELECT feature, params FROM {table} WHERE action = 'clip' ORDER BY feature"):
        p = json.loads(params) if isinstance(params, str) else dict(params)
        out.append((str(feature), float(p["lower"]), float(p["upper"])))
    return out


def clipped_days(warehouse: Warehouse, start: dt.date, end: dt.date, subject: Subject = CUSTOMER,
                 present: set[str] | None = None) -> dict[dt.date, str]:
    """Day -> why, for days of [start, end] on which an active clip changes a value (one grouped
    statement over the unpatched columns; `present`: the feature table's columns, when known)."""
    clips = [c for c in active_clips(warehouse, subject) if present is None or c[0] in present]
    if not clips:
        return {}
    cases = ", ".join(
        f"SUM(CASE WHEN {quote_ident(f)} < {sql_literal(lo)} OR {quote_ident(f)} > {sql_literal(hi)} "
        f"THEN 1 ELSE 0 END) AS c{i}" for i, (f, lo, hi) in enumerate(clips))
    rows = warehouse.fetch_all(
        f"SELECT snapshot_date, {cases} FROM {subject.features} "
        f"WHERE snapshot_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE) GROUP BY snapshot_date",
        [str(start), str(end)])
    out = {}
    for day, *counts in rows:
        hit = [f"{clips[i][0]} ({int(n)} values)" for i, n in enumerate(counts) if n]
        if hit:
            out[as_date(day)] = "clipped: " + ", ".join(hit[:3])
    return out


def excluded_days(warehouse: Warehouse, start: dt.date, end: dt.date, subject: Subject = CUSTOMER,
                  min_severity: str = "medium") -> dict[dt.date, str]:
    """Every day of [start, end] a capture must leave out, with why (module table), sorted."""
    present = {c for c, _ in warehouse.columns(subject.features)}
    days = finding_days(warehouse, start, end, subject, min_severity)
    for day, why in clipped_days(warehouse, start, end, subject, present).items():
        days[day] = f"{days[day]}; {why}" if day in days else why
    return dict(sorted(days.items()))
