"""The demo story end to end at a small size: every step is a Dagster run recorded in the instance
under DAGSTER_HOME, the injected drift is flagged, policy-covered patches are applied, a champion
is promoted and the online customers are scored."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from feature_factory import demo, project_env, settings, tables
from feature_factory.attached_runs import repository_label
from feature_factory.monitoring.notifier import Notifier
from feature_factory.monitoring.sensors import DRIFT_KEY_TAG, DriftCursor
from feature_factory.warehouse.duckdb import DuckDBWarehouse


@pytest.mark.slow
def test_small_story_runs_through_dagster(demo_run, monkeypatch):
    # The session's one demo run (conftest.demo_run; the browser tests open the UI on a copy of it).
    story, text = demo_run.story, demo_run.output
    monkeypatch.setenv("FEATURE_FACTORY_HOME", str(demo_run.home))
    monkeypatch.setenv("DAGSTER_HOME", str(demo_run.home / "dagster_home"))

    assert [s for s, _, ok, _ in story.runs] == [
        "backfill", "baseline", "drift", "propose", "apply", "retrain", "challenger",
        "backtest", "backtest", "backtest", "health"]
    # Its folders reach the code location as the `homes` resource: the environment is left as it was.
    assert demo_run.environment_changes == {}
    assert all(ok for _, _, ok, _ in story.runs), text
    # The runs live in the instance the UI opens.
    instance = dg.DagsterInstance.get()
    recorded = {r.run_id: r.job_name for r in instance.get_runs()}
    assert all(run_id in recorded for _, run_id, _, _ in story.runs)
    assert set(recorded.values()) >= {"daily_refresh_job", "capture_baseline_job", "remediation_job",
                                      "apply_patches_job", "retrain_job"}
    # Filed under their jobs in the code location `make ui` serves (Jobs -> <job> -> Runs and the
    # Overview timeline select runs by this label), as runs the daemon launched would be.
    for job in {recorded[run_id] for _, run_id, _, _ in story.runs}:
        filed = instance.get_runs(dg.RunsFilter(job_name=job, tags={REPOSITORY_LABEL_TAG: repository_label()}))
        assert {run_id for _, run_id, _, _ in story.runs if recorded[run_id] == job} <= {r.run_id for r in filed}
    # The Evidently report is its own asset, after drift_alerts in the same run: it links the
    # last day's report, and its verdicts are in that day's drift_alerts rows.
    drift_run = dict((s, r) for s, r, _, _ in story.runs)["drift"]
    landed = [e.dagster_event.asset_key.to_user_string() for e in instance.all_logs(drift_run)
              if e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"]
    assert landed.index("drift_report") > landed.index("drift_alerts")
    assert (demo_run.home / "reports" / f"drift_{story.end}_baseline_v1.html").stat().st_size > 10_000

    wh = DuckDBWarehouse(path=str(settings.warehouse_path()))
    assert wh.fetch_one("SELECT COUNT(DISTINCT snapshot_date) FROM customer_features")[0] == 40
    judged, scored = wh.fetch_one("SELECT COUNT(*), COUNT(evidently_method) FROM drift_alerts "
                                  "WHERE alert_date = CAST(? AS DATE)", [str(story.end)])
    assert judged > 0 and scored > 0
    # Outliers: the amount features alert at medium or worse in the drift window; before it, no
    # feature does.
    loud = {f for f, _, worst, _ in demo.alert_rows(wh, story.drift_start, story.end) if worst >= 2}
    assert {"max_amount_7d", "avg_amount_nonzero_7d", "amount_stddev_7d"} <= loud, text
    # Only 7-day features are judged quiet: at this size the 30-day ones have a 3-day baseline.
    assert {f for f in loud if f.endswith("_7d")} <= set().union(*demo.EXPECTED.values()), text
    quiet_from = story.start + dt.timedelta(days=story.options.baseline_days)
    before = demo.alert_rows(wh, quiet_from, story.drift_start - dt.timedelta(days=1))
    assert [f for f, _, worst, _ in before if worst >= 2] == [], text
    # The example policy approves clips (up to severity high); they are applied and logged. The
    # rest waits for a person.
    applied = wh.fetch_all("SELECT feature, action, approver FROM patch_candidates WHERE status = 'APPLIED'")
    assert applied and all(a == "clip" and who.startswith("policy:") for _, a, who in applied), applied
    assert wh.fetch_one("SELECT COUNT(*) FROM feature_patch_log WHERE event = 'apply'")[0] == len(applied)
    # Proposals follow the diagnosis: the channel-mix change is a population shift (refresh +
    # retrain, never a clip); every clip is for tail contamination and names the files carrying it.
    proposed = wh.fetch_all("SELECT feature, action, evidence FROM patch_candidates")
    channel = {(f, a) for f, a, _ in proposed if f in demo.EXPECTED["channel_shift"]}
    assert channel and {a for _, a in channel} <= {"refresh_baseline", "request_retrain"}, proposed
    clips = [json.loads(e) for _, a, e in proposed if a == "clip"]
    assert clips and all(c["diagnosis"] == "tail_contamination" and c["files"] for c in clips), clips
    assert wh.fetch_one("SELECT COUNT(*) FROM feature_patches_active")[0] == len(applied)
    online = wh.fetch_one("SELECT COUNT(*) FROM customer_features_online")[0]
    # The retrain run's champion scored every online customer (the backtests score older snapshots).
    retrain_run = dict((s, r) for s, r, _, _ in story.runs)["retrain"]
    assert online > 250 and wh.fetch_one("SELECT COUNT(*) FROM inference_results WHERE role = 'champion' "
                                         "AND run_id = ?", [retrain_run])[0] == online
    # The A/B story (issue 28, item 7): the challenger round kept the champion in a successful run
    # that says why, the challenger scored the online customers in shadow, and both models scored
    # the backtest days, whose realized ROC AUC model_performance holds.
    from feature_factory.ml.registry import ModelRegistry

    registry = ModelRegistry()  # under FEATURE_FACTORY_HOME, the demo's home
    champion, challenger = registry.champion(), registry.challenger()
    assert champion and challenger and challenger.model_type == "logistic_regression", text
    roles = dict(wh.fetch_all("SELECT role, COUNT(DISTINCT model_version) FROM inference_results GROUP BY role"))
    assert roles == {"champion": 1, "shadow": 1}
    assert wh.fetch_all("SELECT DISTINCT model_version FROM inference_results WHERE role = 'shadow'") == [
        (challenger.version,)]
    assert wh.fetch_one("SELECT COUNT(*) FROM inference_results WHERE role = 'shadow' AND run_id = ?",
                        [dict((s, r) for s, r, _, _ in story.runs)["challenger"]])[0] == online
    challenger_run = dict((s, r) for s, r, _, _ in story.runs)["challenger"]
    (kept,) = instance.fetch_materializations(dg.AssetKey("champion_model"), limit=1).records
    assert kept.run_id == challenger_run
    decision = kept.asset_materialization.metadata["gate_decision"].value
    assert decision.startswith(f"kept champion v{champion.version}: challenger v{challenger.version} "), decision
    days = demo.backtest_days(registry)
    assert len(days) == 3
    realized = wh.fetch_all("SELECT scoring_date, model_version, role, customers, roc_auc FROM model_performance "
                            "ORDER BY scoring_date, role")
    assert [(d, v, r) for d, v, r, _, _ in realized] == [
        (day, version, role) for day in days
        for version, role in ((champion.version, "champion"), (challenger.version, "shadow"))]
    assert all(n > 100 and 0.5 < auc <= 1.0 for *_, n, auc in realized), realized
    assert f"challenger v{challenger.version} logistic_regression scores in shadow" in text
    assert "champion_model with promotion_basis realized" in text
    # The daemon `make ui` starts will not act on these alerts again: its drift sensor, from no
    # cursor, finds the runs the demo launched for them (their drift-key tags) and neither alerts
    # nor requests; the default-on sensor stays on (no state stored, so DECLARED_IN_CODE).
    from feature_factory.definitions import build_defs

    defs = build_defs()
    sensor = defs.resolve_sensor_def("drift_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert [s for s in instance.all_instigator_state() if s.name == "drift_sensor"] == []
    sent = []

    class Recording(Notifier):
        def notify(self, alert):
            sent.append(alert)
            return True

    daemon_tick = sensor(dg.build_sensor_context(instance=instance, definitions=defs, resources={
        "notifier": Recording(), "drift_response": defs.resources["drift_response"]}))
    assert daemon_tick.run_requests == [] and sent == [] and DriftCursor.parse(daemon_tick.cursor).fired
    launched = [r for r in instance.get_runs(dg.RunsFilter(tags={"dagster/sensor_name": "drift_sensor"}))]
    assert {r.tags[DRIFT_KEY_TAG] for r in launched} and all(r.tags["dagster/run_key"] for r in launched)
    assert "drift sensor requested ['remediation_job']" in text
    assert "champion: v" in text and "open the UI on this instance:" in text and "make ui" in text
    # patch_candidates' newest event (the apply run's refresh of its views) still shows the review
    # SQL of the proposals that wait for a person.
    newest = instance.fetch_materializations(dg.AssetKey("patch_candidates"), limit=1).records[0]
    assert newest.run_id == dict((s, r) for s, r, _, _ in story.runs)["apply"]
    assert "/* REVIEW */" in newest.asset_materialization.metadata["review_sql"].value
    # The UI's partitions end with the story (the code location reads the home's .env on each load).
    assert project_env.read(demo_run.home)[project_env.END_DATE] == str(story.end) == "2024-02-09"
    assert f"its daily partitions end on {story.end}" in text
    # Every contract table's columns are described in the UI (its newest materialization).
    for table in tables.ASSETS:
        (record,) = instance.fetch_materializations(table.key, limit=1).records
        schema = record.asset_materialization.metadata["dagster/column_schema"].schema
        assert schema.columns and [c.name for c in schema.columns if not c.description] == [], table.name


def test_refuses_to_wipe_a_home_it_did_not_create(project_home):
    settings.landing_dir().mkdir(parents=True)
    (settings.landing_dir() / "events_2024-01-01.csv").write_text("customer_id\n")
    with pytest.raises(demo.DemoError, match="already holds data the demo did not create.*--reset"):
        demo.prepare_home(settings.home(), reset=False, out=print)
    assert (settings.landing_dir() / "events_2024-01-01.csv").exists()
    demo.prepare_home(settings.home(), reset=True, out=print)
    assert not settings.landing_dir().exists() and (settings.home() / demo.MARKER).exists()


def test_options_are_validated():
    with pytest.raises(ValueError, match="--drift-days 40 must be between 1 and --days - 1"):
        demo.StoryOptions(days=40, drift_days=40)
    assert demo.StoryOptions(days=40, drift_days=8).baseline_days == 32
    assert demo.StoryOptions().baseline_days == 60
