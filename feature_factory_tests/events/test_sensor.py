"""The landing sensor: runs for exactly the days new/changed files cover, run keys that survive a
daemon restart, and a cursor of seen fingerprints."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import pandas as pd
import pytest
from ingest_helpers import csv_text, ev

from feature_factory import settings
from feature_factory.events import watch
from feature_factory.events.landing import LandingFile, filename_date, list_landing_files, scan_dates
from feature_factory.events.sensors import RANGE_END_TAG, RANGE_START_TAG, landing_files_sensor
from feature_factory.homes import HomesResource

FIRST, LAST = dt.date(2024, 1, 1), dt.date(2024, 1, 31)


def _plan(landing, seen=None, last=LAST):
    return watch.plan(list_landing_files(landing), seen or {}, FIRST, last)


def _write(landing, name, rows):
    path = landing / name
    path.write_text(csv_text(rows))
    return path


def test_runs_cover_exactly_the_days_of_new_files(landing):
    _write(landing, "events_2024-01-01.csv", [ev("a")])
    _write(landing, "events_2024-01-02.csv", [ev("b", day=2)])
    _write(landing, "events_2024-01-05_part001.csv", [ev("c", day=5)])
    runs, seen = _plan(landing)
    assert [(r.first_day, r.last_day, len(r.files)) for r in runs] == [
        (dt.date(2024, 1, 1), dt.date(2024, 1, 2), 2), (dt.date(2024, 1, 5), dt.date(2024, 1, 5), 1)]
    assert sorted(seen) == ["events_2024-01-01.csv", "events_2024-01-02.csv", "events_2024-01-05_part001.csv"]
    # Same files, no cursor (a lost cursor): the same run keys, so Dagster skips them.
    assert [r.run_key for r in _plan(landing)[0]] == [r.run_key for r in runs]
    # Restart with the cursor: nothing to do.
    assert _plan(landing, seen) == ([], seen)
    # First tick over days raw_events already holds: recorded, not re-ingested; the other day runs.
    runs, first_seen = watch.plan(list_landing_files(landing), {}, FIRST, LAST,
                                  ingested={dt.date(2024, 1, 1), dt.date(2024, 1, 2)})
    assert [(r.first_day, r.last_day) for r in runs] == [(dt.date(2024, 1, 5), dt.date(2024, 1, 5))]
    assert first_seen == seen


def test_changed_file_gets_a_new_run_key_touched_file_none(landing):
    path = _write(landing, "events_2024-01-03.csv", [ev("a", day=3)])
    (first,), seen = _plan(landing)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    runs, touched = _plan(landing, seen)
    assert runs == [] and touched != seen  # same content: cursor updated, no run
    path.write_text(csv_text([ev("a", day=3), ev("b", day=3)]))
    (second,), after_second = _plan(landing, touched)
    assert (second.first_day, second.last_day) == (dt.date(2024, 1, 3),) * 2
    assert second.run_key != first.run_key
    # Reverting to the old bytes is still a change (new mtime), not a skipped old key.
    path.write_text(csv_text([ev("a", day=3)]))
    (third,), _ = _plan(landing, after_second)
    assert third.run_key not in (first.run_key, second.run_key)


def test_dates_from_name_else_scan(landing, write_parquet):
    batch = _write(landing, "batch.csv", [ev("a", day=3), ev("b", day=4, hour=23),
                                          ("x", "c", "browse", "web", "", "garbage")])
    frame = pd.DataFrame([ev("p", day=9)], columns=["event_id", "customer_id", "event_type", "channel",
                                                    "amount", "event_ts"])
    write_parquet("drop.parquet", frame)
    assert filename_date("sub/events_2024-02-29_part7.parquet") == dt.date(2024, 2, 29)
    assert filename_date("events_2024-02-30.csv") is None and filename_date("batch.csv") is None
    files = {f.rel: f for f in list_landing_files(landing)}
    assert scan_dates(files["batch.csv"]) == (dt.date(2024, 1, 3), dt.date(2024, 1, 4))
    assert scan_dates(files["drop.parquet"]) == (dt.date(2024, 1, 9),) * 2
    runs, _ = _plan(landing)
    assert [(r.first_day, r.last_day) for r in runs] == [
        (dt.date(2024, 1, 3), dt.date(2024, 1, 4)), (dt.date(2024, 1, 9), dt.date(2024, 1, 9))]
    assert batch.exists()


def test_undated_files_ride_along_or_get_the_last_partition(landing):
    (landing / "notes.txt").write_text("not events")
    (landing / "events_2023-12-31.csv").write_text(csv_text([ev("old")]))  # before the first day
    (alone,), seen = _plan(landing)
    assert (alone.first_day, alone.last_day, len(alone.files)) == (LAST, LAST, 2)
    _write(landing, "events_2024-01-07.csv", [ev("a", day=7)])
    (landing / "notes.txt").write_text("changed notes")
    (run,), _ = _plan(landing, seen)
    assert (run.first_day, len(run.files)) == (dt.date(2024, 1, 7), 2)
    # Days past the last partition are clipped; no partitions at all -> wait, cursor untouched.
    assert _plan(landing, last=None) == ([], {})


def test_cursor_round_trip_and_unknown_version():
    seen = {"b.csv": "1:2:ab", "a.csv": "3:4:cd"}
    assert watch.load_cursor(watch.dump_cursor(seen)) == seen
    assert watch.load_cursor(None) == {} and watch.load_cursor('{"v": 0, "files": {"x": "y"}}') == {}


def _tick(cursor=None):
    instance = dg.DagsterInstance.ephemeral()
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"homes": HomesResource()})
    return landing_files_sensor(context)


def test_sensor_run_requests_and_restart(project_home):
    landing = settings.landing_dir()
    landing.mkdir(parents=True)
    _write(landing, "events_2024-01-01.csv", [ev("a")])
    _write(landing, "events_2024-01-02.csv", [ev("b", day=2)])
    _write(landing, "events_2024-01-04.csv", [ev("c", day=4)])
    first = _tick()
    requests = sorted(first.run_requests, key=lambda r: r.run_key)
    assert len(requests) == 2
    assert requests[0].partition_key_range == dg.PartitionKeyRange("2024-01-01", "2024-01-02")
    assert (requests[0].tags[RANGE_START_TAG], requests[0].tags[RANGE_END_TAG]) == ("2024-01-01", "2024-01-02")
    assert requests[1].partition_key == "2024-01-04" and requests[1].partition_key_range is None
    assert all(r.run_key.startswith("landing:") for r in requests)
    # Daemon restart: the stored cursor means no new runs.
    restarted = _tick(first.cursor)
    assert restarted.run_requests == [] and restarted.cursor == first.cursor
    # A changed file: a new run for its day only, with a key never used before.
    _write(landing, "events_2024-01-02.csv", [ev("b", day=2), ev("b2", day=2)])
    changed = _tick(restarted.cursor)
    assert [(r.partition_key, r.run_key in {q.run_key for q in requests}) for r in changed.run_requests] == [
        ("2024-01-02", False)]


def test_first_switch_on_skips_days_already_ingested(project_home):
    """The demo (or a backfill) ingested 2024-01-01..02: turning the sensor on ingests only 01-04."""
    landing = settings.landing_dir()
    landing.mkdir(parents=True)
    for day in (1, 2, 4):
        _write(landing, f"events_2024-01-0{day}.csv", [ev(f"e{day}", day=day)])
    instance = dg.DagsterInstance.ephemeral()
    for key in ("2024-01-01", "2024-01-02"):
        instance.report_runless_asset_event(dg.AssetMaterialization("raw_events", partition=key))
    first = landing_files_sensor(dg.build_sensor_context(instance=instance, resources={"homes": HomesResource()}))
    assert [r.partition_key for r in first.run_requests] == ["2024-01-04"]
    assert sorted(watch.load_cursor(first.cursor)) == [f"events_2024-01-0{d}.csv" for d in (1, 2, 4)]
    # With a cursor, materialized days no longer matter: a changed file is ingested again.
    _write(landing, "events_2024-01-01.csv", [ev("e1", day=1), ev("e1b", day=1)])
    again = landing_files_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources={"homes": HomesResource()}))
    assert [r.partition_key for r in again.run_requests] == ["2024-01-01"]


@pytest.mark.parametrize("name", [".hidden.csv", ".tmp/events_2024-01-01.csv"])
def test_hidden_files_are_not_landing_files(landing, name):
    (landing / name).parent.mkdir(parents=True, exist_ok=True)
    (landing / name).write_text("x")
    assert list_landing_files(landing) == []


def test_missing_landing_folder_is_empty(tmp_path):
    assert list_landing_files(tmp_path / "nope") == []
    assert LandingFile(tmp_path / "a.CSV", "a.CSV", 1, 2).fmt == "csv"
