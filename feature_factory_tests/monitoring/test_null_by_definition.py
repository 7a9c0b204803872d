"""Issue 28 item 4: a NULL that is NULL by definition (an average over no purchase in the window)
is a population change, not missing data: diagnosed `population_shift` (so the rules propose
refresh_baseline + request_retrain: feature_factory_tests/remediation/
test_null_by_definition_rules.py), while NULLs from missing raw inputs stay `missing_data`."""

from __future__ import annotations

import pytest

from feature_factory.catalog import DType, FeatureSpec, Lifecycle
from feature_factory.monitoring.explain import diagnosis as D
from feature_factory.monitoring.explain.root_cause import companion_count
from feature_factory.monitoring.statistics.summary import Summary

BASE = Summary(row_count=1500, value_count=1200, mean=40.0, stddev=15.0, grid=None)
NULLS = {"NULL_SPIKE": "medium"}


def judge(null_delta: float, input_delta: float | None, empty: dict | None) -> tuple[str, dict]:
    metrics = {"ks": None, "psi": None, "out_of_range_excess": None, "null_rate_delta": null_delta,
               "input_null_rate_delta": input_delta}
    return D.preliminary(NULLS, metrics, None, BASE, [], empty=empty)


def avg(companion=None, zeros=None):
    out = D.empty_window_evidence("avg", companion, None, None)
    return {**out, **({"companion_zero_rate_delta": zeros} if zeros is not None else {})}


def test_a_purchase_drop_makes_nulls_by_definition_a_population_shift():
    # 30% of purchases gone: 14 points more customers without a purchase in 7 days, the amounts
    # that are there are all there (input null rate -0.5 points): the measured case.
    got, evidence = judge(0.142, -0.005, avg())
    assert got == "population_shift" and evidence["null_by_definition"] is True
    assert evidence["why"].startswith("NULL by definition: +14.2% of rows have no qualifying row")
    assert "input null rate -0.5%" in evidence["why"]
    # A count over the same rows that gained as many zeros confirms it, and is named.
    got, evidence = judge(0.142, None, avg("purchases_7d", 0.13))
    assert got == "population_shift" and "purchases_7d zeros +13.0%" in evidence["why"]


@pytest.mark.parametrize("input_delta, empty, why", [
    (0.08, avg(), "the raw amounts went missing (8 points of them)"),
    (0.0, avg("purchases_7d", 0.01), "the companion count gained 1 point of zeros, not 14"),
    (0.0, D.empty_window_evidence("sum", None, None, None), "a sum is 0 over an empty window, never NULL"),
    (None, avg(), "nothing says the inputs are there"),
    (0.0, None, "no evidence passed"),
])
def test_nulls_that_may_be_missing_data_stay_missing_data(input_delta, empty, why):
    assert judge(0.142, input_delta, empty)[0] == "missing_data", why


def test_the_companion_is_a_count_over_the_same_window_and_rows():
    def spec(name, agg, where=None, window=7):
        return FeatureSpec(name=name, description=name, owner="t", dtype=DType.FLOAT, lifecycle=Lifecycle.ACTIVE,
                           aggregate="x", window_days=window, agg=agg, value_sql=None if agg == "count" else "amount",
                           filter_sql=where)

    target = spec("avg_amount_nonzero_7d", "avg", "amount > 0")
    specs = [target, spec("events_7d", "count"), spec("positive_30d", "count", "amount > 0", 30),
             spec("positive_7d", "count", "amount > 0")]
    assert companion_count(target, specs) == "positive_7d"
    assert companion_count(target, specs[:3]) is None
    current = Summary(row_count=100, value_count=100, zero_rate=0.30)
    base = Summary(row_count=100, value_count=100, zero_rate=0.18)
    assert D.empty_window_evidence("avg", "positive_7d", current, base) == {
        "null_on_empty": True, "companion": "positive_7d", "companion_zero_rate_delta": 0.12}
