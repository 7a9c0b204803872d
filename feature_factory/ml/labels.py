"""Churn labels, computed in the warehouse from `raw_events`.

A label at `label_date` L is "as of the start of day L": the customer is eligible when they had any
event in the `lookback_days` days before L (event days [L - lookback, L - 1]) and is churned when
they make no purchase on event days [L, L + horizon). Only label dates whose outcome window is
complete (L + horizon - 1 <= the last event day loaded) are labelled, so a label never depends on
days that have not happened yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from feature_factory import tables
from feature_factory.dates import as_date
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # the settings model imports without Dagster (warehouse.base brings it)
    from feature_factory.warehouse.base import Warehouse



class LabelSettings(BaseModel):
    """The label definition: the one source of its defaults (`configs.LabelConfig` inherits these
    fields for the Launchpad; the functions below default to them)."""

    model_config = ConfigDict(frozen=True)

    label_dates: list[str] = Field(
        default_factory=list,
        description="Explicit label dates (YYYY-MM-DD). Empty: every `every_days` days in "
        "[first_label_date, last_label_date].",
    )
    first_label_date: str | None = Field(
        default=None, description="First label date; default first event day + min_history_days."
    )
    last_label_date: str | None = Field(
        default=None, description="Last label date; default the latest with a complete outcome window."
    )
    every_days: int = Field(default=7, description="Spacing of generated label dates, in days.")
    horizon_days: int = Field(
        default=14,
        description="Churned = no purchase on days [L, L + horizon_days). Also the default purge gap "
        "of the out-of-time split, so 90 days of events leave room for training and holdout dates.",
    )
    activity_lookback_days: int = Field(
        default=90, description="Eligible at L = any event on days [L - lookback, L - 1]."
    )
    min_history_days: int = Field(
        default=28, description="Default first label date is this many days after the first event "
        "(set it, or first_label_date, past an acquisition period to start the label window after it)."
    )
    min_tenure_days: int = Field(
        default=0,
        description="Label a customer at L only when their first event is at least this many days before "
        "L: customers still in their acquisition period (a first purchase with no time to repeat yet) "
        "churn at another rate than the established ones; 0 = every customer active in the lookback.",
    )


_D = LabelSettings()


class LabelError(ValueError):
    """Labels cannot be built as asked; the message says why and what to change."""


@dataclass(frozen=True)
class LabelPlan:
    """Which label dates get labels, and which asked-for dates were skipped and why."""

    dates: list[dt.date]
    skipped: dict[str, str] = field(default_factory=dict)
    first_event_date: dt.date | None = None
    last_event_date: dt.date | None = None


def _parse(value: str | dt.date, what: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise LabelError(f"{what}={value!r} is not a date in YYYY-MM-DD form") from exc


def plan_label_dates(
    *,
    first_event_date: dt.date,
    last_event_date: dt.date,
    horizon_days: int = _D.horizon_days,
    label_dates: Sequence[str | dt.date] = (),
    first_label_date: str | dt.date | None = None,
    last_label_date: str | dt.date | None = None,
    every_days: int = _D.every_days,
    min_history_days: int = _D.min_history_days,
) -> LabelPlan:
    """Resolve the label dates: an explicit list, or every `every_days` days between two dates.

    Without explicit dates the range runs from `min_history_days` after the first event (so
    features have some history) to the latest date whose outcome window is complete, stepping back
    from that latest date so the newest possible label is always included.
    """
    if horizon_days < 1:
        raise LabelError(f"horizon_days must be >= 1, got {horizon_days}")
    if every_days < 1:
        raise LabelError(f"every_days must be >= 1, got {every_days}")
    latest_complete = last_event_date - dt.timedelta(days=horizon_days - 1)
    skipped: dict[str, str] = {}
    if label_dates:
        candidates = sorted({_parse(d, "label_dates") for d in label_dates})
    else:
        first = (
            _parse(first_label_date, "first_label_date")
            if first_label_date
            else first_event_date + dt.timedelta(days=min_history_days)
        )
        last = _parse(last_label_date, "last_label_date") if last_label_date else latest_complete
        if first > last:
            raise LabelError(
                f"no label dates between {first} and {last}: events run {first_event_date}.."
                f"{last_event_date}, and a {horizon_days}-day outcome window needs label dates "
                f"<= {latest_complete}"
            )
        candidates = []
        day = last
        while day >= first:
            candidates.append(day)
            day -= dt.timedelta(days=every_days)
        candidates.sort()
    dates = []
    for d in candidates:
        if d > latest_complete:
            skipped[d.isoformat()] = (
                f"outcome window {d}..{d + dt.timedelta(days=horizon_days - 1)} is not complete "
                f"(last event date {last_event_date})"
            )
        elif d <= first_event_date:
            skipped[d.isoformat()] = f"no activity history before {d} (first event {first_event_date})"
        else:
            dates.append(d)
    if not dates:
        raise LabelError(
            f"none of the label dates can be labelled: {skipped}. Latest labellable date with a "
            f"{horizon_days}-day horizon is {latest_complete}"
        )
    return LabelPlan(dates, skipped, first_event_date, last_event_date)


def event_date_range(warehouse: Warehouse) -> tuple[dt.date, dt.date]:
    """First and last event day in `raw_events` (one aggregate row)."""
    if not warehouse.table_exists(tables.RAW_EVENTS.name):
        raise LabelError(f"table {tables.RAW_EVENTS.name} does not exist: materialize raw_events first")
    row = warehouse.fetch_one(f"SELECT MIN(event_date), MAX(event_date) FROM {tables.RAW_EVENTS.name}")
    if not row or row[0] is None:
        raise LabelError(f"table {tables.RAW_EVENTS.name} is empty: no events to label churn from")
    return as_date(row[0]), as_date(row[1])


def _utc_now() -> dt.datetime:
    # A literal, not CURRENT_TIMESTAMP: Snowflake's is in the session's zone, ours is UTC.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def labels_sql(
    warehouse: Warehouse, dates: Sequence[dt.date], horizon_days: int, lookback_days: int,
    min_tenure_days: int = 0,
) -> str:
    """One statement: eligible (customer, label_date) pairs with their outcome.

    Reads only the event days some label needs: [first label - lookback, last label + horizon),
    plus, with `min_tenure_days`, each customer's first event day.
    """
    if not dates:
        raise LabelError("labels_sql needs at least one label date")
    if lookback_days < 1:
        raise LabelError(f"activity lookback_days must be >= 1, got {lookback_days}")
    if min_tenure_days < 0:
        raise LabelError(f"min_tenure_days must be >= 0, got {min_tenure_days}")
    tenure_cte, tenure_where = "", ""
    if min_tenure_days > 0:
        tenure_cte = (f"first_seen AS (SELECT customer_id, MIN(event_date) AS first_date FROM "
                      f"{tables.RAW_EVENTS.name} WHERE customer_id IS NOT NULL GROUP BY customer_id),\n")
        tenure_where = (f"\nJOIN first_seen fs ON fs.customer_id = el.customer_id "
                        f"AND fs.first_date <= {warehouse.date_add_days('el.label_date', -int(min_tenure_days))}")
    date_rows = " UNION ALL ".join(f"SELECT {sql_literal(d)} AS label_date" for d in dates)
    lookback_start = warehouse.date_add_days("d.label_date", -int(lookback_days))
    outcome_end = warehouse.date_add_days("d.label_date", int(horizon_days))
    scan_from = sql_literal(min(dates) - dt.timedelta(days=int(lookback_days)))
    scan_to = sql_literal(max(dates) + dt.timedelta(days=int(horizon_days)))
    # Collapse events to one row per customer-day first (and only the days any label reads), so
    # the range joins below touch customer-days, not events.
    return f"""
