"""The Dagster UI in a real headless browser, on the instance the demo story fills.

Setup, once per module: a copy of the session's small demo story home (conftest's `demo_run`:
`demo.run_story` with --customers 300 --days 40 --drift-days 8, every step a Dagster run recorded
in the home's instance; test_demo asserts on the same run); then `feature-factory ui` (`dg dev` and the report server) on loopback over that home, driven by Playwright's
Python package pointed at Debian's Chromium (no browser download is possible here; `make test`
installs it with scripts/ensure-chromium.sh). The tests read values off the pages and cross-check
them through the webserver's GraphQL API.

Screenshots of every step land in test-artifacts/browser/ (CI keeps them), with the demo's output
and the UI's log. `FEATURE_FACTORY_UPDATE_DOCS=1` also rewrites docs/asset-graph.png, the
README's picture of the asset graph. `FEATURE_FACTORY_UI_TEST_HOME=<home>` starts from a copy of an
already populated home instead of running the demo (for iterating on this file).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from dagster_dev import DagsterDev, free_port, graphql
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

from feature_factory import settings
from feature_factory.instance import INSTANCE_YAML

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DOCS_PICTURE = ROOT / "docs" / "asset-graph.png"
CHROMIUM = os.environ.get("FEATURE_FACTORY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

DEMO_DAYS = 40
DEMO_ARGS = ["--customers", "300", "--days", str(DEMO_DAYS), "--drift-days", "8"]
LAST_DAY = dt.date.fromisoformat(settings.DEFAULT_START_DATE) + dt.timedelta(days=DEMO_DAYS - 1)

# The asset groups and assets a user finds in the UI (names are part of the data contract).
GROUPS = {
    "events": ["raw_events", "quarantined_events"],
    "features": ["customer_features", "customer_features_online"],
    "monitoring": ["feature_stats", "feature_stats_baseline", "drift_alerts", "drift_report"],
    "remediation": ["patch_candidates", "feature_patch_log"],
    "ml": ["churn_labels", "training_set", "churn_model", "champion_model", "inference_results",
           "model_performance"],
    "serving": ["customer_features_online_store"],
    "health": ["pipeline_health"],
    "governance": ["data_retention", "feature_usage"],
}
DRIFT_SENSOR = "drift_sensor"
SCHEDULES = ["daily_refresh_schedule", "weekly_retrain_schedule", "daily_scoring_schedule"]
# Features the injected outlier burst moves on the last day (any of them must be flagged).
OUTLIER_FEATURES = {"max_amount_7d", "amount_stddev_7d", "avg_amount_nonzero_7d", "revenue_7d"}
SEVERITIES = ["none", "low", "medium", "high", "critical"]

SECOND = 1000  # Playwright timeouts are in milliseconds; the UI on 2 busy cores can be slow
GRAPH_VIEWPORT = {"width": 3600, "height": 3800}  # big enough for full-size asset nodes at scale 1 (with the health and governance groups)
expect.set_options(timeout=60 * SECOND)


# ---------------------------------------------------------------------------------------------
# Setup: home + demo story, dagster dev, browser


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser test needs Chromium at {CHROMIUM}, and there is none: install Debian's "
            "'chromium' package (`make test` runs scripts/ensure-chromium.sh, which does it as root), "
            "or point FEATURE_FACTORY_CHROMIUM at a Chromium binary", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def quiet_automation_instance_yaml() -> str:
    """The shipped instance config, plus: runs that sensors and schedules request stay queued.

    The daemon runs the sensors and schedules that are on by default: a sensor reacting to the
    demo's drift alerts or applied patches, or a schedule whose time comes during the test, would
    launch remediation or retraining runs (tens of seconds each here, a process per run). With one
    run at a time they would run ahead of the run this test launches from the UI and compete with
    the browser for the 2 cores. Sensors and schedules still tick and request (such runs show as
    queued); only the run this test launches executes."""
    config = yaml.safe_load(INSTANCE_YAML)
    config["concurrency"]["runs"]["tag_concurrency_limits"] = [
        {"key": "dagster/sensor_name", "limit": 0},
        {"key": "dagster/schedule_name", "limit": 0},
    ]
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture(scope="module")
def story_env(chromium, artifacts, tmp_path_factory, request) -> dict[str, str]:
    """A project home filled by the demo story (a copy of the session's one demo run, conftest's
    `demo_run`, which test_demo asserts on; or of FEATURE_FACTORY_UI_TEST_HOME); returns the
    environment that points at it."""
    home = tmp_path_factory.mktemp("ui") / "home"
    reuse = os.environ.get("FEATURE_FACTORY_UI_TEST_HOME")
    if not reuse:
        run = request.getfixturevalue("demo_run")
        o = run.story.options
        assert DEMO_ARGS == ["--customers", str(o.customers), "--days", str(o.days), "--drift-days", str(o.drift_days)]
        (artifacts / "demo.log").write_text(run.output, encoding="utf-8")
        assert all(ok for _, _, ok, _ in run.story.runs), f"the demo story failed:\n{run.output[-3000:]}"
        assert run.reports_url == settings.REPORTS_PATH  # a user's default: links without a port
        reuse = str(run.home)
    shutil.copytree(reuse, home)  # with its .env: the partitions end with the demo's last day
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(quiet_automation_instance_yaml())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FEATURE_FACTORY_", "DAGSTER_", "SNOWFLAKE_"))}
    env.update(FEATURE_FACTORY_HOME=str(home), DAGSTER_HOME=str(dagster_home), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def ui(story_env, artifacts):
    """`feature-factory ui` over the story's home; always stopped, whatever happens."""
    # REPORTS_PORT moved since the demo wrote its links (`make ui REPORTS_PORT=...`): they must open.
    dev = DagsterDev(story_env, artifacts / "dagster-dev.log", cwd=ROOT, args=["--reports-port", str(free_port())])
    try:
        dev.wait_ready(timeout=240)
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def browser(chromium, ui):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _new_page(browser, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60 * SECOND)
    # First visit to an instance: the "Join the Dagster community" dialog. Skip it whenever it shows.
    page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click())
    return context, page


