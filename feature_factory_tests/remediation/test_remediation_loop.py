"""The loop on both backends: propose -> decide -> apply -> patched reads -> rollback, with the
audit trail, refusals of tampered rows, and the lock."""

from __future__ import annotations

import json

import pytest
from remediation_helpers import DAY, alert, build_online, dump, seed_alerts

from feature_factory import tables
from feature_factory.features.patch_layer import patched_expressions
from feature_factory.remediation import loop
from feature_factory.remediation import patch_store as store
from feature_factory.features.patches import PatchValidationError
from feature_factory.remediation.policy import load_policy


def _ids(result, action):
    return [r["patch_id"] for r in result.new if r["action"] == action]


def test_propose_is_idempotent_and_records_review_sql(seeded, catalog):
    first = loop.propose(seeded, catalog)
    assert first.alert_date == DAY and first.alerts == 3
    assert sorted(r["action"] for r in first.new) == ["clip", "impute_median"]
    again = loop.propose(seeded, catalog)
    assert again.new == [] and sorted(again.existing) == sorted(r["patch_id"] for r in first.new)
    rows = seeded.fetch_all(f"SELECT patch_id, status, review_sql, params, evidence FROM {tables.PATCH_CANDIDATES}")
    assert len(rows) == 2 and {r[1] for r in rows} == {"PROPOSED"}
    clip = next(r for r in rows if "clip" in r[2])
    assert clip[2].startswith("/* REVIEW */")
    # The current tail rule: upper bound at the baseline max, the clean lower side at the declared min.
    assert json.loads(clip[3]) == {"lower": 0.0, "upper": 90.5}
    assert json.loads(clip[4])["out_of_range_share"] == 0.1


def test_nothing_changes_until_applied(seeded, catalog):
    loop.propose(seeded, catalog)
    build_online(seeded, catalog)
    before = dump(seeded, "customer_features_online")
    assert patched_expressions(seeded, catalog.served())["revenue_7d"] == "revenue_7d"
    assert loop.apply_approved(seeded, catalog, actor="alice") == []  # nothing approved yet
    build_online(seeded, catalog)
    assert dump(seeded, "customer_features_online") == before


def test_approve_apply_rollback_is_exact(seeded, catalog):
    result = loop.propose(seeded, catalog)
    clip_id, impute_id = _ids(result, "clip")[0], _ids(result, "impute_median")[0]
    build_online(seeded, catalog)
    before_rows, before_hash = dump(seeded, "customer_features_online")

    decided = loop.decide(seeded, catalog, approve=[clip_id], reject=[impute_id], approver="alice")
    assert decided == {"approved": [clip_id], "rejected": [impute_id]}
    logs = loop.apply_approved(seeded, catalog, actor="alice", run_id="r1",
                               rebuild=lambda: build_online(seeded, catalog))
    assert [(l["patch_id"], l["event"], l["actor"]) for l in logs] == [(clip_id, "apply", "alice")]

    revenue = dict(seeded.fetch_all("SELECT customer_id, revenue_7d FROM customer_features_online"))
    assert revenue["c09"] == 90.5 and revenue["c00"] == 1.0 and revenue["c05"] == 51.0
    # Stats before/after are the measured effect of the patch on the latest snapshot.
    log = seeded.fetch_df(f"SELECT * FROM {tables.FEATURE_PATCH_LOG}")
    before, after = json.loads(log.stats_before[0]), json.loads(log.stats_after[0])
    assert before["maximum"] == 5000.0 and after["maximum"] == 90.5
    assert before["out_of_range_share"] == pytest.approx(0.1) and after["out_of_range_share"] == 0.0
    status = dict(seeded.fetch_all(f"SELECT patch_id, status FROM {tables.PATCH_CANDIDATES}"))
    assert status == {clip_id: "APPLIED", impute_id: "REJECTED"}
    approver = seeded.fetch_one(f"SELECT approver, approved_at FROM {tables.PATCH_CANDIDATES} WHERE patch_id = ?", [clip_id])
    assert approver[0] == "alice" and approver[1] is not None

    loop.rollback(seeded, catalog, clip_id, actor="bob", run_id="r2", rebuild=lambda: build_online(seeded, catalog))
    assert dump(seeded, "customer_features_online") == (before_rows, before_hash)
    events = seeded.fetch_all(f"SELECT event, actor FROM {tables.FEATURE_PATCH_LOG} ORDER BY logged_at")
    assert events == [("apply", "alice"), ("rollback", "bob")]
    assert seeded.row_count(tables.FEATURE_PATCHES_ACTIVE.name) == 0
    with pytest.raises(store.TransitionError, match="cannot go from ROLLED_BACK to ROLLED_BACK"):
        loop.rollback(seeded, catalog, clip_id, actor="bob")


