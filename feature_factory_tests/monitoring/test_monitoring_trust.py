"""Issue 13: drift alerts people can trust. Population change that is not drift stays quiet, a real
change of the mix is named POPULATION_MIX, and the calibration simulation (the benchmark's harness,
the product's own baseline/stats/drift code) at a small size: no false alarm on drift-free days,
the goal effects caught."""

from __future__ import annotations

import numpy as np
import pytest

from bench import calibration as C
from feature_factory.monitoring.detection import gates as G
from feature_factory.monitoring.detection import trend as T


def _by_name(*names: str) -> list[C.Case]:
    found = [c for c in C.CASES if f"{c.name} {c.effect}".strip() in names]
    assert len(found) == len(names), [f"{c.name} {c.effect}" for c in found]
    return found


def test_trend_fit_keeps_a_real_trend_and_drops_noise():
    rng = np.random.default_rng(3)
    offsets = list(range(27, -1, -1))
    ageing = [{"zero_rate_delta": 0.0004 * (13.5 - o) + rng.normal(0, 0.0005), "std_ratio": 1.0}
              for o in offsets]
    fitted = T.fit(offsets, ageing)
    assert fitted["trend:zero_rate_delta"] == pytest.approx(0.0004, rel=0.1)
    assert fitted[T.CENTER] == pytest.approx(13.5) and fitted[T.SPAN] == 28
    assert "trend:log_std_ratio" not in fitted  # a flat metric has no trend
    noise = [{"zero_rate_delta": rng.normal(0, 0.002), "mean_shift_std": rng.normal(0, 0.05)} for _ in offsets]
    assert T.fit(offsets, noise) == {}
    # 10 days after the window's end the trend expects 0.0004 * (13.5 + 10); capped at one window.
    assert T.expected(fitted, 10)["zero_rate_delta"] == pytest.approx(fitted["trend:zero_rate_delta"] * 23.5)
    assert T.expected(fitted, 500) == T.expected(fitted, 28)
    assert T.expected({}, 10) == {} and T.expected(fitted, None) == {}


def test_effects_tolerate_anything_between_no_trend_and_the_trend():
    m = {"mean_shift_std": None, "std_ratio": None, "null_rate_delta": 0.0, "input_null_rate_delta": None,
         "psi": None, "ks": None, "out_of_range_excess": 0.0, "above_range_excess": 0.0,
         "below_range_excess": 0.0}
    expected = {"zero_rate_delta": 0.02, "below_range_excess": 0.015}
    at = lambda z, below=0.0: G.effects({**m, "zero_rate_delta": z, "below_range_excess": below}, expected)  # noqa: E731
    assert at(0.01)["POPULATION_MIX"] == 0.0 and at(0.02)["POPULATION_MIX"] == 0.0
    assert at(0.05)["POPULATION_MIX"] == pytest.approx(0.03)
    assert at(-0.04)["POPULATION_MIX"] == pytest.approx(0.04)  # against the trend: all of it
    assert at(0.0, below=0.014)["OUT_OF_RANGE"] == 0.0  # the ageing excess, on its trend
    assert at(0.0, below=0.04)["OUT_OF_RANGE"] == pytest.approx(0.025)
    assert G.effects({**m, "zero_rate_delta": 0.05})["POPULATION_MIX"] == pytest.approx(0.05)  # no trend


def test_calibration_at_small_size_quiet_on_drift_free_days_and_catches_the_goal_effects(tmp_path):
    cases = _by_name("population ageing, first inactive customers", "population ageing, young history",
                     "weekly seasonality (+30% on weekends)", "mean shift 0.5 std", "variance x2.0",
                     "tail burst 2% of rows", "null spike +10 points", "active share drop -25%")
    records = C.simulate(str(tmp_path / "cal.duckdb"), rows_per_day=3000, replicas=1, test_days=12,
                         baseline_days=28, cases=cases)
    by_case: dict[str, list[dict]] = {}
    for r in records:
        by_case.setdefault(f"{r['case'].name} {r['case'].effect}".strip(), []).append(r)
    assert {k: len(v) for k, v in by_case.items()} == {f"{c.name} {c.effect}".strip(): 12 for c in cases}
    for name, recs in by_case.items():
        flagged = [r for r in recs if r["rank"] >= 2]
        if recs[0]["case"].drift_free:
            assert flagged == [], f"{name}: false alarms {[(r['day'], r['severity'], r['types']) for r in flagged]}"
        else:
            assert len(flagged) == len(recs), f"{name}: caught on {len(flagged)} of {len(recs)} days"
    # Issue 13, case 1: the ageing moves the low tail by more than the old medium tier (0.01) on
    # the last days, and the baseline's trend explains it.
    last = max(by_case["population ageing, first inactive customers"], key=lambda r: r["day"])
    assert last["metrics"]["below_range_excess"] > 0.01 and last["rank"] <= 1
    # A sudden drop of the active share is drift and says what it is.
    drop = by_case["active share drop -25%"]
    assert all("POPULATION_MIX" in r["types"].split(",") and "population mix" in r["note"] for r in drop)