@pytest.fixture
def page(browser, request):
    context, page = _new_page(browser)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=ARTIFACTS / f"FAILED-{request.node.name}.png")
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png")


def wait_loaded(page) -> None:
    """Until the live data the page asked for has arrived (no 'Loading…' placeholder left)."""
    page.get_by_text(re.compile(r"^Loading")).first.wait_for(state="detached", timeout=120 * SECOND)


# ---------------------------------------------------------------------------------------------
# GraphQL cross-checks


def gql(ui, query: str, **variables) -> dict:
    data = graphql(ui.base_url, query, variables)
    assert "errors" not in data, data["errors"]
    return data["data"]


RUN = """query($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status jobName assetSelection { path } } } }"""

LATEST_MATERIALIZATION = """query($key: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: {path: $key}) { ... on Asset {
    assetMaterializations(partitions: $partitions, limit: 1) { runId partition metadataEntries {
      label ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue }
      ... on JsonMetadataEntry { jsonString } ... on MarkdownMetadataEntry { mdStr } } } } } }"""

QUEUED_RUNS = """{ runsOrError(filter: {statuses: [QUEUED]}) { ... on Runs { results { runId } } } }"""

CANCEL_RUNS = """mutation($runIds: [String!]!) { terminateRuns(runIds: $runIds) {
  ... on TerminateRunsResult { terminateRunResults { __typename } } } }"""

# (`ticks(limit: n)` comes back empty in this listing in Dagster 1.13; `dayRange` works.)
SENSOR_TICKS = """{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name
  sensorState { status ticks(dayRange: 1) { status timestamp } } } } } } }"""