def test_policy_approves_only_allowlisted(seeded, catalog, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - feature: revenue_7d\n    actions: [clip]\n")
    result = loop.propose(seeded, catalog)
    approved, refused = loop.approve_by_policy(seeded, catalog, load_policy(path, catalog))
    assert approved == _ids(result, "clip") and refused == []
    rows = dict(seeded.fetch_all(f"SELECT action, approver FROM {tables.PATCH_CANDIDATES} WHERE status = 'APPROVED'"))
    assert rows == {"clip": f"policy:{path}"}


def test_a_policy_naming_diagnoses_leaves_derived_diagnoses_to_a_person(seeded, catalog, tmp_path):
    # The seeded rows carry no diagnosis: theirs is derived (tail_contamination for the clip), which
    # a rule that names `diagnoses` does not auto-approve.
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - feature: revenue_7d\n    actions: [clip]\n    diagnoses: [tail_contamination]\n")
    result = loop.propose(seeded, catalog)
    evidence = json.loads(seeded.fetch_one(f"SELECT evidence FROM {tables.PATCH_CANDIDATES} WHERE action = 'clip'")[0])
    assert (evidence["diagnosis"], evidence["diagnosis_derived"]) == ("tail_contamination", True)
    approved, _ = loop.approve_by_policy(seeded, catalog, load_policy(path, catalog))
    assert approved == [] and len(_ids(result, "clip")) == 1


def test_decisions_are_validated(seeded, catalog):
    result = loop.propose(seeded, catalog)
    clip_id = _ids(result, "clip")[0]
    with pytest.raises(ValueError, match="approver name is required"):
        loop.decide(seeded, catalog, approve=[clip_id], approver=" ")
    with pytest.raises(store.TransitionError, match="unknown patch id"):
        loop.decide(seeded, catalog, approve=[clip_id, "deadbeef"], approver="alice")
    assert seeded.fetch_one(f"SELECT status FROM {tables.PATCH_CANDIDATES} WHERE patch_id = ?", [clip_id]) == ("PROPOSED",)
    with pytest.raises(store.TransitionError, match="cannot go from PROPOSED to APPLIED"):
        loop.apply_approved(seeded, catalog, actor="alice", patch_ids=[clip_id])


def test_tampered_params_are_refused_and_nothing_runs(seeded, catalog):
    result = loop.propose(seeded, catalog)
    clip_id = _ids(result, "clip")[0]
    loop.decide(seeded, catalog, approve=[clip_id], approver="alice")
    evil = '{"lower": "0 END; DROP TABLE customer_features; --", "upper": 90.5}'
    seeded.execute(f"UPDATE {tables.PATCH_CANDIDATES} SET params = ? WHERE patch_id = ?", [evil, clip_id])
    with pytest.raises(PatchValidationError, match="must be a number"):
        loop.apply_approved(seeded, catalog, actor="mallory")
    assert seeded.table_exists("customer_features") and seeded.row_count(tables.FEATURE_PATCHES_ACTIVE.name) == 0
    assert seeded.fetch_one(f"SELECT status FROM {tables.PATCH_CANDIDATES} WHERE patch_id = ?", [clip_id]) == ("APPROVED",)
    # A plausible-looking change is caught by the content hash.
    seeded.execute(f"UPDATE {tables.PATCH_CANDIDATES} SET params = ? WHERE patch_id = ?", ['{"lower": 0.5, "upper": 1.0}', clip_id])
    with pytest.raises(PatchValidationError, match="does not match its id"):
        loop.apply_approved(seeded, catalog, actor="mallory")


def test_tampered_active_row_stops_the_patch_layer(seeded, catalog):
    result = loop.propose(seeded, catalog)
    clip_id = _ids(result, "clip")[0]
    loop.decide(seeded, catalog, approve=[clip_id], approver="alice")
    loop.apply_approved(seeded, catalog, actor="alice")
    seeded.execute(f"UPDATE {tables.FEATURE_PATCHES_ACTIVE} SET feature = ? WHERE patch_id = ?",
                   ["revenue_7d; DROP TABLE customer_features", clip_id])
    with pytest.raises(PatchValidationError, match="not a plain lower-case identifier"):
        patched_expressions(seeded, catalog.served())
    assert seeded.table_exists("customer_features")
    # Removing it is always allowed, even though it no longer validates.
    loop.rollback(seeded, catalog, clip_id, actor="alice")
    assert patched_expressions(seeded, catalog.served())["revenue_7d"] == "revenue_7d"


def test_second_patch_of_same_kind_is_refused_while_one_is_active(seeded, catalog):
    first = loop.propose(seeded, catalog)
    clip_id = _ids(first, "clip")[0]
    loop.decide(seeded, catalog, approve=[clip_id], approver="alice")
    loop.apply_approved(seeded, catalog, actor="alice")
    seed_alerts(seeded, [alert("revenue_7d", "OUT_OF_RANGE", "high", version=2)])
    seeded.execute("INSERT INTO feature_stats_baseline (baseline_version, feature, min_value, p01, p50, p99, "
                   "max_value) VALUES (2, 'revenue_7d', 1.0, 1.0, 40.0, 80.0, 80.0)")
    second = loop.propose(seeded, catalog)
    new_id = _ids(second, "clip")[0]
    assert new_id != clip_id
    loop.decide(seeded, catalog, approve=[new_id], approver="alice")
    with pytest.raises(store.TransitionError, match="roll it back first"):
        loop.apply_approved(seeded, catalog, actor="alice")


def test_lock_excludes_a_second_holder(warehouse):
    with store.remediation_lock(warehouse, "run-a"):
        with pytest.raises(store.RemediationBusy, match="run-a"):
            with store.remediation_lock(warehouse, "run-b"):
                pass
    with store.remediation_lock(warehouse, "run-b"):  # released, so free again
        pass
    # A crashed holder's lock expires after its TTL.
    warehouse.execute(f"UPDATE {tables.REMEDIATION_LOCK} SET holder = 'crashed', acquired_at = ?",
                      [store.utcnow().replace(year=2000)])
    with store.remediation_lock(warehouse, "run-c"):
        assert warehouse.fetch_one(f"SELECT holder FROM {tables.REMEDIATION_LOCK}") == ("run-c",)


def test_no_alerts_yet_is_a_clear_message(warehouse, catalog):
    result = loop.propose(warehouse, catalog)
    assert result.new == [] and "no drift_alerts rows yet" in result.message


def test_apply_and_rollback_wait_for_no_one_while_the_lock_is_held(seeded, catalog):
    """A second apply/rollback while another holds the lock is refused before it writes anything."""
    result = loop.propose(seeded, catalog)
    clip_id = _ids(result, "clip")[0]
    loop.decide(seeded, catalog, approve=[clip_id], approver="alice")
    with store.remediation_lock(seeded, "run-in-progress"):
        with pytest.raises(store.RemediationBusy, match="run-in-progress"):
            loop.apply_approved(seeded, catalog, actor="bob")
        assert seeded.row_count(tables.FEATURE_PATCHES_ACTIVE.name) == 0 and seeded.row_count(tables.FEATURE_PATCH_LOG.name) == 0
    loop.apply_approved(seeded, catalog, actor="bob")
    with store.remediation_lock(seeded, "run-in-progress"):
        with pytest.raises(store.RemediationBusy):
            loop.rollback(seeded, catalog, clip_id, actor="bob")
    assert seeded.fetch_one(f"SELECT status FROM {tables.PATCH_CANDIDATES} WHERE patch_id = ?", [clip_id]) == ("APPLIED",)
