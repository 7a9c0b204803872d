"""The one daily partitions definition every daily asset shares.

Partitions run from `FEATURE_FACTORY_START_DATE` to today (the daily schedule loads yesterday's
partition), so the UI counts every day since 2024-01-01 and shows a demo's 90 days as a few percent
"filled": the other days simply have no events yet. `FEATURE_FACTORY_END_DATE` (last day,
inclusive) bounds them to the data instead, e.g. for a historical data set; keys never change.
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
