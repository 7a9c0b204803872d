"""A replayed batch (rows of other files re-landed under new ids) is recognised by content, and a
drift it causes is a single source naming that file (issue 28 item 1)."""

from __future__ import annotations

import datetime as dt

import pytest

from feature_factory.monitoring.explain import diagnosis, replay
from feature_factory.monitoring.kinds import Diagnosis

START = dt.date(2024, 1, 1)
COLUMNS = {"event_id": "VARCHAR", "customer_id": "VARCHAR", "event_type": "VARCHAR", "channel": "VARCHAR",
           "amount": "DOUBLE", "event_ts": "TIMESTAMP", "event_date": "DATE", "source_file": "VARCHAR",
           "source_row": "BIGINT", "ingested_at": "TIMESTAMP"}


def _rows() -> list[dict]:
    """6 days x 2 files x 10 customers (a purchase and a browse with a blank amount each); then
    `replay.csv`, ingested a day later, repeats every row of days 3..5 under new ids; and
    `late.csv` holds 10 new rows, one of which happens to repeat a stored purchase."""
    rows = []
    for d in range(6):
        day = START + dt.timedelta(days=d)
        for part in (1, 2):
            for c in range(10):
                for kind, amount in (("purchase", 10.0 + c + d), ("browse", None)):
                    rows.append({"event_id": f"e{d}{part}{c}{kind[0]}", "customer_id": f"c{c}", "event_type": kind,
                                 "channel": "web", "amount": amount,
                                 "event_ts": dt.datetime.combine(day, dt.time(8 + part, c, 0 if kind == "purchase" else 30)),
                                 "event_date": day, "source_file": f"events_{day}_part{part}.csv",
                                 "ingested_at": dt.datetime(2024, 2, 1)})
    copies = [{**r, "event_id": "r-" + r["event_id"], "source_file": "replay.csv", "ingested_at": dt.datetime(2024, 2, 2)}
              for r in rows if r["event_date"] >= START + dt.timedelta(days=3)]
    late = [{**rows[0], "event_id": "late0", "source_file": "late.csv", "ingested_at": dt.datetime(2024, 2, 2)}]
    late += [{**rows[0], "event_id": f"late{i}", "customer_id": f"n{i}", "source_file": "late.csv",
              "ingested_at": dt.datetime(2024, 2, 2)} for i in range(1, 10)]
    return [{**r, "source_row": i} for i, r in enumerate(rows + copies + late)]


def _load(warehouse, rows):
    with warehouse.session() as s:
        s.execute(f"CREATE TABLE raw_events ({', '.join(f'{c} {t}' for c, t in COLUMNS.items())})")
        marks = "(" + ", ".join("?" for _ in COLUMNS) + ")"
        for i in range(0, len(rows), 200):
            chunk = rows[i:i + 200]
            s.execute(f"INSERT INTO raw_events VALUES {', '.join(marks for _ in chunk)}",
                      [r[c] for r in chunk for c in COLUMNS])


@pytest.mark.parametrize("warehouse", ["duckdb", "snowflake"], indirect=True)
def test_a_replayed_batch_is_found_by_content_under_new_ids(warehouse):
    _load(warehouse, _rows())
    found = replay.replayed_files(warehouse, "raw_events", "customer_id", START, START + dt.timedelta(days=5))
    assert [(r.source_file, r.rows, r.copies) for r in found.files] == [("replay.csv", 120, 120)]
    (r,) = found.files
    assert r.days == {START + dt.timedelta(days=d): 40 for d in (3, 4, 5)}
    # Its part of the raw rows of days 3..5 (40 originals + 40 copies a day; late.csv's rows are day 0's).
    assert found.share_between(r, START + dt.timedelta(days=3), START + dt.timedelta(days=5)) == 0.5
    assert "replay.csv replays 120 of its 120 rows" in r.describe()
    # Before the replay landed nothing is a copy; a window without its days does not see it.
    assert replay.replayed_files(warehouse, "raw_events", "customer_id", START, START + dt.timedelta(days=2)).files == []


def test_content_is_every_column_but_lineage_and_ids():
    assert replay.content_columns(list(COLUMNS), "customer_id") == [
        "customer_id", "event_type", "channel", "amount", "event_ts"]
    assert replay.match_columns(["customer_id", "amount", "event_ts"], "customer_id") == ["customer_id", "event_ts"]


def test_a_replay_in_the_window_makes_a_shift_a_single_source_naming_it():
    ev = {"source_file": "replay.csv", "rows": 120, "copies": 120, "share": 1.0,
          "first_day": "2024-01-04", "last_day": "2024-01-06"}
    contributors = [{"dimension": "cohort", "value": "returning", "share": 0.7, "expected": 0.4}]
    cause, why = diagnosis.replayed(Diagnosis.POPULATION_SHIFT, {"contributors": contributors}, ev, 0.4)
    assert cause is Diagnosis.SINGLE_SOURCE and why["source_file"] == "replay.csv" and why["was"] == "population_shift"
    assert [c["value"] for c in why["contributors"]] == ["replay.csv", "returning"]
    assert why["contributors"][0]["replay"] and "replays 120 rows" in why["why"]
    # Too small a part of the window, or a cause a copy cannot make: the diagnosis stands.
    assert diagnosis.replayed(Diagnosis.POPULATION_SHIFT, {}, ev, 0.01)[0] is Diagnosis.POPULATION_SHIFT
    assert diagnosis.replayed(Diagnosis.MISSING_DATA, {}, ev, 0.4)[0] is Diagnosis.MISSING_DATA
