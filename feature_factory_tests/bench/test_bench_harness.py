"""The benchmark harness end to end on tiny data: no timing assertions, only that it measures
what it says, and that the point-in-time contenders agree with each other and with a brute force."""

from __future__ import annotations

import json

import duckdb
import pytest

import bench
from bench.harness import run_measured


def test_harness_measures_a_child_process_and_caps_its_memory(tmp_path):
    ok = run_measured("bench.probe:allocate", {"mb": 200}, log_path=tmp_path / "ok.log")
    assert ok.status == "ok", ok.reason
    assert ok.out["rows_out"] == 200
    assert ok.peak_rss_mb >= 200  # the child's own peak, not the test process's
    assert 0 < ok.wall_s <= ok.process_wall_s
    assert ok.cpu_s >= 0 and ok.rss_before_mb > 0

    capped = run_measured("bench.probe:allocate", {"mb": 400, "hold_s": 30},
                          log_path=tmp_path / "capped.log", mem_cap_bytes=150 * 2**20)
    assert capped.status == "killed"
    assert "cap" in capped.reason and capped.wall_s is None

    broken = run_measured("bench.probe:no_such_function", {}, log_path=tmp_path / "broken.log")
    assert broken.status == "failed" and "no_such_function" in broken.reason


@pytest.fixture(scope="module")
def quick_pit(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    out, work = root / "results", root / "work"
    code = bench.main(["--quick", "--only", "pit_a", "--contenders", "ours,ours_asof_proposal,bare_asof",
                     "--out", str(out), "--work", str(work)])
    assert code == 0
    return json.loads((out / "results.json").read_text()), out, work


def test_quick_pit_writes_well_formed_results(quick_pit):
    doc, out, _ = quick_pit
    assert doc["quick"] is True and doc["machine"]["cores"] >= 1
    (pit,) = doc["workloads"]
    assert pit["name"] == "pit_a"
    rows = {r["contender"]: r for r in pit["rows"]}
    assert set(rows) == {"ours", "ours_asof_proposal", "bare_asof"}
    labels = pit["prepare"]["setup"]["labels"]
    assert labels == pit["params"]["labels"]
    for name in ("ours", "ours_asof_proposal", "bare_asof"):
        r = rows[name]
        assert r["status"] == "ok", r.get("reason")
        assert r["rows_out"] == labels and r["labels_out"] == labels
        assert r["labels_lost"] == 0 and r["duplicate_rows"] == 0 and r["mismatched_labels"] == 0
        assert 0 < r["wall_s"] <= r["process_wall_s"] and r["peak_rss_mb"] > 0 and r["cpu_s"] >= 0
    assert rows["bare_asof"]["ratio_vs_reference"] == 1.0
    assert rows["ours"]["ratio_vs_reference"] == pytest.approx(rows["ours"]["wall_s"] / rows["bare_asof"]["wall_s"])
    # Some labels fall before a customer's first snapshot or in a gap longer than the TTL: kept, NULL.
    assert 0 < rows["ours"]["labels_without_features"] < labels
    goals = {g["goal"]: g for g in pit["goals"]}
    assert goals["no label lost, same features as the bare ASOF join (ours)"]["met"] is True
    md = (out / "RESULTS.md").read_text()
    assert "| contender | status | wall s | CPU s | process s | peak MB | rows | x ref | notes |" in md
    assert "1a. Point-in-time training set" in md


def test_quick_pit_matches_a_brute_force_as_of_lookup(quick_pit):
    _, _, work = quick_pit
    con = duckdb.connect(str(work / "pit_a" / "warehouse.duckdb"), read_only=True)
    # The newest snapshot dated in [label day - 7, label day - 1], by correlated subquery.
    expected = dict(((c, d), s) for c, d, s in con.execute("""
        SELECT l.customer_id, l.label_date,
               (SELECT MAX(f.snapshot_date) FROM customer_features f WHERE f.customer_id = l.customer_id
                  AND f.snapshot_date BETWEEN l.label_date - 7 AND l.label_date - 1)
        FROM churn_labels l""").fetchall())
    got = {(c, d): s for c, d, s in con.execute(
        "SELECT customer_id, label_date, feature_snapshot_date FROM training_set").fetchall()}
    con.close()
    assert got == expected


def test_report_only_rejudges_the_goals_without_measuring(quick_pit):
    doc, out, _ = quick_pit
    (out / "RESULTS.md").unlink()
    assert bench.main(["--report-only", "--out", str(out)]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["workloads"][0]["rows"] == doc["workloads"][0]["rows"]  # nothing re-measured
    goals = {g["goal"]: g for g in again["workloads"][0]["goals"]}
    assert "CPU-time ratio" in goals["ours within 1.3x of the bare DuckDB ASOF join"]["note"]
    assert "1a. Point-in-time training set" in (out / "RESULTS.md").read_text()
