"""The core helpers every domain shares: date coercion and partition-range run tags."""

import datetime as dt

import pandas as pd

from feature_factory.dates import as_date
from feature_factory.partitions import RANGE_END_TAG, RANGE_START_TAG, range_tags, tagged_days


def test_as_date_accepts_what_the_backends_return():
    day = dt.date(2024, 3, 5)
    assert [as_date(v) for v in (day, dt.datetime(2024, 3, 5, 13, 0), pd.Timestamp("2024-03-05 07:00"),
                                 "2024-03-05", "2024-03-05 00:00:00")] == [day] * 5
    assert as_date(None) is None


def test_range_tags_round_trip_and_single_partitions():
    tags = range_tags(dt.date(2024, 3, 1), "2024-03-06")
    assert tags == {RANGE_START_TAG: "2024-03-01", RANGE_END_TAG: "2024-03-06"}
    assert tagged_days(tags) == (dt.date(2024, 3, 1), dt.date(2024, 3, 6))
    assert tagged_days({"dagster/partition": "2024-03-02"}) == (dt.date(2024, 3, 2), dt.date(2024, 3, 2))
    assert tagged_days({}) is None and tagged_days({"dagster/partition": "not-a-day"}) is None
