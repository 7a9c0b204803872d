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


class ProjectDailyPartitions(dg.DailyPartitionsDefinition):
    """Dagster's daily partitions, whose unknown-key error names the setting that bounds them: a
    real log from 1997 onboarded with the default start date otherwise gets Dagster's "must have a
    PartitionsDefinition containing the passed partition key `1997-01-01`", which never says that
    `FEATURE_FACTORY_START_DATE` is the fix."""

    def validate_partition_key(self, partition_key: str, context=None) -> None:
        from dagster._core.errors import DagsterInvalidSubsetError, DagsterUnknownPartitionError

        try:
            return super().validate_partition_key(partition_key, context)
        except DagsterUnknownPartitionError:
            message = outside_message(partition_key)
            if message is None:
                raise
            # Not DagsterUnknownPartitionError: the `dagster` CLI would swap this text for its own.
            raise DagsterInvalidSubsetError(message) from None


def outside_message(partition_key: str, start: str | None = None, last: str | None = None) -> str | None:
    """Why a YYYY-MM-DD key is no daily partition (before `FEATURE_FACTORY_START_DATE` or after
    `FEATURE_FACTORY_END_DATE`), naming the setting; None for a key inside them or not a date."""
    try:
        day = dt.date.fromisoformat(partition_key)
    except ValueError:
        return None
    start = start or settings.start_date()
    last = last if last is not None else settings.end_date()
    if day < dt.date.fromisoformat(start):
        return (f"partition {partition_key} is before the first daily partition {start}: set "
                f"FEATURE_FACTORY_START_DATE={partition_key} (or earlier: the first day of your events) in the "
                "environment or the project's .env, then reload the code location")
    if last and day > dt.date.fromisoformat(last):
        return (f"partition {partition_key} is after the last daily partition {last}: set "
                f"FEATURE_FACTORY_END_DATE={partition_key} or later (or unset it), then reload the code location")
    return None


daily_partitions = ProjectDailyPartitions(start_date=settings.start_date(), end_date=_end())

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
