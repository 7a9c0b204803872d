"""The replay benchmark's small version (bench/health.py; the full one: `python -m bench --only
health`): synthetic daily histories with injected problems, judged after each run by the same
evaluate() as the asset."""

import pytest

from bench import health


def test_each_injected_problem_is_found_within_two_runs_with_few_false_alerts():
    out = health.score(histories=1, days=80, seed0=7)
    assert {k: v["detected_within_2_runs"] for k, v in out["per_kind"].items()} == {
        "slowdown": 1, "failure": 1, "volume_drop": 1, "late": 1, "stopped": 1}
    assert out["clean_runs"] > 300
    assert out["false_alerts_per_100_runs"] <= 1


def test_a_stopped_schedule_is_stale_on_the_second_missed_run_not_the_first():
    result = health.replay(seed=3, days=60, inject="stopped", at=50)
    assert result["detected_after_runs"] == 1


def test_forecast_on_a_known_trend():
    rows = health.forecast_errors(range(2), 200, trend=2.0, judged=(120,))
    assert [r["truth"] for r in rows] == [pytest.approx(116.4, abs=0.1)] * 2
    assert all(r["error"] <= 0.25 for r in rows)
