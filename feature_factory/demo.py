"""`feature-factory demo` (`make demo`): the whole story on the embedded DuckDB, through Dagster.

generate events with drift in the last days -> ingest + customer_features backfill (one run over the
range) -> online table -> baseline from the first 60 days -> feature_stats + drift_alerts + drift_report (one run)
-> the drift sensor's tick requests remediation -> propose patches, approve by the shipped example
policy -> apply -> retrain + score -> a challenger round (the champion kept, the challenger scored in
shadow) -> backtests of early scoring days, whose outcomes are known, so `model_performance` shows
both models' realized ROC AUC (the A/B story). The runs the sensor's tick requested carry its drift-key tag, as
the daemon's would, so the daemon that `make ui` starts skips the alerts the demo already handled
(the sensor's own dedup, through public instance APIs; no cursor is handed over).

Every step is a run of the code location's own jobs, recorded with the code location's origin (so
the UI lists it under its job, `attached_runs`) and executed in this process against the instance
in DAGSTER_HOME (opened from its folder; the environment is read, never changed), so `make ui`
afterwards shows the runs, materializations, checks and plots. Data goes under FEATURE_FACTORY_HOME:
the demo hands its folders to the code location as the `homes` resource. A home holding data the
demo did not write is never wiped unless `--reset` says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from feature_factory.settings import Homes

MARKER = ".feature_factory_demo"  # written into a home the demo owns, so a rerun may wipe it
POLICY = Path(__file__).parent / "remediation" / "policy.example.yaml"
# Which features each injected drift should move (ground truth for the summary's verdict).
EXPECTED = {
    "outliers": {"revenue_7d", "max_amount_7d", "min_amount_7d", "avg_amount_nonzero_7d",
                 "amount_stddev_7d", "revenue_30d", "revenue_90d"},
    "channel_shift": {"mobile_events_7d", "web_events_7d"},
}
SENSOR_TAG = "dagster/sensor_name"  # the tags the daemon puts on a sensor's runs (the UI's "Launched by")
RUN_KEY_TAG = "dagster/run_key"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class StoryOptions:
    customers: int = 2000
    days: int = 90
    drift_days: int = 10
    baseline_days: int | None = None  # default: the first 60 days, or every drift-free day if fewer
    seed: int = 7
    outlier_rate: float = 0.03
    channel_shift: float = 0.35
    reset: bool = False

    def __post_init__(self):
        if self.customers < 10:
            raise ValueError(f"--customers {self.customers}: need at least 10")
        if not 0 < self.drift_days < self.days:
            raise ValueError(f"--drift-days {self.drift_days} must be between 1 and --days - 1 ({self.days - 1})")
        if self.baseline_days is None:
            object.__setattr__(self, "baseline_days", min(60, self.days - self.drift_days))
        if not 7 <= self.baseline_days <= self.days - self.drift_days:
            raise ValueError(
                f"--baseline-days {self.baseline_days} must be between 7 and the drift-free days "
                f"({self.days - self.drift_days})")


@dataclass
class Story:
    options: StoryOptions
    start: dt.date
    end: dt.date
    drift_start: dt.date
    runs: list[tuple[str, str, bool, float]] = field(default_factory=list)  # step, run id, ok, seconds
    alerts_text: str = ""  # read once after the drift run; printed there and in the summary
    seconds: float = 0.0
    homes: Homes = field(default_factory=Homes)  # the folders the story writes (demo_homes)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = StoryOptions()
    parser.add_argument("--customers", type=int, default=d.customers, help="customers at the start")
    parser.add_argument("--days", type=int, default=d.days, help="days of events")
    parser.add_argument("--drift-days", type=int, default=d.drift_days,
                        help="drift (outlier burst + channel-mix change) in this many last days")
    parser.add_argument("--baseline-days", type=int, default=None,
                        help="baseline window: the first N days (default 60, at most the drift-free days)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--reset", action="store_true",
                        help="wipe the warehouse, landing files, models and reports under the home "
                             "first even if the demo did not create them")


def run(args: argparse.Namespace) -> int:
    try:
        options = StoryOptions(customers=args.customers, days=args.days, drift_days=args.drift_days,
                               baseline_days=args.baseline_days, seed=args.seed, reset=args.reset)
        story = run_story(options)
    except (ValueError, DemoError) as exc:
        print(f"feature-factory demo: {exc}", file=sys.stderr)
        return 2
    failed = [step for step, _, ok, _ in story.runs if not ok]
    return 1 if failed else 0


class DemoError(RuntimeError):
    """The story cannot go on; the message says which step and why."""


# ---------------------------------------------------------------------------------------------
# The story


def demo_homes(home: Path | None = None) -> Homes:
    """The demo's folders: the environment's home (or `home`), instance folder and reports URL, and
    always its own landing folder under the home, never a configured one (the demo wipes it)."""
    env = Homes(home=str(home) if home else None)
    root = env.root()
    return Homes(home=str(root), landing=str(root / "landing" / "events"),
                 dagster_home=str(env.instance_dir()), reports_url=env.base_reports_url())


def run_story(options: StoryOptions, out: Callable[[str], None] = print) -> Story:
    from feature_factory import project_env, settings

    homes = demo_homes()
    home = homes.root()
    if Homes().landing_override():
        out(f"note: FEATURE_FACTORY_LANDING ignored; the demo's events go to {homes.landing_dir()}")
    prepare_home(home, options.reset, out)

    start = dt.date.fromisoformat(settings.start_date())
    end = start + dt.timedelta(days=options.days - 1)
    story = Story(options, start, end, end - dt.timedelta(days=options.drift_days - 1), homes=homes)
    began = time.perf_counter()
    out(f"Feature Factory demo: {options.customers} customers x {options.days} days ({start}..{end}), "
        f"drift from {story.drift_start}; home {home}")

    # The UI's daily partitions end with the story's last day (read by the code location on each
    # load): "40 partitions", not every day since the start date; `generate --append-days` moves it.
    project_env.update(home, {project_env.END_DATE: str(end)})
    steps = story_steps(options, story)
    total = len(steps) + 1
    _step(out, 1, total, "generate events (outlier burst + channel-mix change in the last "
                  f"{options.drift_days} days)", lambda: _generate(story))

    import dagster as dg

    from feature_factory.attached_runs import execute_attached
    from feature_factory.definitions import build_defs
    from feature_factory.homes import HomesResource
    from feature_factory.instance import ensure_instance
    from feature_factory.remediation.resources import RemediationSettings

    # The shipped policy approves what it covers; the rest waits for a person. Alerts reach the
    # terminal as one short line each (the default notifier logs each alert's whole JSON).
    defs = build_defs(resources={"homes": HomesResource(**homes.model_dump()),
                                 "remediation": RemediationSettings(mode="auto_approve", policy_path=str(POLICY)),
                                 "notifier": story_notifier()})
    # The instance in the demo's own folder, opened through its dagster.yaml (no DAGSTER_HOME needed).
    instance = dg.DagsterInstance.from_config(str(ensure_instance(homes.instance_dir())))
    wh = defs.resources["warehouse"]

    def run_step(step: Step, tags: dict[str, str] | None = None) -> str:
        t0 = time.perf_counter()
        # Recorded with the code location's origin, so the UI lists it under its job and on the
        # Overview timeline, as a run the daemon launched; executed here, in process.
        result = execute_attached(
            defs.resolve_job_def(step.job), instance, tags={**step.tags, **(tags or {})},
            asset_selection=[dg.AssetKey(a) for a in step.assets] if step.assets else None,
            run_config={**QUIET_LOGS, **step.run_config},
        )
        seconds = time.perf_counter() - t0
        story.runs.append((step.name, result.run_id, result.success, seconds))
        failed = [f"{e.step_key}: {_first_line(e.event_specific_data.error)}"
                  for e in result.all_events if e.is_step_failure]
        detail = f"run {result.run_id[:8]} of {step.job}, {seconds:.1f}s"
        if not result.success:
            detail += f"; FAILED steps: {'; '.join(failed) or 'see the run in the UI'}"
            if step.must_succeed:
                raise DemoError(f"{step.name} failed ({detail})")
        return detail

    def react(step: Step) -> str:
        requests = drift_sensor_tick(defs, instance)
        # Tagged as the daemon tags a sensor's runs: the UI shows them launched by drift_sensor, and
        # their drift-key tag tells the daemon's sensor these alerts are handled.
        done = [run_step(step, tags={**r.tags, SENSOR_TAG: "drift_sensor", RUN_KEY_TAG: r.run_key})
                for r in requests if r.job_name == step.job]
        if not done:  # nothing reached the sensor's severity: propose from the latest day anyway
            done = [run_step(step)]
        return f"drift sensor requested {[r.job_name for r in requests]}; " + "; ".join(done)

    def backtest(step: Step) -> str:
        # One run per early scoring day (the inference asset scores one snapshot per run); the last
        # run also measures realized performance over every day scored so far.
        days = backtest_days(defs.resources["model_registry"].open())
        if not days:
            return "skipped: no champion with a holdout window to backtest"
        return "; ".join(
            f"{day}: " + run_step(Step(step.name, step.title, step.job, assets=step.assets if day == days[-1]
                                       else step.assets[:1], must_succeed=step.must_succeed,
                                       run_config={"ops": {"inference_results": {"config": {"as_of": str(day)}}}}))
            for day in days)

    for n, step in enumerate(steps, start=2):
        act = react if step.after_sensor_tick else backtest if step.backtest else run_step
        _step(out, n, total, step.title, lambda s=step, act=act: act(s))
        if step.name == "drift":  # what the drift run found, before the sensor reacts to it
            story.alerts_text = alerts_summary(story, wh)
            out(indent(story.alerts_text))
    story.seconds = time.perf_counter() - began
    out(indent("drift sensor: the runs it requested are tagged with their drift keys; the UI's daemon "
               "acts only on alerts newer than this story"))
    out("")
    out(summary(story, defs.resources["model_registry"].open(), wh, defs.resources["online_store"].store()))
    return story


@dataclass(frozen=True)
class Step:
    """One run of the story: a job of the code location with its run config, selection and tags."""

    name: str
    title: str
    job: str
    run_config: dict = field(default_factory=dict)
    assets: tuple[str, ...] = ()  # a subset of the job's assets (default: all of them)
    tags: dict[str, str] = field(default_factory=dict)
    must_succeed: bool = True  # False: a failure is reported and the story goes on
    after_sensor_tick: bool = False  # run once per request of the drift sensor's tick
    backtest: bool = False  # run once per early scoring day (backtest_days), `as_of` that day


def story_steps(options: StoryOptions, story: Story) -> list[Step]:
    """The story after the events are generated, in order."""
    from feature_factory.partitions import range_tags

    days = range_tags(story.start, story.end)
    baseline_end = story.start + dt.timedelta(days=options.baseline_days - 1)
    return [
        Step("backfill", "ingest events and backfill customer_features + online table (one run over every day)",
             "daily_refresh_job", tags=days, assets=(
                 "raw_events", "quarantined_events", "customer_features", "customer_features_online",
                 "customer_features_online_store")),
        Step("baseline", f"capture the baseline from the first {options.baseline_days} days",
             "capture_baseline_job", run_config={"ops": {"feature_stats_baseline": {"config": {
                 "start_date": str(story.start), "end_date": str(baseline_end)}}}}),
        Step("drift", "compute feature_stats, drift_alerts and the Evidently drift_report for every day (one run)",
             "daily_refresh_job", tags=days, assets=("feature_stats", "drift_alerts", "drift_report")),
        Step("propose", "drift sensor tick: alert, then the remediation run it requests proposes patches "
             "and approves those the example policy covers", "remediation_job", after_sensor_tick=True),
        Step("apply", "apply the approved patches (logged, reversible) and rebuild the online table",
             "apply_patches_job"),
        # A losing challenger is a kept champion (the gate warns, the run succeeds). With no champion
        # to keep, a challenger the gate refuses fails the run: reported (exit 1), not fatal.
        Step("retrain", "train LR, RF and gradient boosting on the point-in-time training set, calibrate, "
             "promote through the gate, score", "retrain_job", run_config=retrain_config(options.days),
             must_succeed=False),
        # The A/B story: a challenger with other settings is registered, the champion keeps serving
        # (promotion waits for realized performance) and the challenger scores the same customers
        # in shadow; a successful run that says what the gate decided.
        Step("challenger", "train a challenger (logistic regression, stronger regularisation): the champion "
             "is kept until realized outcomes decide; the challenger scores in shadow", "retrain_job",
             run_config=CHALLENGER_CONFIG, assets=CHALLENGER_ASSETS, must_succeed=False),
        Step("backtest", "score early days whose outcomes are known (champion + shadow), then measure "
             "realized performance", "scoring_job", assets=("inference_results", "model_performance"),
             must_succeed=False, backtest=True),
        Step("health", "judge the pipeline's own health from this instance's run history (pipeline_health)",
             "pipeline_health_job"),
    ]


def story_notifier():
    """The demo's notifier: one line per drift alert on stdout (day, worst severity, features)."""
    from feature_factory.monitoring.notifier import Notifier

    class StoryNotifier(Notifier):
        def notify(self, alert: dict) -> bool:
            features = alert.get("features") or {}
            print(f"      drift alert sent for {alert.get('partition')}: {alert.get('max_severity')}, "
                  f"{len(features)} feature(s): {', '.join(sorted(features))}", flush=True)
            return True

    return StoryNotifier()


