"""The README (and the docs pages whose examples a newcomer copies) say what the code and the demo
do: every command names a make target, `feature-factory` subcommand, job, asset, op or sensor that
exists; every run config it shows is valid for its job; every UI path names a job or asset that
exists; every patch id is the content hash of the patch it is said to be, and the demo proposes it.

Patch ids are content hashes of (feature, action, baseline version, parameters): a refresh or a
retrain on a feature has the same id in every demo, while a clip's id carries the baseline's
quantiles, which depend on the demo's size. The suite's one demo run is the small one (conftest's
`demo_run`), so a clip id is checked as the hash of the bounds the page prints beside it, and
against that demo's clip on the same feature in the same status; the ids that do not depend on the
data are looked up in its `patch_candidates` as they are."""

from __future__ import annotations

import json
import re
import shlex
from functools import cache
from pathlib import Path

import dagster as dg
import pytest
import yaml

from feature_factory import cli
from feature_factory.features.patches import patch_from_record

ROOT = Path(__file__).resolve().parents[1]
# The pages whose commands run against the shipped code location (sources.md and your-data.md's
# later steps need a sources file of your own, so their names are not the shipped ones).
PAGES = ["README.md", "docs/demo.md", "docs/remediation.md", "docs/cli.md", "docs/monitoring.md",
         "docs/features.md", "docs/models.md", "docs/configuration.md", "docs/assets-and-jobs.md"]
ID_PAGES = ["README.md", "docs/remediation.md"]
PATCH_ID = re.compile(r"\b[0-9a-f]{16}\b")
FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.S | re.M)
# `approve: [acf306943816bb2e]   # web_events_7d refresh_baseline` and, for a clip, its bounds:
# `patch_id: 15ec3dc9cd9f8124     # revenue_7d clip [0.0, 957.41]`
ANNOTATED = re.compile(r"([0-9a-f]{16})\]?\s+#\s+(\w+)\s+(\w+)(?:\s+\[([^\]]+)\])?")
# `/* REVIEW */ -- patch e0276eee1d878ffa: clip on max_amount_7d (baseline v1): ...` then its SQL
REVIEW = re.compile(r"patch ([0-9a-f]{16}): (\w+) on (\w+) \(baseline v(\d+)\)[^\n]*\n([^\n]*)")
CLIP_SQL = re.compile(r"< ([-\d.]+) THEN [-\d.]+ WHEN \w+ > ([-\d.]+) THEN")


def text(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def blocks(page: str, *languages: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text(page)) if lang in languages]


def shell_commands(page: str) -> list[list[str]]:
    """Each command of the page's bash blocks, split like a shell would: continuation lines joined,
    `NAME=value` assignments of the page substituted, comments dropped, `;` separating commands."""
    variables: dict[str, str] = {}
    commands = []
    for body in blocks(page, "bash"):
        for line in body.replace("\\\n", " ").splitlines():
            for part in _statements(line):
                words = shlex.split(part, comments=True)
                while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                    name, value = words.pop(0).split("=", 1)
                    variables[name] = value
                if not words or words[0] == "export":
                    continue
                expanded = []
                for w in words:
                    if w.startswith("$") and w[1:] in variables:
                        expanded.extend(shlex.split(variables[w[1:]]))
                    else:
                        expanded.append(variables.get(w[1:], w) if w.startswith("$") else w)
                commands.append(expanded)
    return commands


def _statements(line: str) -> list[str]:
    return [s for s in re.split(r";\s*", line.split(" #")[0]) if s.strip()]


@cache
def definitions() -> dg.Definitions:
    from feature_factory.definitions import build_defs

    return build_defs()


def jobs() -> dict[str, dg.JobDefinition]:
    return {j.name: j for j in definitions().resolve_all_job_defs() if not j.name.startswith("__")}


def asset_names() -> set[str]:
    return {k.to_user_string() for k in definitions().resolve_all_asset_keys()}


def job_running_ops(ops: set[str]) -> dg.JobDefinition:
    """A job whose graph has every op the run config names (the asset jobs name ops by asset)."""
    candidates = [j for j in jobs().values() if ops <= set(j.graph.node_dict)]
    assert candidates, f"no job runs the ops {sorted(ops)}"
    return min(candidates, key=lambda j: len(j.graph.node_dict))


def assert_valid_config(config: dict, where: str) -> None:
    job = job_running_ops(set(config["ops"]))
    result = dg.validate_run_config(job, config)
    assert result, f"{where}: {config} is not valid for {job.name}"


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", text("Makefile"), re.M))


