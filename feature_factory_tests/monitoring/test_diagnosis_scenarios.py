"""Issue 14's scenarios that test_monitoring_generated.py does not cover (it writes one landing file
a day), at small size through the real pipeline of the diagnosis benchmark (bench/diagnosis.py:
generator with 4 files a day -> ingestion -> features -> stats -> baseline -> drift + diagnosis +
attribution -> the proposal rules):

- an outlier burst in ONE landing file of one day: `single_source` (or `tail_contamination`) with
  that file named, and only `exclude_source` of that file or a clip proposed;
- a channel-mix change: `population_shift` with refresh_baseline + request_retrain, never a clip;
- a schema change the cast cannot repair (one file renames `amount`, ingested with NULL amounts
  under `missing_column: alert`): the `type_or_schema` rule at medium+, that file excluded;
- a replayed batch (days 101..103 re-landed in one extra file with new event ids, issue 28):
  `single_source` naming that file, only its exclusion proposed (never a refresh or a retrain).
"""

from __future__ import annotations

import pytest

from bench import diagnosis as B

pytestmark = pytest.mark.slow

CUSTOMERS = 1000


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnosis_scenarios")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEATURE_FACTORY_HOME", str(root / "home"))
        # Each judged on one day: the burst on its incident day (when its alert first fires), the
        # channel mix 3 days in (its 7-day counts reach medium only then). The clean warehouse is
        # built once and reused by the second call.
        rows = B.run_scenarios(root / "work", CUSTOMERS, 3, {"burst_one_file"}, log=lambda *_: None,
                               judged=(B.INCIDENT,))
        rows += B.run_scenarios(root / "work", CUSTOMERS, 3, {"channel_mix"}, log=lambda *_: None,
                                judged=(B.DRIFT + 4,))
        rows += B.run_scenarios(root / "work", CUSTOMERS, 3, {"rename_one_file"}, log=lambda *_: None,
                                judged=(B.INCIDENT,))
        rows += B.run_scenarios(root / "work", CUSTOMERS, 3, {"replay_three_days"}, log=lambda *_: None,
                                judged=(B.INCIDENT + 2,))
    return {r["scenario"]: r for r in rows}


def test_a_burst_in_one_file_is_traced_to_that_file(table):
    row = table["burst_one_file"]
    bad = f"events_{B.DAY(B.INCIDENT)}_part{B.BAD_PART:03d}.parquet"
    assert row["drifted_feature_days"] > 0
    assert row["diagnosis_right"] == row["drifted_feature_days"], row["details"]
    assert row["diagnoses"].get("single_source", 0) > 0, row["diagnoses"]
    # The proposals fit: exclude_source of that file, or a clip; nothing else, nowhere else.
    assert row["wrong_count"] == 0 and row["fitting"] > 0, row["wrong"]
    assert set(row["actions"]) <= {"exclude_source", "clip"} and "exclude_source" in row["actions"], row["actions"]
    assert any(bad in line for line in row["examples"]), row["examples"]


def test_a_channel_mix_change_is_a_population_shift_refreshed_and_retrained(table):
    row = table["channel_mix"]
    assert row["drifted_feature_days"] > 0
    assert row["diagnoses"] == {"population_shift": row["drifted_feature_days"]}, row["details"]
    assert row["wrong_count"] == 0, row["wrong"]
    assert set(row["actions"]) == {"refresh_baseline", "request_retrain"}, row["actions"]
    assert row["actions"]["refresh_baseline"] == row["actions"]["request_retrain"] == row["drifted_feature_days"]


def test_a_schema_change_the_cast_cannot_repair_is_type_or_schema_and_excludes_that_file(table):
    row = table["rename_one_file"]
    bad = f"events_{B.DAY(B.INCIDENT)}_part{B.BAD_PART:03d}.parquet"
    assert row["drifted_feature_days"] > 0, row["details"]
    # Every medium+ feature-day went through the type_or_schema rule (the file's missing column in
    # landing_schema_drift); single_source where the file also carries the missing inputs.
    assert row["preliminary"] == {"type_or_schema": row["drifted_feature_days"]}, row["details"]
    assert set(row["diagnoses"]) <= {"type_or_schema", "single_source"}, row["diagnoses"]
    assert row["wrong_count"] == 0 and set(row["actions"]) == {"exclude_source"}, (row["actions"], row["wrong"])
    assert row["segment_first"] == row["drifted_feature_days"], row["details"]
    assert any(bad in line for line in row["examples"]), row["examples"]


def test_a_replayed_batch_is_a_single_source_and_only_that_file_is_excluded(table):
    row = table["replay_three_days"]
    replay = f"events_{B.DAY(B.INCIDENT + 2)}_replay_{B.DAY(B.INCIDENT)}.parquet"
    assert row["drifted_feature_days"] > 0, row["details"]
    assert row["diagnoses"] == {"single_source": row["drifted_feature_days"]}, row["details"]
    assert row["segment_first"] == row["drifted_feature_days"], row["details"]
    assert row["wrong_count"] == 0 and set(row["actions"]) == {"exclude_source"}, (row["actions"], row["wrong"])
    assert row["actions"]["exclude_source"] == row["drifted_feature_days"]
    assert any(replay in line and "replays" in line for line in row["examples"]), row["examples"]