INSTIGATORS = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  sensors { name sensorState { status } } schedules { name } } } } }"""


def latest_materialization(ui, asset: str, partition: str | None = None) -> dict | None:
    data = gql(ui, LATEST_MATERIALIZATION, key=[asset], partitions=[partition] if partition else None)
    mats = data["assetOrError"]["assetMaterializations"]
    return mats[0] if mats else None


def metadata(materialization: dict) -> dict:
    out = {}
    for entry in materialization["metadataEntries"]:
        values = [v for k, v in entry.items() if k != "label"]
        out[entry["label"]] = values[0] if values else None
    return out


def open_menu_item(page, menu_button, name, attempts: int = 4) -> None:
    """Open a menu and click one of its items. The first-visit "Join the Dagster community" dialog
    can arrive late, and its Skip handler closes a menu that was open: then open it again."""
    item = page.get_by_role("menuitem", name=name)
    for attempt in range(attempts):
        menu_button.click()
        try:
            item.click(timeout=15 * SECOND)
            return
        except PlaywrightTimeoutError:
            assert attempt < attempts - 1, f"menu item {name} could not be clicked in {attempts} tries"
            page.keyboard.press("Escape")


# ---------------------------------------------------------------------------------------------
# The tests


def test_asset_graph_shows_groups_and_assets(page, ui):
    page.goto(f"{ui.base_url}/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    for group in GROUPS:  # collapsed: one node per group
        expect(page.locator("svg foreignObject.group", has_text=group)).to_have_count(1)
    shot(page, "01-asset-groups-collapsed")

    # Expand every group as a user does (graph settings menu). Then reload in a window big enough
    # that the graph, fitted with every group open, draws full-size nodes with names in full.
    open_menu_item(page, page.locator("button:has([aria-label='settings'])").last, re.compile("Expand all groups"))
    page.wait_for_url(re.compile(r"expanded="))
    page.set_viewport_size(GRAPH_VIEWPORT)
    page.reload()
    groups = page.locator("svg foreignObject.group")
    expect(groups).to_have_count(len(GROUPS))
    for assets in GROUPS.values():
        for asset in assets:
            expect(page.locator("svg").get_by_text(asset, exact=True)).to_have_count(1)
    wait_loaded(page)

    boxes = {(g.text_content() or "").strip(): g.bounding_box() for g in groups.all()}
    assert set(boxes) == set(GROUPS), f"groups in the graph: {sorted(boxes)}"
    for group, assets in GROUPS.items():
        g = boxes[group]
        for asset in assets:
            b = page.locator("svg").get_by_text(asset, exact=True).bounding_box()
            cx, cy = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
            assert g["x"] <= cx <= g["x"] + g["width"] and g["y"] <= cy <= g["y"] + g["height"], (
                f"asset {asset} is drawn outside its group {group}")
    page.screenshot(path=ARTIFACTS / "02-asset-graph-expanded.png", clip=graph_clip(page))

    if os.environ.get("FEATURE_FACTORY_UPDATE_DOCS") == "1":
        save_docs_picture(page, ui)


def graph_clip(page, margin: int = 24) -> dict:
    """The part of the page the asset groups cover (no UI chrome)."""
    boxes = [g.bounding_box() for g in page.locator("svg foreignObject.group").all()]
    x0 = max(min(b["x"] for b in boxes) - margin, 0)
    y0 = max(min(b["y"] for b in boxes) - margin, 0)
    x1 = max(b["x"] + b["width"] for b in boxes) + margin
    y1 = max(b["y"] + b["height"] for b in boxes) + margin
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def save_docs_picture(page, ui) -> None:
    """docs/asset-graph.png, the graph as a user sees it after the demo. Here the runs that the
    sensors request are held in the queue and would show as 'Materializing': once every running
    sensor has ticked, they are cancelled and the graph redrawn."""
    settle_sensors(ui)
    page.reload()
    expect(page.locator("svg foreignObject.group")).to_have_count(len(GROUPS))
    expect(page.locator("svg").get_by_text(GROUPS["ml"][-1], exact=True)).to_have_count(1)
    wait_loaded(page)
    expect(page.get_by_text("Materializing")).to_have_count(0)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    DOCS_PICTURE.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=DOCS_PICTURE, clip=graph_clip(page))


def settle_sensors(ui, timeout: float = 180) -> None:
    """Wait until each running sensor has finished a tick since `dagster dev` started (a sensor
    requests each run once), then cancel the queued runs they requested."""
    deadline = time.monotonic() + timeout
    while True:
        repos = gql(ui, SENSOR_TICKS)["repositoriesOrError"]["nodes"]
        waiting = [s["name"] for repo in repos for s in repo["sensors"]
                   if s["sensorState"]["status"] == "RUNNING"
                   and not any(t["timestamp"] >= ui.started_at and t["status"] != "STARTED"
                               for t in s["sensorState"]["ticks"])]
        if not waiting:
            break
        assert time.monotonic() < deadline, f"sensors without a finished tick after {timeout}s: {waiting}"
        time.sleep(2)
    queued = [r["runId"] for r in gql(ui, QUEUED_RUNS)["runsOrError"]["results"]]
    if queued:
        results = gql(ui, CANCEL_RUNS, runIds=queued)["terminateRuns"]["terminateRunResults"]
        assert all(r["__typename"] == "TerminateRunSuccess" for r in results), results


def test_materialize_from_ui_succeeds(page, ui):
    asset = "customer_features_online"
    before = latest_materialization(ui, asset)

    page.goto(f"{ui.base_url}/assets/{asset}")
    materialize = page.get_by_role("button").filter(has_text=re.compile(r"^Materialize$"))
    expect(materialize).to_be_enabled()  # disabled until the asset's definition has loaded
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    shot(page, "03-materialize-before")
    materialize.click()

    # The toast "Launched run <id> View" links to the run. It closes itself after a few seconds,
    # so read the link at once and follow it by address.
    view = page.locator("a[href*='/runs/']", has_text=re.compile(r"^View$")).first
    view.wait_for(timeout=60 * SECOND)
    href = view.get_attribute("href")
    run_id = re.search(r"/runs/([0-9a-f-]{36})", href).group(1)
    shot(page, "04-materialize-launched")
    page.goto(ui.base_url + href)

    page.wait_for_url(re.compile(f"/runs/{run_id}"))
    page.get_by_text("Success", exact=True).first.wait_for(timeout=180 * SECOND)
    shot(page, "05-materialize-run-success")
    assert page.get_by_text("Failure", exact=True).count() == 0

    run = gql(ui, RUN, runId=run_id)["runOrError"]
    assert run["__typename"] == "Run" and run["status"] == "SUCCESS", run
    assert [a["path"] for a in run["assetSelection"]] == [[asset]]
    after = latest_materialization(ui, asset)
    assert after["runId"] == run_id and (before is None or before["runId"] != run_id)
    rows = metadata(after).get("dagster/row_count")
    assert rows and rows > 0, f"{asset} materialized without a row count: {metadata(after)}"

    # The asset page now shows this run's materialization and its row count.
    page.goto(f"{ui.base_url}/assets/{asset}")
    wait_loaded(page)
    page.get_by_text(f"{rows:,}", exact=True).first.wait_for()
    shot(page, "06-materialize-asset-after")


def test_drift_sensor_and_schedules_are_listed(page, ui):
    page.goto(f"{ui.base_url}/automation")
    listed = {DRIFT_SENSOR: "sensors", **{name: "schedules" for name in SCHEDULES}}
    for name, kind in listed.items():
        link = page.locator(f"a[href$='/{kind}/{name}']")
        expect(link).to_contain_text(name)
    # Each row: a selection checkbox, then (once its state has loaded) the on/off switch.
    row = page.locator("[data-index]").filter(has=page.locator(f"a[href$='/sensors/{DRIFT_SENSOR}']"))
    expect(row.get_by_role("checkbox")).to_have_count(2)
    expect(row.get_by_role("checkbox").last).to_be_checked()
    shot(page, "07-automation")

    page.locator(f"a[href$='/sensors/{DRIFT_SENSOR}']").click()
    page.wait_for_url(re.compile(f"/sensors/{DRIFT_SENSOR}"))
    expect(page.get_by_text("drift_alerts").first).to_be_visible()  # its description
    wait_loaded(page)
    shot(page, "08-drift-sensor")

    data = gql(ui, INSTIGATORS)["repositoriesOrError"]["nodes"]
    sensors = {s["name"]: s["sensorState"]["status"] for repo in data for s in repo["sensors"]}
    schedules = {s["name"] for repo in data for s in repo["schedules"]}
    assert sensors.get(DRIFT_SENSOR) == "RUNNING", sensors
    assert set(SCHEDULES) <= schedules, schedules


def test_drift_alerts_materialization_shows_metadata(page, ui):
    day = LAST_DAY.isoformat()  # inside the injected drift window
    page.goto(f"{ui.base_url}/assets/drift_alerts?view=partitions&partition={day}")
    metadata_table = page.locator("table").filter(has_text="max_severity")
    metadata_table.first.wait_for()
    shot(page, "09-drift-alerts-partition")

    def value(key: str) -> str:
        row = metadata_table.first.locator("tr").filter(has=page.get_by_text(key, exact=True))
        return row.first.locator("td").nth(1).inner_text().strip()

    severity = value("max_severity")
    assert severity in ("high", "critical"), f"max_severity on {day} (drift injected) is {severity!r}"
    drifted = json.loads(value("drifted_features"))
    assert OUTLIER_FEATURES & set(drifted), f"no outlier-moved feature among {drifted}"

    mat = latest_materialization(ui, "drift_alerts", day)
    meta = metadata(mat)
    assert mat["partition"] == day
    assert meta["max_severity"] == severity
    assert json.loads(meta["drifted_features"]) == drifted

    # The per-feature drift table (Markdown metadata) opens in a dialog.
    row = metadata_table.first.locator("tr").filter(has=page.get_by_text("drift_table", exact=True))
    row.first.get_by_text(re.compile(r"Show Markdown")).click()
    dialog = page.get_by_role("dialog")
    table = dialog.locator("table").first
    table.wait_for()
    headers = [h.strip().lower() for h in table.locator("th").all_inner_texts()]
    assert "feature" in headers and "severity" in headers, headers
    shown = {}
    for r in table.locator("tbody tr").all():
        cells = [c.strip() for c in r.locator("td").all_inner_texts()]
        shown[cells[headers.index("feature")]] = cells[headers.index("severity")]
    for feature in drifted:
        assert shown.get(feature) in SEVERITIES[1:], f"{feature}: {shown.get(feature)!r} in the drift table"
    assert max(SEVERITIES.index(s) for s in shown.values()) == SEVERITIES.index(severity)
    shot(page, "10-drift-alerts-table")


def test_drift_alerts_partition_shows_its_own_verdict(page, ui):
    """One verdict per day (issue 13): a day inside the baseline window, materialized by the same
    range run as the drifted last day, shows its own quiet verdict, not the run's worst."""
    day = (dt.date.fromisoformat(settings.DEFAULT_START_DATE) + dt.timedelta(days=10)).isoformat()
    page.goto(f"{ui.base_url}/assets/drift_alerts?view=partitions&partition={day}")
    metadata_table = page.locator("table").filter(has_text="max_severity")
    metadata_table.first.wait_for()
    row = metadata_table.first.locator("tr").filter(has=page.get_by_text("max_severity", exact=True))
    shown = row.first.locator("td").nth(1).inner_text().strip()
    assert shown in ("none", "low"), f"{day} (in the baseline) shows max_severity {shown!r} in the UI"
    quiet, last = (metadata(latest_materialization(ui, "drift_alerts", d)) for d in (day, LAST_DAY.isoformat()))
    assert quiet["max_severity"] == shown and json.loads(quiet["drifted_features"]) == []
    assert last["max_severity"] in ("high", "critical") and quiet["run_max_severity"] == last["max_severity"]