def test_commands_name_what_exists():
    """Every make target, feature-factory subcommand, job, asset, sensor and run config in the
    pages' code blocks exists and validates."""
    seen = {"make": set(), "feature-factory": set(), "job": set(), "asset": set(), "sensor": set(),
            "config": 0}
    for page in PAGES:
        for words in shell_commands(page):
            where = f"{page}: {' '.join(words)}"
            program = Path(words[0]).name
            if program == "make":
                target = next((w for w in words[1:] if "=" not in w), "")
                if target:
                    assert target in make_targets(), where
                    seen["make"].add(target)
            elif program == "feature-factory":
                assert words[1] in cli.COMMANDS, where
                seen["feature-factory"].add(words[1])
            elif program == "dg" and words[1] == "launch":
                if "--job" in words:
                    job = words[words.index("--job") + 1]
                    assert job in jobs(), where
                    seen["job"].add(job)
                if "--assets" in words:
                    named = words[words.index("--assets") + 1].split(",")
                    assert set(named) <= asset_names(), (where, sorted(set(named) - asset_names()))
                    seen["asset"].update(named)
                if "--config-json" in words:
                    assert_valid_config(json.loads(words[words.index("--config-json") + 1]), where)
                    seen["config"] += 1
            elif program == "dagster" and words[1:3] == ["sensor", "stop"]:
                assert definitions().resolve_sensor_def(words[3]).name == words[3], where
                seen["sensor"].add(words[3])
            elif program == "dagster" and words[1:3] == ["asset", "materialize"]:
                selected = words[words.index("--select") + 1].split(",")
                assert set(selected) <= asset_names(), where
                seen["asset"].update(selected)
        for body in blocks(page, "yaml"):
            config = yaml.safe_load(body)
            if isinstance(config, dict) and "ops" in config:
                assert_valid_config(config, f"{page}: {body}")
                seen["config"] += 1
    # The README's own walk-through is among what was checked (the parsing found it).
    assert {"demo", "test", "ui"} <= seen["make"], seen
    assert {"approve_patches_job", "apply_patches_job", "rollback_patch_job"} <= seen["job"], seen
    assert {"raw_events", "customer_features", "feature_stats_baseline", "drift_alerts"} <= seen["asset"], seen
    assert "drift_sensor" in seen["sensor"] and seen["config"] >= 5, seen


def test_ui_paths_name_what_exists():
    """`**Jobs → X ...**` names a job, `**Catalog → X ...**` an asset."""
    found = 0
    for page in PAGES:
        for kind, name in re.findall(r"\*\*(Jobs|Catalog) → (\w+)", text(page)):
            assert name in (jobs() if kind == "Jobs" else asset_names()), f"{page}: {kind} → {name}"
            found += 1
    assert found >= 6


def patch_claims() -> dict[str, tuple[str, str, dict]]:
    """id -> (feature, action, params) as the pages state them: annotated ids in code blocks and
    review SQL headers; every id a page mentions must be stated so somewhere."""
    claims: dict[str, tuple[str, str, dict]] = {}
    mentioned: set[str] = set()
    for page in ID_PAGES:
        body = text(page)
        mentioned |= set(PATCH_ID.findall(body))
        for pid, feature, action, bounds in ANNOTATED.findall(body):
            params = {}
            if action == "clip":
                lower, upper = (float(x) for x in bounds.split(","))
                params = {"lower": lower, "upper": upper}
            claims[pid] = (feature, action, params)
        for pid, action, feature, version, sql in REVIEW.findall(body):
            assert version == "1", f"{page}: the demo has one baseline, v1: {pid}"
            params = {}
            if action == "clip":
                lower, upper = CLIP_SQL.search(sql).groups()
                params = {"lower": float(lower), "upper": float(upper)}
            claims[pid] = (feature, action, params)
    assert mentioned and mentioned <= set(claims), f"ids without their patch stated: {mentioned - set(claims)}"
    return claims


def test_patch_ids_are_the_hashes_of_the_patches_stated():
    claims = patch_claims()
    for pid, (feature, action, params) in claims.items():
        assert patch_from_record(action, feature, 1, params).patch_id == pid, (pid, feature, action, params)
    # The walk-through's ids: two proposals to decide on, one applied clip to roll back.
    assert {a for _, a, _ in claims.values()} >= {"refresh_baseline", "request_retrain", "clip"}


@pytest.mark.slow
def test_patch_ids_are_the_demos(demo_run):
    from feature_factory.warehouse.duckdb import DuckDBWarehouse

    wh = DuckDBWarehouse(path=str(demo_run.home / "warehouse.duckdb"))
    rows = wh.fetch_all("SELECT patch_id, feature, action, status FROM patch_candidates")
    by_id = {pid: (feature, action, status) for pid, feature, action, status in rows}
    by_patch = {(feature, action): status for _, feature, action, status in rows}
    readme = text("README.md")
    for pid, (feature, action, params) in patch_claims().items():
        if not params:  # no data in the id: the same in every demo
            assert by_id.get(pid, (None, None, None))[:2] == (feature, action), (pid, feature, action, rows)
        else:
            assert (feature, action) in by_patch, (feature, action, rows)
        status = by_id[pid][2] if not params else by_patch[(feature, action)]
        # What the README does with the id is allowed from the demo's status.
        if re.search(rf"(approve|reject): \[{pid}\]", readme):
            assert status == "PROPOSED", (pid, status)
        if re.search(rf"patch_id: {pid}", readme):
            assert status == "APPLIED", (pid, status)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_pages_resolve():
    """Every relative link in the README and docs/ names a file that exists and, for a Markdown
    page, a heading it has (the README's content moved to docs/: no link may point at a section that
    moved)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        body = FENCE.sub("", page.read_text(encoding="utf-8"))
        for target in re.findall(r"\]\(([^)\s]+)\)", body):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: link to {target}: no such file"
            if anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", FENCE.sub("", file.read_text(encoding="utf-8")), re.M)
                assert anchor in {github_anchor(h) for h in headings}, f"{page.name}: link to {target}: no such heading"
            checked += 1
    assert checked > 50
