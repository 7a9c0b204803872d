"""The one daily partitions definition every daily asset shares.

Partitions run from `FEATURE_FACTORY_START_DATE` to today (the daily schedule loads yesterday's
partition), so the UI would count every day since 2024-01-01 and show a demo's 90 days as a few
percent "filled". `FEATURE_FACTORY_END_DATE` (last day, inclusive) bounds them to the data instead;
`make demo` writes it into the project home's `.env` (project_env), which the code location reads
on every load, and `generate --append-days` moves it, so the UI counts the days that have data.
Keys never change.
"""

import datetime as dt
import warnings

import dagster as dg

from feature_factory import settings

# `backfill_policy` on @asset is marked beta in Dagster 1.13 though it is the documented way to
# backfill a range in one run (DESIGN.md); said once here, not as a warning per asset on every load.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function", category=dg.BetaWarning)


def _end() -> str | None:
    last = settings.end_date()
    return str(dt.date.fromisoformat(last) + dt.timedelta(days=1)) if last else None  # Dagster's end is exclusive


daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.start_date(), end_date=_end())

# SQL assets backfill as one run over the partition range: one statement, not one run per day.
single_run_backfill = dg.BackfillPolicy.single_run()

# The tags Dagster reads for a run over a partition range (what a backfill sets).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def range_tags(first: dt.date | str, last: dt.date | str) -> dict[str, str]:
    """Run tags for one run over the days first..last (inclusive)."""
    return {RANGE_START_TAG: str(first), RANGE_END_TAG: str(last)}


def tagged_days(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The days first..last a run's tags name (a range, or one partition); None if they name none
    or are not ISO dates."""
    start = tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)
    end = tags.get(RANGE_END_TAG) or tags.get(PARTITION_TAG)
    if not (start and end):
        return None
    try:
        return dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        return None
