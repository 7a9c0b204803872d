"""Issue 28 item 4, the rules' side: a NULL_SPIKE diagnosed `population_shift` (NULL by definition:
entities without a qualifying row in the window) gets what a genuine population change gets,
refresh_baseline + request_retrain, never disable_feature; missing data still may be disabled."""

from __future__ import annotations

import json

from test_remediation_by_diagnosis import BASE as STATS, CATALOG, diagnosed

from feature_factory.remediation import rules


def test_the_rules_propose_refresh_and_retrain_for_it_never_disable():
    # A null rise large enough that a broken feed would be disabled (critical, 60 points).
    row = diagnosed("max_amount_7d", "population_shift", "NULL_SPIKE", "critical", null_by_definition=True)
    row["null_rate_delta"] = 0.6
    got = rules.propose([row], STATS, CATALOG)
    assert sorted(c.patch.action for c in got.candidates) == ["refresh_baseline", "request_retrain"]
    assert not any("no applicable patch" in s for s in got.skipped)
    missing = diagnosed("max_amount_7d", "missing_data", "NULL_SPIKE", "critical")
    missing["null_rate_delta"] = 0.6
    assert "disable_feature" in {c.patch.action for c in rules.propose([missing], STATS, CATALOG).candidates}
    assert json.loads(row["diagnosis_evidence"])["null_by_definition"] is True
