"""The diagnosis rules (pure): the same OUT_OF_RANGE alert is a clip case or a genuine shift
depending on whether the bulk moved; one bad file among clean peers is a single source."""

from __future__ import annotations

import numpy as np
import pytest

from feature_factory.monitoring.explain import diagnosis as D
from feature_factory.monitoring.statistics.summary import Summary

GRID = 100


def summary(values: np.ndarray, base: Summary | None = None) -> Summary:
    values = np.sort(values)
    n = len(values)
    grid = [float(values[max(0, int(np.ceil(k * n / GRID)) - 1)]) for k in range(GRID + 1)]
    p01, p99 = (base.quantiles["p01"], base.quantiles["p99"]) if base else np.quantile(values, [0.01, 0.99])
    above, below = int((values > p99).sum()), int((values < p01).sum())
    return Summary(row_count=n, value_count=n, mean=float(values.mean()), stddev=float(values.std()),
                   quantiles={"p01": float(p01), "p99": float(p99)}, grid=grid,
                   out_of_range_count=above + below, above_range_count=above,
                   out_of_range_share=(above + below) / n if base is None else None,
                   above_range_share=above / n if base is None else None)


def _ks(a: Summary, b: Summary) -> float:
    from feature_factory.monitoring.detection import metrics as M

    return M.ks_from_grids(a.grid, b.grid)


RNG = np.random.default_rng(3)
BASE_VALUES = RNG.lognormal(3.0, 0.5, 20000)
BASE = summary(BASE_VALUES)


def judge(values: np.ndarray, types: dict[str, str]) -> tuple[str, dict]:
    cur = summary(values, BASE)
    excess = (cur.above_range_count / cur.value_count) - BASE.above_range_share
    metrics = {"ks": _ks(cur, BASE), "psi": None, "out_of_range_excess": excess}
    return D.preliminary(types, metrics, cur, BASE, [])


def test_an_outlier_burst_is_tail_contamination():
    values = RNG.lognormal(3.0, 0.5, 5000)
    values[:150] *= 30  # 3% of rows, 30x
    diagnosis, evidence = judge(values, {"OUT_OF_RANGE": "high"})
    assert diagnosis == "tail_contamination"
    assert evidence["tail"] == "upper" and evidence["ks_residual"] <= 0.05 and evidence["bulk_shift"] <= 0.1


@pytest.mark.parametrize("factor", [1.15, 1.3])
def test_a_genuine_rise_is_a_population_shift_although_it_is_out_of_range(factor):
    diagnosis, evidence = judge(RNG.lognormal(3.0, 0.5, 5000) * factor, {"OUT_OF_RANGE": "medium",
                                                                       "MEAN_SHIFT": "medium"})
    assert diagnosis == "population_shift"
    assert evidence["ks_residual"] > 0.05 and evidence["bulk_shift"] > 0.1


def test_an_early_genuine_rise_with_a_small_ks_is_a_population_shift():
    """Measured in the diagnosis benchmark (price inflation, 3 days into a 7-day window): KS small
    enough for the tail rule once the baseline's own KS noise is subtracted, but p25..p75 all moved
    by far more than the small tail excess can explain."""
    import dataclasses

    noisy = dataclasses.replace(BASE, noise={"KS": 0.05})
    cur = summary(RNG.lognormal(3.0, 0.5, 5000) * 1.10, BASE)
    excess = (cur.above_range_count / cur.value_count) - BASE.above_range_share
    metrics = {"ks": _ks(cur, BASE), "psi": None, "out_of_range_excess": excess}
    diagnosis, evidence = D.preliminary({"OUT_OF_RANGE": "medium"}, metrics, cur, noisy, [])
    assert evidence["ks_residual"] - 0.05 <= 0.05 and 0.05 < evidence["bulk_shift"] <= 0.10  # old rule: a clip
    assert evidence["bulk_shift"] > evidence["bulk_explained"] + D.Rules().bulk_noise
    assert diagnosis == "population_shift"
    # The same noise floor does not turn a real burst into a shift: its bulk moves by what it explains.
    burst = RNG.lognormal(3.0, 0.5, 5000)
    burst[:150] *= 30
    cur = summary(burst, BASE)
    excess = (cur.above_range_count / cur.value_count) - BASE.above_range_share
    got, evidence = D.preliminary({"OUT_OF_RANGE": "high"}, {"ks": _ks(cur, BASE), "out_of_range_excess": excess},
                                  cur, noisy, [])
    assert got == "tail_contamination" and evidence["bulk_shift"] <= evidence["bulk_explained"] + 0.05


def test_cause_precedence():
    cur = summary(RNG.lognormal(3.0, 0.5, 5000), BASE)
    files = [{"source_file": "events_2024-03-21.csv", "kind": "changed_type", "column_name": "amount"}]
    assert D.preliminary({"NULL_SPIKE": "high"}, {}, cur, BASE, files)[0] == "type_or_schema"
    assert D.preliminary({"STALE": "high", "NULL_SPIKE": "high"}, {}, cur, BASE, [])[0] == "volume_or_staleness"
    diagnosis, evidence = D.preliminary({"NULL_SPIKE": "medium"}, {"input_null_rate_delta": 0.15,
                                                                  "null_rate_delta": 0.0}, cur, BASE, [])
    assert (diagnosis, evidence["inputs_missing"]) == ("missing_data", True)


def _file(name, share, expected):
    return {"dimension": "source_file", "value": name, "share": share, "expected": expected, "delta": 1.0}


def test_one_bad_file_among_clean_peers_is_a_single_source():
    days = {"d22_1.csv": "2024-03-22", "d22_2.csv": "2024-03-22", "d21_1.csv": "2024-03-21"}
    got, evidence = D.refine("tail_contamination", {}, [_file("d22_2.csv", 0.96, 0.07)], days)
    assert (got, evidence["source_file"], evidence["was"]) == ("single_source", "d22_2.csv", "tail_contamination")
    # One file per day: the burst day has no peer, so it stays a tail contamination (clip, file named).
    got, evidence = D.refine("tail_contamination", {}, [_file("d22_1.csv", 0.96, 0.14)],
                             {"d22_1.csv": "2024-03-22", "d21_1.csv": "2024-03-21"})
    assert got == "tail_contamination" and evidence["contributors"][0]["value"] == "d22_1.csv"
    # Most of it (the other files of a long window share the rest as noise) and far ahead of the next.
    many = [_file("d22_2.csv", 0.78, 0.03), _file("d21_1.csv", 0.05, 0.03)]
    assert D.refine("missing_data", {}, many, days)[0] == "single_source"
    # Two files carrying it alike are not one bad source.
    two = [_file("d22_2.csv", 0.55, 0.03), _file("d21_1.csv", 0.30, 0.03)]
    assert D.refine("tail_contamination", {}, two, days)[0] == "tail_contamination"
    # A genuine shift is never blamed on a file.
    assert D.refine("population_shift", {}, [_file("d22_2.csv", 0.96, 0.07)], days)[0] == "population_shift"
