"""Retention on both backends: rows past keep_days deleted, guarded rows kept and named (or deleted
and named with allow_guarded), and a bad policy refused naming file, table and field."""

from __future__ import annotations

import datetime as dt

import pytest

from feature_factory.governance import retention
from feature_factory.governance.retention import Guard, Rule

DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=30 * k) for k in range(10)]  # 2024-01-01 .. 2024-09-27
AS_OF = dt.date(2024, 11, 1)  # keep_days 60 -> cutoff 2024-09-02


def _seed(warehouse):
    with warehouse.session() as s:
        for table in ("raw_events", "quarantined_events"):
            s.execute(f"CREATE TABLE {table} (event_id VARCHAR, event_date DATE)")
            s.execute(f"INSERT INTO {table} VALUES " + ", ".join(f"('e{i}', DATE '{d}')" for i, d in enumerate(DAYS)))
        s.execute("CREATE TABLE feature_stats_baseline (baseline_version BIGINT, is_current BOOLEAN, "
                  "window_start DATE, window_end DATE)")
        s.execute("INSERT INTO feature_stats_baseline VALUES (1, FALSE, DATE '2023-01-01', DATE '2023-02-01'), "
                  "(2, TRUE, DATE '2024-06-01', DATE '2024-07-30')")


def _days(warehouse, table):
    return [r[0] for r in warehouse.fetch_all(f"SELECT event_date FROM {table} ORDER BY event_date")]


def test_retention_keeps_what_the_baseline_needs_and_says_so(warehouse):
    _seed(warehouse)
    guards = retention.guards(warehouse, None)
    assert guards == [Guard(dt.date(2024, 3, 3), "baseline v2 (2024-06-01..2024-07-30)")]  # window - 90 days
    rules = [Rule("raw_events", "event_date", 60, True), Rule("quarantined_events", "event_date", 60, False),
             Rule("churn_labels", "label_date", 30, True), Rule("pipeline_health", "health_date", None, False)]
    got = {o.table: (o.cutoff, o.deleted, o.guarded_kept) for o in retention.apply(warehouse, rules, AS_OF, guards)}
    assert got == {"raw_events": (dt.date(2024, 9, 2), 3, 6), "quarantined_events": (dt.date(2024, 9, 2), 9, 0),
                   "churn_labels": (dt.date(2024, 10, 2), 0, 0), "pipeline_health": (None, 0, 0)}
    assert _days(warehouse, "raw_events") == DAYS[3:]  # from 2024-03-31: the first day past the guard
    assert _days(warehouse, "quarantined_events") == DAYS[9:]

    forced = retention.apply(warehouse, rules[:1], AS_OF, guards, allow_guarded=True)
    assert (forced[0].deleted, forced[0].guarded_kept) == (6, 0) and "allow_guarded" in forced[0].note
    assert _days(warehouse, "raw_events") == DAYS[9:]


def test_dry_run_counts_and_deletes_nothing(duckdb_warehouse):
    _seed(duckdb_warehouse)
    (o,) = retention.apply(duckdb_warehouse, [Rule("quarantined_events", "event_date", 60, False)], AS_OF, [],
                           dry_run=True)
    assert o.deleted == 9 and _days(duckdb_warehouse, "quarantined_events") == DAYS


def test_the_shipped_policy_expires_nothing():
    rules = retention.load_policy()
    assert {r.table for r in rules} >= {"raw_events", "quarantined_events", "customer_features", "inference_results"}
    assert {r.keep_days for r in rules} == {None}


@pytest.mark.parametrize("body, message", [
    ("tables: {raw_events: {column: event_date, keep_days: -1}}", "table 'raw_events': keep_days must be"),
    ("tables: {raw_events: {keep_days: 3}}", "table 'raw_events': expected {column"),
    ("tables: {Raw-Events: {column: d}}", "table 'Raw-Events': invalid SQL identifier"),
    ("raw_events: 3", "expected a top-level 'tables:'"),
])
def test_a_bad_policy_names_file_table_and_field(tmp_path, body, message):
    path = tmp_path / "retention.yaml"
    path.write_text(body)
    with pytest.raises(retention.RetentionError, match=f"retention policy {path}: .*{message}"):
        retention.load_policy(path)
