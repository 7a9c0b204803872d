"""The one daily partitions definition every daily asset shares."""

import dagster as dg

from feature_factory import settings

daily_partitions = dg.DailyPartitionsDefinition(start_date=settings.start_date())

# SQL assets backfill as one run over the partition range: one statement, not one run per day.
single_run_backfill = dg.BackfillPolicy.single_run()