def test_report_link_opens_and_columns_are_described(page, ui):
    """drift_report (Evidently, downstream of drift_alerts) links its report as a URL the browser
    opens: a path on the UI's own address (no port baked in), so it opens though the UI and its
    report port are not the ones of the demo that wrote it; drift_alerts' page shows what each
    column means."""
    day = LAST_DAY.isoformat()
    page.goto(f"{ui.base_url}/assets/drift_report?view=partitions&partition={day}")
    metadata_table = page.locator("table").filter(has_text="evidently_report")
    row = metadata_table.first.locator("tr").filter(has=page.get_by_text("evidently_report", exact=True))
    links = row.first.locator("a[href*='drift_']")  # the URL text and its open icon
    links.first.wait_for()
    hrefs = {a.get_attribute("href") for a in links.all()}
    assert hrefs == {f"/reports/drift_{day}_baseline_v1.html"}, hrefs
    expect(links.first).to_have_text(f"/reports/drift_{day}_baseline_v1.html")
    links.first.scroll_into_view_if_needed()
    shot(page, "11-drift-report-link")
    # Clicked as a user does: the link opens a new tab on the UI's current address.
    with page.context.expect_page() as opened:
        links.first.click()
    report = opened.value
    report.wait_for_load_state()
    assert report.url == f"{ui.base_url}/reports/drift_{day}_baseline_v1.html", report.url
    # Evidently's own page (a React app): the dataset verdict and the drifted features' rows.
    expect(report.get_by_text("Dataset Drift", exact=True).first).to_be_visible()
    expect(report.get_by_text("max_amount_7d", exact=True).first).to_be_visible()
    report.screenshot(path=ARTIFACTS / "12-evidently-report.png")
    report.close()

    # The column schema with its descriptions (Overview tab: "Columns").
    page.goto(f"{ui.base_url}/assets/drift_alerts")
    description = "Population stability index over the baseline's frozen decile bins."
    page.get_by_text(description, exact=True).first.scroll_into_view_if_needed()
    expect(page.get_by_text(description, exact=True).first).to_be_visible()
    shot(page, "13-drift-alerts-columns")


