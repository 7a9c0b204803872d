"""Rules (alert -> patch) and the policy file, as pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from remediation_helpers import DAY, alert
from feature_factory.features import patches as P
from feature_factory.remediation import rules
from feature_factory.remediation.policy import EXAMPLE_PATH, PolicyError, load_policy

BASE = {  # a baseline's stats as monitoring writes them (min_value/max_value bound a clip)
    (1, "revenue_7d"): {"min_value": 0.5, "p01": 0.5, "p50": 45.0, "p99": 90.5, "max_value": 90.5},
    (1, "purchases_7d"): {"min_value": 0.0, "p01": 0.2, "p50": 4.5, "p99": 8.7, "max_value": 9.0},
    (1, "amount_stddev_7d"): {"min_value": 0.0, "p01": 0.1, "p50": 6.75, "p99": 13.4, "max_value": 13.5},
}


def _actions(proposal):
    return sorted((c.patch.feature, c.patch.action) for c in proposal.candidates)


def test_each_drift_type_maps_to_its_patch(catalog):
    proposal = rules.propose([
        alert("revenue_7d", "OUT_OF_RANGE", "medium", out_of_range_share=0.03),
        alert("amount_stddev_7d", "NULL_SPIKE", "high", null_rate_delta=0.2),
        alert("purchases_7d", "SCHEMA_CHANGE", "high"),
    ], BASE, catalog)
    assert _actions(proposal) == [
        ("amount_stddev_7d", "impute_median"), ("purchases_7d", "cast"), ("revenue_7d", "clip"),
    ]
    by_action = {c.patch.action: c for c in proposal.candidates}
    # Rows without a diagnosis get theirs derived (tail_contamination, missing_data, type_or_schema)
    # and the current rules: a clip at the baseline max with the clean side at the declared min, and
    # an impute only where the companion count says inputs were there (stddev: at least 2 rows).
    assert by_action["clip"].patch.params() == {"lower": 0.0, "upper": 90.5}
    assert by_action["impute_median"].patch.params() == {"median": 6.75, "when_rows_in": "purchases_7d",
                                                         "min_rows": 2}
    assert [c.evidence["diagnosis"] for c in proposal.candidates] == [
        "missing_data", "type_or_schema", "tail_contamination"]
    assert by_action["cast"].evidence["diagnosis_derived"] is True
    assert by_action["clip"].evidence["out_of_range_share"] == 0.03
    assert by_action["clip"].evidence["baseline"]["p99"] == 90.5
    assert by_action["clip"].evidence["alert_date"] == str(DAY)


def test_integer_feature_bounds_widen_to_whole_numbers(catalog):
    # A baseline whose extremes are not whole numbers (a stats estimate): the bounds widen outward.
    proposal = rules.propose([alert("purchases_7d", "OUT_OF_RANGE", "medium")],
                             {(1, "purchases_7d"): {"min_value": 0.2, "max_value": 8.7}}, catalog)
    params = {c.patch.action: c.patch.params() for c in proposal.candidates}
    assert params == {"clip": {"lower": 0, "upper": 9}}
    # OUT_OF_RANGE with NULL_SPIKE is missing data (derived diagnosis); a count is never NULL, so
    # nothing is imputed (was a clip and {"median": 5} by the retired type rules).
    both = rules.propose([alert("purchases_7d", "OUT_OF_RANGE,NULL_SPIKE", "medium")], BASE, catalog)
    assert {c.patch.action: c.patch.params() for c in both.candidates} == {}
    assert both.skipped == ["purchases_7d: OUT_OF_RANGE,NULL_SPIKE (medium) has no applicable patch"]


def test_severity_gates_and_model_patches(catalog):
    low = rules.propose([alert("revenue_7d", "OUT_OF_RANGE", "low")], BASE, catalog)
    assert low.candidates == []
    shift = rules.propose([alert("revenue_7d", "MEAN_SHIFT", "high")], BASE, catalog)
    assert _actions(shift) == [("revenue_7d", "refresh_baseline"), ("revenue_7d", "request_retrain")]
    medium_shift = rules.propose([alert("revenue_7d", "DISTRIBUTION_SHIFT", "medium")], BASE, catalog)
    # A population_shift (derived) gets refresh + retrain from `min_severity` (the retired type rules
    # waited for `model_min_severity`, high).
    assert _actions(medium_shift) == [("revenue_7d", "refresh_baseline"), ("revenue_7d", "request_retrain")]
    assert medium_shift.skipped == []
    # Outliers move the mean too: fix the data first, no retrain proposed alongside.
    mixed = rules.propose([alert("revenue_7d", "MEAN_SHIFT,OUT_OF_RANGE", "high")], BASE, catalog)
    assert _actions(mixed) == [("revenue_7d", "clip")]


def test_critical_breakage_disables(catalog):
    proposal = rules.propose([
        alert("amount_stddev_7d", "NULL_SPIKE", "critical", null_rate_delta=0.9),
        alert("revenue_7d", "STALE", "critical"),
    ], BASE, catalog)
    assert _actions(proposal) == [
        ("amount_stddev_7d", "disable_feature"), ("amount_stddev_7d", "impute_median"),
        ("revenue_7d", "disable_feature"),
    ]


def test_same_drift_on_later_days_has_the_same_id(catalog):
    a = rules.propose([alert("revenue_7d", "OUT_OF_RANGE", "high")], BASE, catalog)
    b = rules.propose([alert("revenue_7d", "OUT_OF_RANGE", "medium", day=DAY + dt.timedelta(days=1))], BASE, catalog)
    assert a.candidates[0].patch.patch_id == b.candidates[0].patch.patch_id


def test_unusable_alerts_are_skipped_with_reasons(catalog):
    proposal = rules.propose([
        alert("nope_7d", "OUT_OF_RANGE", "high"),
        alert("old_feature", "OUT_OF_RANGE", "high"),
        alert("revenue_7d", "OUT_OF_RANGE", "high", version=7),  # no stats for v7
        alert("draft_feature", "OUT_OF_RANGE", "high"),
    ], {**BASE, (1, "draft_feature"): {"min_value": 5.0, "p01": 5.0, "p99": 1.0, "max_value": 1.0}}, catalog)
    assert proposal.candidates == []
    text = "\n".join(proposal.skipped)
    assert "'nope_7d': not in the catalog" in text and "old_feature: retired" in text
    assert "no baseline stats" in text and "above the upper bound" in text


def test_example_policy_loads_and_matches(catalog):
    policy = load_policy(EXAMPLE_PATH, catalog)
    assert policy.approver == f"policy:{EXAMPLE_PATH}"
    assert policy.allows("purchases_7d", "clip", "high", "tail_contamination")
    assert not policy.allows("purchases_7d", "clip", "critical", "tail_contamination")  # max_severity: high
    # A clip is approved only for the cause it fits: never for a genuine shift, nor without a diagnosis.
    assert not policy.allows("purchases_7d", "clip", "medium", "population_shift")
    assert not policy.allows("purchases_7d", "clip", "medium")
    assert policy.allows("revenue_7d", "impute_median", "critical", "missing_data")
    assert not policy.allows("purchases_7d", "disable_feature", "low")


@pytest.mark.parametrize(
    "text, message",
    [
        ("rules: [{feature: revenue_7d, actions: [drop_table]}]", "unknown action"),
        ("rules: [{feature: 'revenue_7d; DROP TABLE x', actions: [clip]}]", "not a feature name"),
        ("rules: [{feature: nope_7d, actions: [clip]}]", "not in the catalog"),
        ("rules: [{feature: revenue_7d, actions: [clip], max_severity: huge}]", "max_severity"),
        ("rules: [{feature: revenue_7d, actions: []}]", "non-empty"),
        ("rules: [{feature: revenue_7d, actions: [clip], when: always}]", "unknown key"),
        ("rules: [{feature: revenue_7d, actions: [clip], diagnoses: [outliers]}]", "unknown diagnosis"),
        ("rules: [{feature: revenue_7d, actions: [clip], diagnoses: []}]", "diagnoses must be a non-empty"),
        ("approve: everything", "rules"),
        ("rules: [oops", "cannot read"),
    ],
)
def test_bad_policy_files_name_file_and_rule(tmp_path, catalog, text, message):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(path, catalog)
    assert str(path) in str(info.value)


def test_patch_types_cover_every_policy_action():
    assert set(P.ACTIONS) == {"exclude_source", "cast", "map_values", "impute_median", "clip", "disable_feature",
                              "request_retrain", "refresh_baseline"}


def test_per_type_severities_gate_each_patch(catalog):
    # Outliers with a still bulk (KS explained) are tail_contamination (derived), whatever the
    # mean shift's severity: the clip, at the row's worst type's severity (the retired type rules
    # gated each patch by its own type: a low OUT_OF_RANGE got a retrain, a medium one a medium clip).
    row = alert("revenue_7d", "MEAN_SHIFT,OUT_OF_RANGE", "high",
                type_severities='{"MEAN_SHIFT": "high", "OUT_OF_RANGE": "low"}')
    proposal = rules.propose([row], BASE, catalog)
    assert _actions(proposal) == [("revenue_7d", "clip")]
    row = alert("revenue_7d", "MEAN_SHIFT,OUT_OF_RANGE", "high",
                type_severities='{"MEAN_SHIFT": "high", "OUT_OF_RANGE": "medium"}')
    (clip,) = rules.propose([row], BASE, catalog).candidates
    assert clip.patch.action == "clip" and clip.severity == "high"
    # Every type below min_severity: nothing, whatever the row's stored severity.
    quiet = alert("revenue_7d", "MEAN_SHIFT,OUT_OF_RANGE", "medium",
                  type_severities='{"MEAN_SHIFT": "low", "OUT_OF_RANGE": "low"}')
    assert rules.propose([quiet], BASE, catalog).candidates == []


@pytest.mark.parametrize("current", ["PROPOSED", "APPROVED", "REJECTED", "APPLIED", "ROLLED_BACK"])
def test_status_transitions(current):
    from feature_factory.remediation import patch_store as store

    allowed = {
        "PROPOSED": {"APPROVED", "REJECTED"}, "APPROVED": {"APPLIED", "REJECTED"},
        "APPLIED": {"ROLLED_BACK"}, "ROLLED_BACK": {"APPROVED"}, "REJECTED": set(),
    }[current]
    for target in store.STATUSES:
        if target in allowed:
            store.check_transition("p1", current, target)
        else:
            with pytest.raises(store.TransitionError, match=f"patch p1: cannot go from {current} to {target}"):
                store.check_transition("p1", current, target)
