"""What a user reads in the UI: Markdown values and tables, SQL blocks, column descriptions,
the drift histogram's tail panel. Pure functions, no Dagster run."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest

from feature_factory import markdown as md
from feature_factory import tables
from feature_factory.monitoring.report.presentation import histogram_png, quantile_line, tail_shares
from feature_factory.monitoring.statistics.summary import Summary
from feature_factory.remediation import views
from feature_factory.remediation import patch_store as store


@pytest.mark.parametrize("value, text", [
    (3761.719999999999, "3,761.72"), (0.123456, "0.1235"), (2.0, "2"), (0.0, "0"), (12, "12"),
    (123456, "123,456"), (None, "–"), (float("nan"), "–"), (np.float64(0.26), "0.26"),
    (pd.Timestamp("2024-03-30 00:00:00"), "2024-03-30"), (dt.datetime(2024, 3, 30, 5, 1), "2024-03-30 05:01:00"),
    (dt.date(2024, 1, 7), "2024-01-07"), (True, "yes"), ("a|b\nc", "a\\|b c"),
])
def test_cells_read_as_a_person_writes_them(value, text):
    assert md.cell(value) == text


def test_table_bounds_rows_and_says_how_many_are_hidden():
    out = md.table(["day", "value"], [[pd.Timestamp("2024-01-01") + pd.Timedelta(days=i), i / 3] for i in range(5)],
                   max_rows=2)
    assert out.splitlines()[:4] == ["| day | value |", "|---|---|", "| 2024-01-01 | 0 |", "| 2024-01-02 | 0.3333 |"]
    assert out.endswith("_3 more rows not shown_")
    assert md.table(["a"], []) == "_none_"


def test_sql_block_is_pretty_printed_on_short_lines():
    sql = ("/* REVIEW */ -- patch 1234: clip on \"max_amount_7d\" (baseline v1): " + "clip the outliers " * 6
           + "\nSELECT customer_id, snapshot_date, LEAST(GREATEST(\"max_amount_7d\", 0), 120.5) AS \"max_amount_7d\" "
           "FROM \"customer_features\"")
    block = md.sql_block(sql)
    lines = block.splitlines()
    assert lines[0] == "```sql" and lines[-1] == "```"
    assert max(len(line) for line in lines) <= 90
    assert "  LEAST(GREATEST(\"max_amount_7d\", 0), 120.5) AS \"max_amount_7d\"" in lines
    assert "REVIEW" in block and 'FROM "customer_features"' in block
    assert md.sql_block("NOT SQL AT ALL (((") == "```sql\nNOT SQL AT ALL (((\n```"


def test_patch_log_shows_rounded_before_after_stats_in_few_columns():
    log = {"patch_id": "abcdef0123456789", "feature": "max_amount_7d", "action": "clip", "event": "apply",
           "actor": "policy", "stats_before": '{"maximum": 3761.719999999999, "null_rate": 0.0, "p99": 412.5}',
           "stats_after": '{"maximum": 412.5, "null_rate": 0.0, "p99": 412.5}'}
    out = views.log_markdown([log])
    header, _, row = out.splitlines()
    assert header == "| patch_id | feature | action | event | actor | before → after |"
    assert row == ("| abcdef0123456789 | max_amount_7d | clip | apply | policy | "
                   "max 3,761.72 → 412.5; p99 412.5 (unchanged); null rate 0 (unchanged) |")
    log["stats_before"], log["stats_after"] = '{"out_of_range_share": 0.028771}', '{"out_of_range_share": 0.028771}'
    assert views.stats_change(*(json.loads(log[k]) for k in ("stats_before", "stats_after"))) == (
        "outside baseline p01–p99 0.02877 (unchanged)")


def test_every_column_of_drift_alerts_and_remediation_tables_is_described():
    assert [c.name for c in tables.DRIFT_ALERTS.columns if not c.description] == []
    for table in store.CONTRACTS:
        columns = [c.split()[0] for c in table.ddl().split(",")]
        assert [c for c in columns if not table.descriptions.get(c)] == [], table.name
    # Columns other work adds are described ahead of time.
    assert {"diagnosis", "diagnosis_evidence"} <= set(tables.DRIFT_ALERTS.descriptions)


def test_histogram_explains_a_shift_confined_to_the_tails():
    """Identical decile bars (an outlier burst below p01): the tail panel and the quantiles show it."""
    base = Summary(row_count=1000, value_count=1000, quantiles={"p01": 0.5, "p50": 12.0, "p99": 80.0},
                   edges=[1, 2, 4, 6, 8, 10, 12, 15, 20], hist=[100] * 10, out_of_range_share=0.02,
                   above_range_share=0.01)
    cur = Summary(row_count=200, value_count=200, quantiles={"p01": 0.01, "p50": 12.0, "p99": 80.0},
                  hist=[20] * 10, out_of_range_count=24, above_range_count=2)
    tails = tail_shares(base, cur)
    assert tails["< p01"] == pytest.approx((0.01, 0.11)) and tails["> p99"] == pytest.approx((0.01, 0.01))
    assert quantile_line(base, cur) == "p01 0.5 → 0.01 · p50 12 → 12 · p99 80 → 80"
    assert tail_shares(base, None)["< p01"] == pytest.approx((0.01, 0.0))
    png = histogram_png("min_amount_7d", base, cur, "min_amount_7d: critical (OUT_OF_RANGE, "
                        "DISTRIBUTION_SHIFT, MEAN_SHIFT, VARIANCE_CHANGE) on 2024-03-30")
    assert png.startswith(b"\x89PNG")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (640, 288)
    assert re.fullmatch(r"p01 .* · p50 .* · p99 .*", quantile_line(base, None))


def test_open_patches_cells_stay_short():
    assert views.params_text('{"lower": 0.0, "upper": 63.40162326769668}') == "lower 0, upper 63.4"
    assert views.params_text("{}") == "" and views.params_text(None) == ""
    assert views.short_actor("policy:/work/x/feature_factory/remediation/policy.example.yaml") == (
        "policy:policy.example.yaml")
    assert views.short_actor("alice") == "alice" and views.short_actor(None) is None


def test_drift_table_has_an_evidently_column_only_when_its_verdicts_are_known():
    from feature_factory.monitoring.detection.drift import FeatureDrift
    from feature_factory.monitoring.report.presentation import drift_table_markdown

    results = [FeatureDrift("revenue_7d", {"psi": 0.4, "ks": 0.2}, {"MEAN_SHIFT": "high"}),
               FeatureDrift("events_7d", {"psi": 0.01}, {})]
    alerts = drift_table_markdown(results).splitlines()  # drift_alerts: lands before Evidently runs
    assert alerts[0].endswith("| out of range |") and "Evidently |" not in alerts[0]
    assert alerts[2] == "| revenue_7d | **high** | MEAN_SHIFT | 0.400 | 0.200 | – | – | – | – |"
    assert alerts[-1] == ("Evidently's verdict per feature: `drift_report`'s drift_table for this day "
                          "(it runs after these alerts land).")
    both = drift_table_markdown(results, {"revenue_7d": {"drift": True, "score": 0.0123}}).splitlines()
    assert both[0].endswith("| out of range | Evidently |") and len(both) == 4
    assert both[2].endswith("| – | drift (0.012) |") and both[3].endswith("| – | – |")
