"""Proposals follow the diagnosis (rules.py), the new patches' SQL on both backends, and the policy's
`diagnoses`: each cause gets only the fix that fits it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from remediation_helpers import alert, insert

from feature_factory.catalog import Catalog, DType, Expectations, FeatureSpec, Lifecycle
from feature_factory.features import patches as P
from feature_factory.remediation import propose as PR
from feature_factory.remediation import rules


def _spec(name, agg, value=None, where=None, dtype=DType.FLOAT, aggregate="COUNT(*)", empty=None, **exp):
    return FeatureSpec(name=name, description=name, owner="t", dtype=dtype, lifecycle=Lifecycle.ACTIVE,
                       aggregate=aggregate, window_days=7, agg=agg, value_sql=value, filter_sql=where,
                       empty_value=empty, expectations=Expectations(**exp))


CATALOG = Catalog((
    _spec("revenue_7d", "sum", "amount", "event_type = 'purchase'", min=0.0, empty=0,
          aggregate="SUM(CASE WHEN (event_type = 'purchase') THEN amount END)"),
    _spec("max_amount_7d", "max", "amount", aggregate="MAX(amount)", min=0.0),
    _spec("events_7d", "count", dtype=DType.INT, min=0, empty=0),
    _spec("mobile_events_7d", "count", where="channel = 'mobile'", dtype=DType.INT, min=0, empty=0,
          aggregate="COUNT(CASE WHEN (channel = 'mobile') THEN 1 END)"),
))
BASE = {(1, f): {"min_value": lo, "p01": p01, "p50": p50, "p99": p99, "max_value": hi}
        for f, lo, p01, p50, p99, hi in [("revenue_7d", 0.0, 0.0, 45.0, 300.0, 410.0),
                                         ("max_amount_7d", 0.5, 1.0, 40.0, 200.0, 260.0),
                                         ("events_7d", 0.0, 2.0, 8.0, 20.0, 27.0),
                                         ("mobile_events_7d", 0.0, 0.0, 3.0, 12.0, 15.0)]}


def diagnosed(feature, diagnosis, types="OUT_OF_RANGE", severity="medium", **evidence):
    sev = {t: severity for t in types.split(",")}
    return alert(feature, types, severity, diagnosis=diagnosis, type_severities=json.dumps(sev),
                 diagnosis_evidence=json.dumps({"why": "test", "headline": f"{feature}: test", **evidence}))


def _actions(proposal):
    return sorted((c.patch.feature, c.patch.action, json.dumps(c.patch.params(), sort_keys=True))
                  for c in proposal.candidates)


def test_a_population_shift_gets_refresh_and_retrain_never_a_clip():
    # The demo's channel mix: mobile rose past the baseline p99 (OUT_OF_RANGE), web fell; both are
    # a genuine change, at medium too.
    got = rules.propose([diagnosed("mobile_events_7d", "population_shift", "OUT_OF_RANGE,MEAN_SHIFT"),
                         diagnosed("events_7d", "population_shift", "MEAN_SHIFT")], BASE, CATALOG)
    assert [(f, a) for f, a, _ in _actions(got)] == [
        ("events_7d", "refresh_baseline"), ("events_7d", "request_retrain"),
        ("mobile_events_7d", "refresh_baseline"), ("mobile_events_7d", "request_retrain")]
    assert got.candidates[0].evidence["diagnosis"] == "population_shift"


def test_tail_contamination_clips_at_the_baselines_extremes():
    got = rules.propose([diagnosed("max_amount_7d", "tail_contamination", tail="upper"),
                         diagnosed("events_7d", "tail_contamination", tail="upper")], BASE, CATALOG)
    # Upper tail: the upper bound is the baseline max; the lower is the declared minimum (0), so
    # no value the baseline saw changes and integer zeros are never raised.
    assert _actions(got) == [
        ("events_7d", "clip", json.dumps({"lower": 0, "upper": 27}, sort_keys=True)),
        ("max_amount_7d", "clip", json.dumps({"lower": 0.0, "upper": 260.0}, sort_keys=True))]


def test_patch_parameters_carry_no_float_noise():
    """A SUM of cents in DOUBLE leaves 957.4100000000001 as the baseline max: the clip's bound (and
    the patch id hashed from it) reads 957.41, the declared precision (issue 34, item 9)."""
    noisy = {**BASE, (1, "revenue_7d"): {**BASE[(1, "revenue_7d")], "max_value": 957.4100000000001},
             (1, "max_amount_7d"): {**BASE[(1, "max_amount_7d")], "p50": 0.1 + 0.2, "p01": 0.30000000000000004,
                                    "p99": 2977.8799999999997}}
    got = rules.propose([diagnosed("revenue_7d", "tail_contamination", tail="upper"),
                         diagnosed("max_amount_7d", "", "NULL_SPIKE,OUT_OF_RANGE", severity="high")],
                        noisy, CATALOG)
    params = {(c.patch.feature, c.patch.action): c.patch.params() for c in got.candidates}
    assert params[("revenue_7d", "clip")] == {"lower": 0.0, "upper": 957.41}
    # The undiagnosed NULL_SPIKE,OUT_OF_RANGE row is missing data (derived): no clip (was {"lower": 0.3,
    # "upper": 2977.88} by the retired type rules), the impute only where events_7d had rows.
    assert ("max_amount_7d", "clip") not in params and sorted(params) == [
        ("max_amount_7d", "impute_median"), ("revenue_7d", "clip")]
    assert params[("max_amount_7d", "impute_median")] == {"median": 0.3, "when_rows_in": "events_7d", "min_rows": 1}
    clean = P.Clip(feature="revenue_7d", baseline_version=1, lower=0.0, upper=957.41)
    assert {c.patch.patch_id for c in got.candidates if c.patch.feature == "revenue_7d"} == {clean.patch_id}


def test_missing_data_imputes_only_where_inputs_were_missing():
    got = rules.propose([diagnosed("max_amount_7d", "missing_data", "NULL_SPIKE"),
                         diagnosed("revenue_7d", "missing_data", "NULL_SPIKE,MEAN_SHIFT", severity="high")],
                        BASE, CATALOG)
    # max: NULLs of rows with events (events_7d > 0) only; a sum is never NULL: nothing to impute,
    # the under-count asks for a retrain (not a baseline refresh: missing data is not the new normal).
    assert _actions(got) == [
        ("max_amount_7d", "impute_median",
         json.dumps({"median": 40.0, "when_rows_in": "events_7d", "min_rows": 1}, sort_keys=True)),
        ("revenue_7d", "request_retrain", "{}")]


def test_single_source_and_landing_type_changes_exclude_the_file():
    got = rules.propose([
        diagnosed("max_amount_7d", "single_source", source_file="events_2024-03-22_2.csv"),
        diagnosed("revenue_7d", "type_or_schema", "NULL_SPIKE",
                  schema_files=[{"source_file": "events_2024-03-21.csv", "kind": "changed_type"}]),
    ], BASE, CATALOG)
    assert _actions(got) == [
        ("max_amount_7d", "exclude_source", json.dumps({"source_file": "events_2024-03-22_2.csv"})),
        ("revenue_7d", "exclude_source", json.dumps({"source_file": "events_2024-03-21.csv"}))]


@pytest.mark.parametrize("name", ["../etc/passwd", "a;DROP TABLE x", "", "x'y.csv"])
def test_exclude_source_refuses_anything_but_a_landing_path(name):
    with pytest.raises(P.PatchValidationError, match="relative landing-file path"):
        P.ExcludeSource(feature="revenue_7d", baseline_version=1, source_file=name)


EVENTS = {"event_id": "VARCHAR", "customer_id": "VARCHAR", "event_type": "VARCHAR", "channel": "VARCHAR",
          "amount": "DOUBLE", "event_date": "DATE", "source_file": "VARCHAR"}
FEATS = {"customer_id": "VARCHAR", "snapshot_date": "DATE", "revenue_7d": "DOUBLE", "max_amount_7d": "DOUBLE",
         "events_7d": "BIGINT", "mobile_events_7d": "BIGINT"}
DAY = dt.date(2024, 3, 10)


def test_new_patches_change_exactly_the_rows_they_target(warehouse):
    d = lambda k: DAY - dt.timedelta(days=k)  # noqa: E731
    insert(warehouse, "raw_events", EVENTS, [
        {"event_id": "1", "customer_id": "a", "event_type": "purchase", "channel": "web", "amount": 10.0,
         "event_date": d(1), "source_file": "good.csv"},
        {"event_id": "2", "customer_id": "a", "event_type": "purchase", "channel": "web", "amount": 5000.0,
         "event_date": d(0), "source_file": "bad.csv"},
        {"event_id": "3", "customer_id": "b", "event_type": "purchase", "channel": "web", "amount": 20.0,
         "event_date": d(0), "source_file": "good.csv"},
        {"event_id": "4", "customer_id": "c", "event_type": "purchase", "channel": "web", "amount": None,
         "event_date": d(2), "source_file": "good.csv"},
        {"event_id": "5", "customer_id": "a", "event_type": "purchase", "channel": "web", "amount": 7.0,
         "event_date": d(9), "source_file": "bad.csv"},  # outside the window
    ])
    insert(warehouse, "customer_features", FEATS, [
        {"customer_id": "a", "snapshot_date": DAY, "revenue_7d": 5010.0, "max_amount_7d": 5000.0, "events_7d": 2},
        {"customer_id": "b", "snapshot_date": DAY, "revenue_7d": 20.0, "max_amount_7d": 20.0, "events_7d": 1},
        {"customer_id": "c", "snapshot_date": DAY, "revenue_7d": 0.0, "max_amount_7d": None, "events_7d": 1},
        {"customer_id": "d", "snapshot_date": DAY, "revenue_7d": 0.0, "max_amount_7d": None, "events_7d": 0},
    ])

    def served(patch, feature):
        spec = CATALOG.get(feature)
        expr = P.compose([patch], feature, CATALOG)
        return dict(warehouse.fetch_all(f"SELECT customer_id, {expr} FROM customer_features ORDER BY 1"))

    exclude = P.ExcludeSource(feature="revenue_7d", baseline_version=1, source_file="bad.csv")
    assert served(exclude, "revenue_7d") == {"a": 10.0, "b": 20.0, "c": 0.0, "d": 0.0}
    assert served(P.ExcludeSource(feature="max_amount_7d", baseline_version=1, source_file="bad.csv"),
                  "max_amount_7d") == {"a": 10.0, "b": 20.0, "c": None, "d": None}
    impute = P.ImputeMedian(feature="max_amount_7d", baseline_version=1, median=40.0, when_rows_in="events_7d")
    # c had an event whose amount was missing: filled; d had no event: NULL by definition, kept.
    assert served(impute, "max_amount_7d") == {"a": 5000.0, "b": 20.0, "c": 40.0, "d": None}
    assert PR.rows_changed(warehouse, CATALOG, impute, DAY) == 1
    assert PR.rows_changed(warehouse, CATALOG, exclude, DAY) == 1
    # A plain impute on a sum that is never NULL changes nothing: such a patch is never proposed.
    assert PR.rows_changed(warehouse, CATALOG, P.ImputeMedian(feature="revenue_7d", baseline_version=1,
                                                              median=45.0), DAY) == 0
    # Stored and read back, the new parameters survive the id check.
    again = P.patch_from_record("impute_median", "max_amount_7d", 1, json.dumps(impute.params()), impute.patch_id)
    assert again == impute
