"""The typed hand-off from monitoring to remediation: a drift_alerts row parsed once into an
AlertRecord (enums for drift types and diagnoses), strictly; a row that does not parse is skipped
with what and where, and the other rows are still proposed for."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from remediation_helpers import DAY, alert

from feature_factory.monitoring.report.alert_record import AlertRecord, AlertRowError
from feature_factory.monitoring.kinds import Diagnosis, DriftType, drift_types, joined
from feature_factory.remediation import rules

BASE = {(1, "revenue_7d"): {"min_value": 0.0, "p01": 0.5, "p50": 45.0, "p99": 90.5, "max_value": 120.0}}


def test_a_row_becomes_a_record_of_enums_with_the_stored_values():
    row = alert("revenue_7d", "MEAN_SHIFT,OUT_OF_RANGE", "high", null_rate_delta=0.25,
                type_severities='{"MEAN_SHIFT": "high", "OUT_OF_RANGE": "low"}', diagnosis="tail_contamination",
                diagnosis_evidence=json.dumps({"tail": "upper", "why": "outliers"}))
    r = AlertRecord.from_row(row)
    assert r.drift_types == (DriftType.MEAN_SHIFT, DriftType.OUT_OF_RANGE)
    assert r.type_severities == {DriftType.MEAN_SHIFT: "high", DriftType.OUT_OF_RANGE: "low"}
    assert r.diagnosis is Diagnosis.TAIL_CONTAMINATION and r.evidence == {"tail": "upper", "why": "outliers"}
    assert (r.feature, r.alert_date, r.baseline_version, r.severity) == ("revenue_7d", DAY, 1, "high")
    assert r.metrics["null_rate_delta"] == 0.25 and r.metrics["std_ratio"] == 1.0
    # The enums' values are the table's strings.
    assert r.drift_types_text == "MEAN_SHIFT,OUT_OF_RANGE" and Diagnosis.POPULATION_SHIFT == "population_shift"
    assert r.at_least(DriftType.MEAN_SHIFT, "high") and not r.at_least(DriftType.OUT_OF_RANGE, "medium")


def test_a_row_without_per_type_severities_gives_each_type_the_rows_severity():
    r = AlertRecord.from_row(alert("revenue_7d", "NULL_SPIKE, stale", "medium"))
    assert r.type_severities == {DriftType.NULL_SPIKE: "medium", DriftType.STALE: "medium"}
    # Written before diagnoses existed: the diagnosis is derived from the types (was `is None`).
    assert r.diagnosis is Diagnosis.VOLUME_OR_STALENESS and r.derived and r.evidence == {}


@pytest.mark.parametrize("column, value, message", [
    ("drift_types", "OUT_OF_RANGE,OUTLIERS", "drift_types: 'OUTLIERS' is not a drift type"),
    ("type_severities", "{not json", "column type_severities is not JSON"),
    ("type_severities", '["high"]', "column type_severities holds list, not a JSON object"),
    ("type_severities", '{"OUT_OF_RANGE": "huge"}', "gives OUT_OF_RANGE the severity 'huge'"),
    ("type_severities", '{"OUTLIERS": "high"}', "names 'OUTLIERS', not a drift type"),
    ("diagnosis", "outliers", "column diagnosis is 'outliers', not one of tail_contamination"),
    ("diagnosis_evidence", "{broken", "column diagnosis_evidence is not JSON"),
    ("severity", "severe", "column severity is 'severe'"),
])
def test_a_bad_column_is_an_error_naming_table_feature_day_and_column(column, value, message):
    row = {**alert("revenue_7d", "OUT_OF_RANGE", "high"), column: value}
    with pytest.raises(AlertRowError, match="drift_alerts row of feature 'revenue_7d' on 2024-03-10") as info:
        AlertRecord.from_row(row)
    assert message in str(info.value)


def test_a_bad_row_is_reported_and_the_other_rows_are_still_proposed_for(catalog):
    good = alert("revenue_7d", "OUT_OF_RANGE", "high")
    bad = alert("revenue_7d", "OUT_OF_RANGE", "high", day=DAY + dt.timedelta(days=1),
                type_severities="{truncated")
    proposal = rules.propose([bad, good], BASE, catalog)
    assert [(c.patch.feature, c.patch.action) for c in proposal.candidates] == [("revenue_7d", "clip")]
    (reason,) = proposal.skipped
    assert reason.startswith("drift_alerts row of feature 'revenue_7d' on 2024-03-11: column type_severities "
                             "is not JSON") and reason.endswith("; no patch proposed")


def test_records_and_rows_propose_the_same(catalog):
    row = alert("revenue_7d", "OUT_OF_RANGE", "high")
    from_rows = rules.propose([row], BASE, catalog).candidates
    from_records = rules.propose([AlertRecord.from_row(row)], BASE, catalog).candidates
    assert from_rows == from_records and len(from_rows) == 1


def test_drift_type_lists_round_trip_and_name_a_bad_value():
    assert drift_types(" mean_shift ,OUT_OF_RANGE,MEAN_SHIFT") == (DriftType.MEAN_SHIFT, DriftType.OUT_OF_RANGE)
    assert joined(drift_types("NULL_SPIKE,STALE")) == "NULL_SPIKE,STALE" and drift_types(None) == ()
    with pytest.raises(ValueError, match="where: 'SPIKE' is not a drift type"):
        drift_types("SPIKE", "where")


@pytest.mark.parametrize("types, metrics, expected", [
    ("OUT_OF_RANGE", {}, Diagnosis.TAIL_CONTAMINATION),
    ("MEAN_SHIFT,OUT_OF_RANGE", {"ks": 0.09, "out_of_range_excess": 0.05}, Diagnosis.TAIL_CONTAMINATION),
    # KS far beyond what the tail's excess explains: the bulk moved.
    ("OUT_OF_RANGE", {"ks": 0.24, "out_of_range_excess": 0.02}, Diagnosis.POPULATION_SHIFT),
    ("NULL_SPIKE,OUT_OF_RANGE", {}, Diagnosis.MISSING_DATA),
    ("STALE", {}, Diagnosis.VOLUME_OR_STALENESS),
    ("SCHEMA_CHANGE,NULL_SPIKE", {}, Diagnosis.TYPE_OR_SCHEMA),
    ("DISTRIBUTION_SHIFT", {}, Diagnosis.POPULATION_SHIFT),
    ("POPULATION_MIX", {}, Diagnosis.POPULATION_SHIFT),
    ("MEAN_SHIFT", {}, Diagnosis.POPULATION_SHIFT),
    ("SUSTAINED_TREND", {}, Diagnosis.POPULATION_SHIFT),
])
def test_a_row_without_a_diagnosis_gets_one_derived_from_its_types(types, metrics, expected):
    r = AlertRecord.from_row(alert("revenue_7d", types, "high", **metrics))
    assert (r.diagnosis, r.derived) == (expected, True)


def test_a_short_day_whose_mix_moved_is_diagnosed_as_the_mix_and_a_stored_diagnosis_is_kept():
    moved = alert("revenue_7d", "STALE,POPULATION_MIX", "high",
                  type_severities='{"STALE": "high", "POPULATION_MIX": "medium"}')
    assert AlertRecord.from_row(moved).diagnosis is Diagnosis.POPULATION_SHIFT
    thin = alert("revenue_7d", "STALE,POPULATION_MIX", "high",
                 type_severities='{"STALE": "high", "POPULATION_MIX": "low"}')
    assert AlertRecord.from_row(thin).diagnosis is Diagnosis.VOLUME_OR_STALENESS
    stored = AlertRecord.from_row(alert("revenue_7d", "OUT_OF_RANGE", "high", diagnosis="population_shift"))
    assert (stored.diagnosis, stored.derived) == (Diagnosis.POPULATION_SHIFT, False)
    nothing = AlertRecord.from_row(alert("revenue_7d", "", "none"))
    assert (nothing.diagnosis, nothing.derived) == (None, False)
