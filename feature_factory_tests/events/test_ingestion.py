"""Validated ingestion on both backends: the same landing files give the same rows everywhere."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest
from ingest_helpers import D1, D2, D3, D4, ev, table

from feature_factory.events.contract import Reason

RAW = "event_id, customer_id, event_type, channel, amount, event_ts, event_date, source_file, source_row"
QUAR = "source_file, source_row, event_id, reason, event_date"


def test_each_quarantine_reason(warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [
        ev("e1"),                                                          # 1 accepted
        ("e2", "c1", "browse", "mobile", "", "2024-01-01T11:00:00Z"),      # 2 accepted, missing amount
        ("", "c1", "browse", "web", "1", "2024-01-01T11:00:00Z"),          # 3
        ("e4", "  ", "browse", "web", "1", "2024-01-01T11:00:00Z"),        # 4
        ev("e5", etype="teleport"),                                        # 5
        ev("e6", channel="tv"),                                            # 6
        ev("e7", amount="-3"),                                             # 7
        ev("e8", amount="abc"),                                            # 8
        ("e9", "c1", "browse", "web", "1", "yesterday"),                   # 9
        ("e10", "c1", "browse", "web", "1", "2024-06-01T00:00:00Z"),       # 10
        ("e11", "c1", "browse", "web", "1", "2023-12-31T10:00:00Z"),       # 11
        ev("e1", hour=12),                                                 # 12
        ev("e13", amount="NaN"),                                           # 13
    ])
    result = ingest(warehouse, D1)
    f = "events_2024-01-01.csv"
    assert table(warehouse, "raw_events", "event_id, amount, event_date, source_row") == [
        ("e1", 10.0, D1, 1), ("e2", None, D1, 2)]
    assert table(warehouse, "quarantined_events", QUAR) == [
        (f, 3, "", Reason.NULL_OR_EMPTY_KEY.value, D1),
        (f, 4, "e4", Reason.NULL_OR_EMPTY_KEY.value, D1),
        (f, 5, "e5", Reason.UNKNOWN_EVENT_TYPE.value, D1),
        (f, 6, "e6", Reason.UNKNOWN_CHANNEL.value, D1),
        (f, 7, "e7", Reason.NEGATIVE_AMOUNT.value, D1),
        (f, 8, "e8", Reason.NON_NUMERIC_AMOUNT.value, D1),
        (f, 9, "e9", Reason.UNPARSEABLE_TIMESTAMP.value, None),
        (f, 10, "e10", Reason.TIMESTAMP_IN_FUTURE.value, None),
        (f, 11, "e11", Reason.TIMESTAMP_BEFORE_START.value, None),
        (f, 12, "e1", Reason.DUPLICATE_IN_BATCH.value, D1),
        (f, 13, "e13", Reason.NON_NUMERIC_AMOUNT.value, D1),
    ] or table(warehouse, "quarantined_events", QUAR)
    assert result.rows_read == 13 == result.rows_accepted + result.rows_quarantined
    assert (result.rows_accepted, result.rows_quarantined) == (2, 11)
    assert result.by_reason()[Reason.NULL_OR_EMPTY_KEY.value] == 2
    assert result.by_file() == {f: {"read": 13, "accepted": 2, "quarantined": 11}}
    # Raw values are kept as landed, for the person fixing the feed.
    assert warehouse.fetch_one(
        "SELECT amount, event_ts, detail FROM quarantined_events WHERE source_row = 9") == (
        "1", "yesterday", "event_ts is missing or not an ISO-8601 timestamp; the row belongs to no day")


def test_values_are_normalised_and_days_are_utc(warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [
        (" e1 ", " c1 ", "Purchase ", " WEB", " 5 ", "2024-01-01T23:30:00-01:00"),  # UTC: Jan 2
        ("e2", "c2", "refund", "mobile", "1e1", "2024-01-01 08:15:00"),
        ("e3", "c2", "browse", "web", "0", "2024-01-01T00:00:00Z"),
    ])
    first = ingest(warehouse, D1)
    assert first.rows_read == 2  # the Jan-2 row belongs to the next partition
    ingest(warehouse, D2)
    assert table(warehouse, "raw_events", RAW, "event_id") == [
        ("e1", "c1", "purchase", "web", 5.0, dt.datetime(2024, 1, 2, 0, 30), D2, "events_2024-01-01.csv", 1),
        ("e2", "c2", "refund", "mobile", 10.0, dt.datetime(2024, 1, 1, 8, 15), D1, "events_2024-01-01.csv", 2),
        ("e3", "c2", "browse", "web", 0.0, dt.datetime(2024, 1, 1), D1, "events_2024-01-01.csv", 3),
    ]


def test_rematerializing_replaces_and_never_duplicates(warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1"), ev("e2", hour=11), ev("e3", amount="-1"), ev("e1", hour=12)])
    write_csv("events_2024-01-02.csv", [ev("e4", day=2)])
    ingest(warehouse, D1, D3)
    snapshot = (table(warehouse, "raw_events", RAW), table(warehouse, "quarantined_events", QUAR))
    again = ingest(warehouse, D1, D3)
    assert (table(warehouse, "raw_events", RAW), table(warehouse, "quarantined_events", QUAR)) == snapshot
    assert [r[0] for r in snapshot[0]] == ["e1", "e2", "e4"]
    # Its own earlier rows are not duplicates of themselves.
    assert again.by_reason() == {Reason.NEGATIVE_AMOUNT.value: 1, Reason.DUPLICATE_IN_BATCH.value: 1}
    assert {f.status for f in again.sync.files} == {"unchanged"}


def test_duplicates_against_other_partitions(warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1"), ev("e2")])
    write_csv("events_2024-01-02.csv", [ev("e1", day=2), ev("e3", day=2)])
    ingest(warehouse, D1)
    day2 = ingest(warehouse, D2)
    assert day2.by_reason() == {Reason.DUPLICATE_OF_STORED.value: 1}
    ingest(warehouse, D2)
    ingest(warehouse, D1)  # Jan 1 keeps e1: the stored copy is its own
    assert table(warehouse, "raw_events", "event_id, event_date", "event_id") == [
        ("e1", D1), ("e2", D1), ("e3", D2)]
    assert table(warehouse, "quarantined_events", QUAR) == [
        ("events_2024-01-02.csv", 1, "e1", Reason.DUPLICATE_OF_STORED.value, D2)]


def test_unparseable_timestamp_quarantined_exactly_once(warehouse, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1"), ("e2", "c1", "browse", "web", "", "not-a-time")])
    runs = [ingest(warehouse, D1), ingest(warehouse, D2)]
    write_csv("events_2024-01-03.csv", [ev("e3", day=3)])  # another file arriving changes nothing
    runs.append(ingest(warehouse, D1, D4))
    undated = "SELECT source_row, reason FROM quarantined_events WHERE event_date IS NULL"
    assert warehouse.fetch_all(undated) == [(2, Reason.UNPARSEABLE_TIMESTAMP.value)]
    # Stored once, but counted by every run that reads its file (day 1): a run's "read N" is all
    # the rows of the files it read, including those quarantined when the file was first staged.
    assert [r.by_reason().get(Reason.UNPARSEABLE_TIMESTAMP.value, 0) for r in runs] == [1, 0, 1]
    assert [r.by_file().get("events_2024-01-01.csv", {}).get("read", 0) for r in runs] == [2, 0, 2]
    # A new version of the file replaces the old version's undated rows (still once).
    write_csv("events_2024-01-01.csv", [ev("e1"), ("e2", "c1", "browse", "web", "", "still-bad"),
                                        ("e9", "c1", "browse", "web", "", "")])
    ingest(warehouse, D2)
    assert warehouse.fetch_all(undated + " ORDER BY source_row") == [
        (2, Reason.UNPARSEABLE_TIMESTAMP.value), (3, Reason.UNPARSEABLE_TIMESTAMP.value)]


def test_range_run_writes_only_days_in_range(duckdb_warehouse, write_csv, ingest):
    warehouse = duckdb_warehouse
    write_csv("batch.csv", [ev("a", day=1), ev("b", day=2), ev("c", day=3), ev("d", day=3, amount="x")])
    result = ingest(warehouse, D2, D4)
    assert table(warehouse, "raw_events", "event_id, event_date", "event_id") == [("b", D2), ("c", D3)]
    assert table(warehouse, "quarantined_events", "event_id, event_date") == [("d", D3)]
    assert (result.rows_read, result.rows_accepted) == (3, 2)


def test_malformed_files_are_quarantined_and_others_kept(warehouse, landing, write_csv, ingest):
    write_csv("events_2024-01-01.csv", [ev("e1"), ev("e2")])
    (landing / "garbage.csv").write_bytes(bytes(range(256)) * 4)
    (landing / "empty.csv").write_bytes(b"")
    (landing / "latin1.csv").write_bytes("event_id,customer_id\né1,c\n".encode("latin-1"))
    (landing / "broken.parquet").write_bytes(b"PAR1 definitely not parquet")
    (landing / "notes.txt").write_text("hello")
    (landing / ".partial.csv").write_text("in-flight writes are hidden files")
    (landing / "headers_only.csv").write_text("x,y\n1,2\n")
    result = ingest(warehouse, D1)
    assert table(warehouse, "raw_events", "event_id") == [("e1",), ("e2",)]
    rows = table(warehouse, "quarantined_events", "source_file, source_row, reason, detail, event_date")
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("broken.parquet", None, "unreadable_file", None),
        ("empty.csv", None, "unreadable_file", None),
        ("garbage.csv", None, "unreadable_file", None),
        ("headers_only.csv", None, "unreadable_file", None),
        ("latin1.csv", None, "unreadable_file", None),
        ("notes.txt", None, "unsupported_file_type", None),
    ]
    for name, _, _, detail, _ in rows:  # each error names its file and says what is wrong
        assert str(landing / name) in detail
    details = {r[0]: r[3] for r in rows}
    assert "empty file" in details["empty.csv"] and "not UTF-8" in details["latin1.csv"]
    assert "no contract column" in details["headers_only.csv"] and "'.txt'" in details["notes.txt"]
    assert sorted(f.source_file for f in result.sync.with_status("quarantined")) == [r[0] for r in rows]
    # Recorded once: a second run neither re-reads nor re-quarantines them.
    again = ingest(warehouse, D1)
    assert warehouse.row_count("quarantined_events") == 6
    assert again.rows_quarantined == 0 and {f.status for f in again.sync.files} == {"unchanged"}


def test_parquet_and_csv_together(warehouse, write_csv, write_parquet, ingest):
    write_csv("events_2024-01-01.csv", [ev("c1")])
    write_parquet("more/events_2024-01-01_part2.parquet", pd.DataFrame({
        "event_id": ["p1", "p2"], "customer_id": ["c9", "c9"], "event_type": ["refund", "browse"],
        "channel": ["mobile", "web"], "amount": [2.25, None],
        "event_ts": pd.to_datetime(["2024-01-01 05:00", "2024-01-01 06:00"]).tz_localize("UTC"),
    }))
    ingest(warehouse, D1)
    assert table(warehouse, "raw_events", "event_id, amount, event_ts, source_file", "event_id") == [
        ("c1", 10.0, dt.datetime(2024, 1, 1, 10), "events_2024-01-01.csv"),
        ("p1", 2.25, dt.datetime(2024, 1, 1, 5), "more/events_2024-01-01_part2.parquet"),
        ("p2", None, dt.datetime(2024, 1, 1, 6), "more/events_2024-01-01_part2.parquet"),
    ]


def test_changed_file_replaces_its_rows_and_archived_file_keeps_them(duckdb_warehouse, write_csv, ingest):
    warehouse = duckdb_warehouse
    path = write_csv("events_2024-01-01.csv", [ev("e1"), ev("e2")])
    ingest(warehouse, D1)
    write_csv("events_2024-01-01.csv", [ev("e1", amount="11"), ev("e3")])
    changed = ingest(warehouse, D1)
    assert [f.status for f in changed.sync.files] == ["staged"]
    assert table(warehouse, "raw_events", "event_id, amount", "event_id") == [("e1", 11.0), ("e3", 10.0)]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, same bytes
    assert [f.status for f in ingest(warehouse, D1).sync.files] == ["unchanged"]
    path.unlink()  # archived away: its events stay
    ingest(warehouse, D1)
    assert warehouse.row_count("raw_events") == 2


@pytest.mark.parametrize("bad_range", [(D2, D2), (D3, D1)])
def test_empty_range_is_refused(duckdb_warehouse, ingest, bad_range):
    with pytest.raises(ValueError, match="empty partition range"):
        ingest(duckdb_warehouse, *bad_range)
