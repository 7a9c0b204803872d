"""`feature-factory export` / `erase` on the deployment's resources, and `erase_entity_job` from the
Launchpad's config (DuckDB in the test's project home)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from governance_helpers import GONE, KEPT, build_project, count  # noqa: E402

from feature_factory import cli  # noqa: E402
from feature_factory.settings import Homes  # noqa: E402
from feature_factory.warehouse import DuckDBWarehouse  # noqa: E402


def test_export_then_erase_from_the_command_line_then_the_job(project_home, monkeypatch, capsys):
    monkeypatch.setenv("FEATURE_FACTORY_ONLINE_STORE_PATH", str(project_home / "online.sqlite"))
    warehouse = DuckDBWarehouse(path=str(Homes().warehouse_path()))
    build_project(warehouse, project_home)
    expected = {t: count(warehouse, t, GONE) for t in ("raw_events", "quarantined_events", "landing_rows",
                                                       "customer_features", "training_set")}

    out = project_home / "subject"
    assert cli.main(["export", "--entity", "customer", GONE, "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    rows = {t["table"]: t["rows"] for t in manifest["tables"]}
    assert {t: rows[t] for t in expected} == expected and rows["customer_backup"] == 1
    raw = next(t for t in manifest["tables"] if t["table"] == "raw_events")
    assert hashlib.sha256((out / raw["file"]).read_bytes()).hexdigest() == raw["sha256"]
    assert pd.read_parquet(out / raw["file"])["customer_id"].tolist() == [GONE]
    store = json.loads((out / "online_store.json").read_text())
    assert store["entries"][GONE]["features"] == {"revenue_7d": 1.0} and list(store["entries"]) == [GONE]

    assert cli.main(["erase", "--entity", "customer", GONE, "--requested-by", "dpo"]) == 0
    printed = capsys.readouterr().out
    assert "verified: every table and store re-counted 0 rows" in printed and "raw_events" in printed
    assert count(warehouse, "raw_events", GONE) == 0 and count(warehouse, "raw_events", KEPT) == 3

    import dagster as dg

    from feature_factory import deployment
    from feature_factory.governance.definitions import erase_entity_job

    job = dg.Definitions(jobs=[erase_entity_job], resources=deployment.resources_for()).resolve_job_def(
        "erase_entity_job")
    run = job.execute_in_process(run_config={"ops": {"erase_entity": {"config": {
        "ids": [KEPT], "requested_by": "ops", "request_retrain": True}}}})
    meta = run.output_for_node("erase_entity")
    assert run.success and meta.startswith("erasure-")
    assert count(warehouse, "raw_events", KEPT) == 0
    ledger = warehouse.fetch_all("SELECT requested_by, COUNT(DISTINCT erasure_id), SUM(CASE WHEN target_kind = "
                                 "'retrain_request' THEN 1 ELSE 0 END) FROM erasure_ledger GROUP BY 1 ORDER BY 1")
    assert ledger == [("dpo", 1, 0), ("ops", 1, 1)]  # the job asked for a retrain: its sensor launches it

    from feature_factory.governance.definitions import retrain_requests

    assert retrain_requests(warehouse) == [meta]