def test_churn_model_metadata_shows_roc_auc(page, ui):
    """The promotion metric is on the churn_model page (issue 15 owns the table's layout)."""
    mat = latest_materialization(ui, "churn_model")
    assert mat is not None, "churn_model was never materialized by the demo"
    texts = [v for v in metadata(mat).values() if isinstance(v, str)]
    assert any("roc_auc" in t for t in texts), sorted(metadata(mat))
    page.goto(f"{ui.base_url}/assets/churn_model")
    wait_loaded(page)
    expect(page.get_by_text(re.compile("roc_auc")).first).to_be_attached()
    shot(page, "14-churn-model")


JOB_RUNS = """query($job: String!) { runsOrError(filter: {pipelineName: $job}) { ... on Runs { results {
  runId status repositoryOrigin { repositoryLocationName repositoryName } } } } }"""
DEMO_JOBS = ["daily_refresh_job", "capture_baseline_job", "remediation_job", "apply_patches_job", "retrain_job"]


def test_demo_runs_are_listed_under_their_jobs(page, ui):
    """Jobs -> <job> -> Runs lists the demo's runs, and Overview's timeline has a row per job: the
    runs carry the code location's origin, as runs the daemon launched do (issue 34, item 1)."""
    runs = gql(ui, JOB_RUNS, job="daily_refresh_job")["runsOrError"]["results"]
    demo_runs = [r for r in runs if r["status"] == "SUCCESS"]
    assert len(demo_runs) >= 2, runs  # the backfill and the drift run
    assert all(r["repositoryOrigin"] == {"repositoryLocationName": "feature_factory.definitions",
                                         "repositoryName": "__repository__"} for r in demo_runs), demo_runs
    page.goto(f"{ui.base_url}/locations/__repository__@feature_factory.definitions/jobs/daily_refresh_job/runs")
    for r in demo_runs:
        expect(page.get_by_text(r["runId"][:8], exact=True).first).to_be_visible()
    expect(page.get_by_text("No runs found")).to_have_count(0)
    shot(page, "15-job-runs")

    page.goto(f"{ui.base_url}/overview/activity/timeline")
    expect(page.get_by_text("No runs or scheduled ticks in this time period")).to_have_count(0)
    for job in DEMO_JOBS:
        expect(page.get_by_text(job, exact=True).first).to_be_visible()
    shot(page, "16-overview-timeline")