def drift_sensor_tick(defs, instance) -> list:
    """What the daemon's drift sensor does on its next tick, done here with the code location's own
    sensor and resources: read every new drift_alerts materialization, notify, and return the runs
    it requests. It starts from no cursor, as the daemon's first tick does; alerts already handled
    are known from the runs' drift-key tags, not from a cursor."""
    import dagster as dg

    sensor = defs.resolve_sensor_def("drift_sensor")
    resources = {key: defs.resources[key] for key in sensor.required_resource_keys}
    requests, cursor = [], None
    while True:  # the sensor reads a bounded batch per tick
        result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                                definitions=defs))
        requests += result.run_requests or []
        if result.cursor == cursor:
            return requests
        cursor = result.cursor


# The challenger round: new settings (so new model versions), promotion on realized performance.
CHALLENGER_CONFIG = {"ops": {
    "churn_model": {"config": {"candidates": ["logistic_regression"], "lr_c": 0.1}},
    "champion_model": {"config": {"promotion_basis": "realized"}},
}}
CHALLENGER_ASSETS = ("churn_model", "champion_model", "inference_results", "model_performance")
BACKTEST_DAYS = 3


def backtest_days(registry, n: int = BACKTEST_DAYS) -> list[dt.date]:
    """Up to `n` scoring days spread over the champion's holdout window: a score from snapshot day
    S predicts label date S + 1, so these days were scored by neither model's training (the
    challenger round trains on the same labels, same split), and their outcomes are known."""
    champion = registry.champion()
    window = champion.training_window if champion else {}
    if not window.get("holdout_first_label_date") or not window.get("last_label_date"):
        return []
    first = dt.date.fromisoformat(str(window["holdout_first_label_date"])[:10]) - dt.timedelta(days=1)
    last = dt.date.fromisoformat(str(window["last_label_date"])[:10]) - dt.timedelta(days=1)
    span = (last - first).days
    return sorted({first + dt.timedelta(days=round(i * span / max(n - 1, 1))) for i in range(n)})