WITH label_dates AS ({date_rows}),
{tenure_cte}daily AS (
    SELECT customer_id, event_date,
           SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases
    FROM {tables.RAW_EVENTS.name}
    WHERE event_date >= {scan_from} AND event_date < {scan_to} AND customer_id IS NOT NULL
    GROUP BY customer_id, event_date
),
eligible AS (
    SELECT e.customer_id, d.label_date, MAX(e.event_date) AS last_event_date
    FROM label_dates d
    JOIN daily e ON e.event_date >= {lookback_start} AND e.event_date < d.label_date
    GROUP BY e.customer_id, d.label_date
),
outcome AS (
    SELECT e.customer_id, d.label_date, SUM(e.purchases) AS purchases
    FROM label_dates d
    JOIN daily e ON e.event_date >= d.label_date AND e.event_date < {outcome_end}
    WHERE e.purchases > 0
    GROUP BY e.customer_id, d.label_date
)
SELECT
    el.customer_id,
    el.label_date,
    CAST(CASE WHEN COALESCE(o.purchases, 0) = 0 THEN 1 ELSE 0 END AS BIGINT) AS churned,
    CAST(COALESCE(o.purchases, 0) AS BIGINT) AS outcome_purchases,
    el.last_event_date,
    CAST({int(horizon_days)} AS BIGINT) AS horizon_days,
    {sql_literal(_utc_now())} AS created_at
FROM eligible el{tenure_where}
LEFT JOIN outcome o ON o.customer_id = el.customer_id AND o.label_date = el.label_date
"""


@dataclass(frozen=True)
class LabelSummary:
    rows: int
    plan: LabelPlan
    per_date: list[tuple[dt.date, int, int]]  # (label_date, labels, churned)

    @property
    def churn_rate(self) -> float | None:
        churned = sum(c for _, _, c in self.per_date)
        return churned / self.rows if self.rows else None


def build_labels(
    warehouse: Warehouse,
    *,
    horizon_days: int = _D.horizon_days,
    lookback_days: int = _D.activity_lookback_days,
    label_dates: Sequence[str | dt.date] = (),
    first_label_date: str | dt.date | None = None,
    last_label_date: str | dt.date | None = None,
    every_days: int = _D.every_days,
    min_history_days: int = _D.min_history_days,
    min_tenure_days: int = _D.min_tenure_days,
) -> LabelSummary:
    """Replace `churn_labels` atomically and summarise it per label date."""
    first_event, last_event = event_date_range(warehouse)
    plan = plan_label_dates(
        first_event_date=first_event,
        last_event_date=last_event,
        horizon_days=horizon_days,
        label_dates=label_dates,
        first_label_date=first_label_date,
        last_label_date=last_label_date,
        every_days=every_days,
        min_history_days=min_history_days,
    )
    rows = warehouse.replace_table(
        tables.CHURN_LABELS.name, labels_sql(warehouse, plan.dates, horizon_days, lookback_days, min_tenure_days)
    )
    per_date = [
        (as_date(d), int(n), int(c or 0))
        for d, n, c in warehouse.fetch_all(
            f"SELECT label_date, COUNT(*), SUM(churned) FROM {tables.CHURN_LABELS.name} "
            "GROUP BY label_date ORDER BY label_date"
        )
    ]
    return LabelSummary(rows, plan, per_date)