def test_a_kept_champion_is_a_successful_run_that_says_why(page, ui):
    """The demo's challenger round keeps the champion (issue 34, item 2): its retrain run reads
    Success, not a red Failure, and the asset pages say what the gate decided."""
    # Newest first; runs a sensor or schedule requested during the test stay queued (or cancelled).
    runs = [r for r in gql(ui, JOB_RUNS, job="retrain_job")["runsOrError"]["results"]
            if r["status"] in ("SUCCESS", "FAILURE")]
    assert len(runs) >= 2 and runs[0]["status"] == "SUCCESS", runs
    kept = runs[0]["runId"]
    page.goto(f"{ui.base_url}/runs/{kept}")
    page.get_by_text("Success", exact=True).first.wait_for(timeout=120 * SECOND)
    expect(page.get_by_text("Failure", exact=True)).to_have_count(0)
    shot(page, "19-kept-champion-run")

    champion, model = (latest_materialization(ui, asset) for asset in ("champion_model", "churn_model"))
    assert champion["runId"] == model["runId"] == kept
    decision = metadata(champion)["gate_decision"]
    assert re.match(r"kept champion v\d+: challenger v\d+ ", decision), decision
    page.goto(f"{ui.base_url}/assets/champion_model")
    wait_loaded(page)
    expect(page.get_by_text(decision, exact=True).first).to_be_attached()
    # churn_model's gate record (Markdown: "**fails**: roc_auc ... < champion ... + margin ...").
    verdict, reason = re.match(r"\*\*(passes|fails)\*\*: ([^;]+)", metadata(model)["gate"]).groups()
    page.goto(f"{ui.base_url}/assets/churn_model")
    wait_loaded(page)
    row = page.locator("tr").filter(has=page.get_by_text("gate", exact=True)).first  # rendered inline
    row.scroll_into_view_if_needed()
    expect(row).to_contain_text(f"{verdict}: {reason.strip()}")
    shot(page, "20-kept-champion-gate")