def retrain_config(days: int) -> dict:
    """The retrain run's config: the labels for the story's length (label_config), and the forest's
    trees fitted on two threads (the same trees as on one: each tree's seed is drawn before they
    are fitted; one run at a time locally, so the cores are free)."""
    ops = label_config(days).get("ops", {})
    return {"ops": {**ops, "churn_model": {"config": {"n_jobs": 2}}}}


def label_config(days: int) -> dict:
    """Churn labels need a 14-day outcome after 28 days of history, and the out-of-time split a
    purge of one horizon between training and holdout dates; a short story (--days < 90) scales
    the horizon to a sixth of its days and the history to a quarter, with labels every 2 days."""
    if days >= 90:
        return {}
    return {"ops": {"churn_labels": {"config": {
        "horizon_days": max(4, days // 6), "min_history_days": max(7, days // 4), "every_days": 2}}}}


def prepare_home(home: Path, reset: bool, out: Callable[[str], None]) -> None:
    """Start from nothing: wipe what an earlier demo wrote. Data the demo did not write is kept
    unless `reset`; the Dagster instance (run history) is always kept."""
    from feature_factory import deployment

    homes = demo_homes(home)
    owned = [homes.landing_dir(), home / "ground_truth", home / "models", home / "reports",
             home / "plots"]
    if deployment.deployment_name() == "local":
        owned += [homes.warehouse_path(), homes.warehouse_path().with_suffix(".duckdb.wal")]
    present = [p for p in owned if p.exists()]
    if present and not (home / MARKER).exists() and not reset:
        raise DemoError(
            f"{home} already holds data the demo did not create ({', '.join(str(p) for p in present)}); "
            "rerun with --reset to wipe it, or point FEATURE_FACTORY_HOME at another folder")
    if deployment.deployment_name() != "local":
        out("note: the demo wipes local files only; tables in the Snowflake deployment are replaced per partition")
    for path in present:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("This home was written by `feature-factory demo`; a rerun wipes its data.\n")


def _generate(story: Story) -> str:
    from feature_factory.synthetic.generator import DriftConfig, GeneratorConfig, generate

    o, landing = story.options, story.homes.landing_dir()
    result = generate(GeneratorConfig(
        customers=o.customers, days=o.days, start=story.start, seed=o.seed, fmt="csv", out_dir=landing,
        drift=DriftConfig(start=story.drift_start, outlier_rate=o.outlier_rate, channel_shift=o.channel_shift),
    ))
    return f"{result.total_events:,} events in {len(result.events_per_day)} daily files under {landing}"


def _step(out: Callable[[str], None], n: int, total: int, title: str, fn: Callable[[], str]) -> None:
    out(f"[{n}/{total}] {title}")
    t0 = time.perf_counter()
    detail = fn()
    out(f"      done in {time.perf_counter() - t0:.1f}s: {detail}")


def _first_line(error) -> str:
    """The user-facing line of a step failure (the root cause, not Dagster's wrapper)."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    return (getattr(error, "message", "") or "unknown error").strip().splitlines()[0][:300]


def indent(text: str, by: str = "      ") -> str:
    return "\n".join(by + line for line in text.splitlines())


# ---------------------------------------------------------------------------------------------
# What the story shows, read back from the warehouse and the registry


def alert_rows(wh, first: dt.date, last: dt.date) -> list:
    """(feature, drift types, worst severity rank, days) over [first, last], alerts at low or above:
    the monitoring domain's reader."""
    from feature_factory.monitoring.report.alerts import alerts_by_feature

    return alerts_by_feature(wh, first, last)


def alerts_summary(story: Story, wh) -> str:
    """What the drift run found in warehouse `wh` (the code location's), against what was injected."""
    from feature_factory.monitoring.detection.drift import SEVERITIES

    quiet_first = story.start + dt.timedelta(days=story.options.baseline_days)
    lines = [f"alerts in the drift window {story.drift_start}..{story.end} (feature: types, worst severity, days):"]
    drifted = alert_rows(wh, story.drift_start, story.end)
    for feature, types, worst, n in drifted:
        lines.append(f"  {feature}: {','.join(types) or '-'}, {SEVERITIES[worst]}, {n} day(s)")
    if not drifted:
        lines.append("  none")
    from feature_factory.catalog import load_catalog
    from feature_factory.monitoring.detection.baseline import current_baseline

    baseline = current_baseline(wh)
    unmonitored = sorted(f.name for f in load_catalog().computed()
                         if baseline is None or f.name not in baseline.features)
    if unmonitored:
        lines.append("not monitored: their windows are longer than the event history before the baseline "
                     f"ends, so the baseline has no complete day of them: {', '.join(unmonitored)}")
    expected = set().union(*EXPECTED.values()) - set(unmonitored)
    # The verdict counts what the drift sensor acts on (medium and above); `low` is informational.
    loud = {f for f, _, worst, _ in drifted if worst >= SEVERITIES.index("medium")}
    lines.append(f"expected to move: {', '.join(sorted(expected))}")
    lines.append(f"  flagged as expected: {', '.join(sorted(loud & expected)) or 'none'}")
    if expected - loud:
        lines.append(f"  quiet though injected: {', '.join(sorted(expected - loud))}")
    if loud - expected:
        lines.append(f"  flagged (medium or worse) beyond the injected ones: {', '.join(sorted(loud - expected))}")
    if quiet_first < story.drift_start:
        before = alert_rows(wh, quiet_first, story.drift_start - dt.timedelta(days=1))
        lines.append(f"alerts on the drift-free days after the baseline ({quiet_first}.."
                     f"{story.drift_start - dt.timedelta(days=1)}): "
                     + (", ".join(f"{f} ({SEVERITIES[int(w)]}, {n}d)" for f, _, w, n in before) or "none"))
    return "\n".join(lines)


def summary(story: Story, registry, wh, store=None) -> str:
    """The story's outcome, read back from warehouse `wh`, `registry` and online `store` (the code
    location's) through the domains' own readers."""
    from feature_factory import project_env, tables
    from feature_factory.features.snapshots import snapshot_days
    from feature_factory.remediation.patch_store import fetch_candidates

    def count(table) -> int:
        return wh.row_count(table.name)  # 0 for a table not written yet

    lines = ["Summary", "======="]
    lines.append(f"counts: {count(tables.RAW_EVENTS):,} events ingested, "
                 f"{count(tables.QUARANTINED_EVENTS):,} quarantined, "
                 f"{count(tables.CUSTOMER_FEATURES):,} feature rows ({snapshot_days(wh)} days), "
                 f"{count(tables.CUSTOMER_FEATURES_ONLINE):,} customers online, "
                 f"{count(tables.INFERENCE_RESULTS):,} scored")
    lines.append(story.alerts_text or alerts_summary(story, wh))

    lines.append("patches (feature, action, status, approver):")
    if wh.table_exists(tables.PATCH_CANDIDATES.name):
        with wh.session() as s:
            candidates = sorted(fetch_candidates(s), key=lambda r: (r["status"], r["feature"], r["action"]))
        for r in candidates:
            lines.append(f"  {r['feature']}: {r['action']} -> {r['status']}"
                         + (f" by {r['approver']}" if r["approver"] else ""))
        waiting = sum(r["status"] == "PROPOSED" for r in candidates)
        if waiting:
            lines.append(f"  {waiting} proposal(s) wait for a person: launch approve_patches_job in the UI "
                         "(see README, 'Approving patches')")

    champion = registry.champion()
    lines.append("models (version, type, status, holdout roc_auc / pr_auc):")
    for v in registry.versions():
        m = v.metrics
        lines.append(f"  v{v.version} {v.model_type}: {v.status}, roc_auc {m.get('roc_auc', float('nan')):.3f}, "
                     f"pr_auc {m.get('pr_auc', float('nan')):.3f}")
    lines.append(f"champion: v{champion.version} {champion.model_type}" if champion else "champion: none")
    lines += ab_lines(registry, wh)

    reports = sorted(story.homes.artifacts_dir("reports").glob("drift_*.html"))
    lines.append(f"Evidently report: {reports[-1]}\n  in the browser while the UI runs: "
                 f"{browser_url(story.homes.report_url(reports[-1]))}" if reports else "Evidently report: none written")
    failed = [s for s, _, ok, _ in story.runs if not ok]
    lines.append(f"{len(story.runs)} Dagster runs ({'all succeeded' if not failed else 'failed: ' + ', '.join(failed)}) "
                 f"in {story.seconds:.0f}s")
    lines.append("open the UI on this instance: " + ui_command(story.homes))
    lines.append(f"  its daily partitions end on {story.end} ({project_env.END_DATE} in "
                 f"{project_env.path(story.homes.root())}, read on every Reload)")
    lines += serving_lines(wh, store)
    return "\n".join(lines)


def ab_lines(registry, wh) -> list[str]:
    """The A/B story as the tables tell it: who scores in shadow, and each model's realized ROC AUC
    per matured scoring day (model_performance), with what a realized-basis promotion would decide."""
    from feature_factory import tables
    from feature_factory.ml import performance

    champion, challenger = registry.champion(), registry.challenger()
    if champion is None or not wh.table_exists(tables.INFERENCE_RESULTS.name):
        return []
    lines = []
    if challenger is not None:
        (shadow,) = wh.fetch_one(f"SELECT COUNT(*) FROM {tables.INFERENCE_RESULTS.name} WHERE role = 'shadow' "
                                 "AND model_version = ?", [challenger.version])
        lines.append(f"A/B: champion v{champion.version} serves; challenger v{challenger.version} "
                     f"{challenger.model_type} scores in shadow ({shadow:,} shadow scores in inference_results)")
    if not wh.table_exists(tables.MODEL_PERFORMANCE.name) or not wh.row_count(tables.MODEL_PERFORMANCE.name):
        return lines + ["realized performance: no scoring day has a matured outcome window yet"]
    frame = wh.fetch_df(f"SELECT * FROM {tables.MODEL_PERFORMANCE.name} ORDER BY scoring_date, model_version")
    lines.append("realized performance (model_performance: scoring day, model, role, customers, roc_auc):")
    for r in frame.itertuples(index=False):
        auc = "-" if r.roc_auc is None or r.roc_auc != r.roc_auc else f"{r.roc_auc:.3f}"
        lines.append(f"  {str(r.scoring_date)[:10]} v{r.model_version} {r.role}: {r.customers} customers, roc_auc {auc}")
    if challenger is not None:
        margin = float((challenger.gate or {}).get("margin", 0.005))
        passed, reason = performance.realized_gate(frame, champion.version, challenger.version, margin)
        verdict = {True: "would promote the challenger", False: "keeps the champion", None: "waits"}[passed]
        lines.append(f"  champion_model with promotion_basis realized {verdict}: {reason}")
    return lines


def serving_lines(wh, store=None) -> list[str]:
    """The online store, asked as a client would: start the server beside the UI, then this request."""
    import json

    from feature_factory.features.online import online_ids
    from feature_factory.serving.sample import sample_request

    ids = online_ids(wh, 2)
    try:
        curl, answer = sample_request(ids, store=store)
    except Exception as exc:  # the story is told; only the sample failed
        return [f"online serving: the sample request failed: {type(exc).__name__}: {exc}"]
    return ["online serving: feature-factory serve (beside make ui), then:", f"  {curl}",
            f"  -> store {json.dumps(answer['store'])}",
            *(f"     {json.dumps(r)}" for r in answer["results"])]


def browser_url(link: str) -> str:
    """A report link as a user opens it: a relative one (the default, no port baked in) on the
    address `make ui` serves by default; the UI on another port opens the same path there."""
    return f"http://127.0.0.1:3000{link}" if link.startswith("/") else link


def ui_command(homes: Homes) -> str:
    """`make ui`, with the homes spelled out when they are not the defaults."""
    default_home = Path(".feature_factory").resolve()
    parts = []
    if homes.root() != default_home:
        parts.append(f"FEATURE_FACTORY_HOME={homes.root()}")
    if homes.instance_dir() != homes.root() / "dagster_home":
        parts.append(f"DAGSTER_HOME={homes.instance_dir()}")
    return " ".join([*parts, "make ui"])