PARTITION_KEYS = """{ assetNodeOrError(assetKey: {path: ["raw_events"]}) { ... on AssetNode { partitionKeys } } }"""


def test_daily_partitions_end_with_the_demo(page, ui):
    """The daily assets count the demo's days, all materialized, not every day since 2024-01-01
    (the demo's FEATURE_FACTORY_END_DATE in the home's .env, read when the code location loads)."""
    keys = gql(ui, PARTITION_KEYS)["assetNodeOrError"]["partitionKeys"]
    assert (len(keys), keys[0], keys[-1]) == (DEMO_DAYS, settings.DEFAULT_START_DATE, LAST_DAY.isoformat())
    page.goto(f"{ui.base_url}/assets/raw_events?view=partitions")
    expect(page.get_by_text(f"{DEMO_DAYS} Partitions Selected", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"Materialized ({DEMO_DAYS})", exact=True).first).to_be_visible()
    expect(page.get_by_text("Missing (0)", exact=True).first).to_be_visible()
    shot(page, "17-raw-events-partitions")


RELOAD = """mutation { reloadRepositoryLocation(repositoryLocationName: "feature_factory.definitions") {
  __typename ... on WorkspaceLocationEntry { loadStatus } } }"""
SOURCE_EXAMPLE = ROOT / "docs" / "examples" / "sources_support_tickets.yaml"


def reload_code_location(ui) -> None:
    assert gql(ui, RELOAD)["reloadRepositoryLocation"]["__typename"] == "WorkspaceLocationEntry"
    time.sleep(2)
    ui.wait_ready(timeout=240)


def test_a_source_in_the_home_env_appears_on_reload(page, ui, story_env):
    """Onboarding a source without restarting `make ui` (issue 34, item 7): its sources file named
    in the home's .env, then Deployment -> Reload: the group `sources` shows its two assets. Last
    in the module: the .env is restored and the code location reloaded afterwards."""
    env_file = Path(story_env["FEATURE_FACTORY_HOME"]) / ".env"
    before = env_file.read_text()
    try:
        env_file.write_text(before + f"FEATURE_FACTORY_SOURCES={SOURCE_EXAMPLE}\n")
        reload_code_location(ui)
        page.goto(f"{ui.base_url}/asset-groups")
        expect(page.locator("svg foreignObject.group", has_text="sources")).to_have_count(1)
        shot(page, "18-sources-after-reload")
        nodes = gql(ui, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
        assert sorted(n["assetKey"]["path"][0] for n in nodes if n["groupName"] == "sources") == [
            "raw_support_tickets", "support_tickets_quarantine"]
    finally:
        env_file.write_text(before)
        reload_code_location(ui)
    nodes = gql(ui, "{ assetNodes { groupName } }")["assetNodes"]
    assert "sources" not in {n["groupName"] for n in nodes}
