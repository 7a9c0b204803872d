"""The layer order, enforced by reading every module's imports (ast), so a cycle cannot creep back.

core (warehouse, catalog, tables, dates, settings, partitions, markdown) -> events -> features -> serving ->
monitoring -> remediation -> ml -> health -> governance -> top (definitions, wiring, deployment, demo, cli, ...). A module
may import its own layer or an earlier one, at module level or inside a function; never a later
one. `importlib` is allowed only in the top layer (the CLI's lazy dispatch, the benchmarks' child
processes): nothing sits above it, so there it cannot hide a cycle.
See docs/architecture.md.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import feature_factory

PACKAGE = Path(feature_factory.__file__).parent
LAYERS = [
    {"__init__", "warehouse", "catalog", "settings", "homes", "partitions", "priorities", "markdown", "tables",
     "dates", "project_env", "catalog_resource", "precision"},
    {"events"},
    {"features"},
    {"serving"},
    {"monitoring"},
    {"remediation"},
    {"ml"},
    {"health"},
    {"governance"},
    {"definitions", "wiring", "deployment", "demo", "attached_runs", "cli", "ui", "ui_front", "instance", "instance_hook",
     "fast_sqlite", "synthetic", "governance_cli"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
TOP = len(LAYERS) - 1


def top_name(path: Path) -> str:
    """The layer name of a module file: its subpackage, or its own name at the package's top."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module) of every import of feature_factory or importlib in a module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "feature_factory" else \
                [f"feature_factory.{a.name}" for a in node.names]
            out += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, n) for line, n in out if n.split(".")[0] in ("feature_factory", "importlib")]


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_has_a_layer():
    unknown = {top_name(p) for p in modules()} - RANK.keys()
    assert not unknown, f"modules with no layer in LAYERS (add them): {sorted(unknown)}"


def test_no_module_imports_a_later_layer_or_importlib():
    problems = []
    for path in modules():
        own = top_name(path)
        rel = path.relative_to(PACKAGE)
        for line, name in imported(ast.parse(path.read_text(), str(path))):
            if name.split(".")[0] == "importlib":
                if RANK[own] != TOP:
                    problems.append(f"{rel}:{line} imports importlib (import the module by name)")
                continue
            parts = name.split(".")
            if len(parts) < 2:
                continue
            target = parts[1]
            if RANK.get(target, -1) > RANK[own]:
                problems.append(f"{rel}:{line} ({own}) imports {name} ({target}, a later layer)")
    assert problems == [], "layer order broken:\n" + "\n".join(problems)


def test_the_walker_finds_forward_and_function_level_imports():
    """The walker itself: module-level, function-level and `from feature_factory import x` imports."""
    tree = ast.parse("import importlib\ndef f():\n    from feature_factory.ml import registry\n"
                     "from feature_factory import wiring, markdown\nimport os\n")
    assert sorted(imported(tree)) == [(1, "importlib"), (3, "feature_factory.ml"),
                                      (4, "feature_factory.markdown"), (4, "feature_factory.wiring")]


def test_the_installed_package_never_imports_the_benchmarks_or_feast():
    """The wheel ships feature_factory only: the benchmarks (bench/, which import Feast) stay in the checkout."""
    found = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            found += [f"{path.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names
                      if n.split(".")[0] in ("bench", "feast")]
    assert found == []


def _module_graph() -> dict[str, set[str]]:
    """module -> the feature_factory modules it imports (anywhere in the file, TYPE_CHECKING too)."""
    def name(path: Path) -> str:
        return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")

    known = {name(p): p for p in modules()}
    graph = {}
    for mod, path in known.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                edges |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
        graph[mod] = {e for e in edges if e in known and e != mod}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other in a circle (strongly connected, size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    """No module imports itself through others (drift <-> gates went with thresholds.py, catalog
    loader <-> sources with the entity spec, synthetic config <-> ground_truth with
    `default_truth_dir` moving to config), TYPE_CHECKING and function-level imports included."""
    assert _circles(_module_graph()) == []
    # The walker finds a circle through a TYPE_CHECKING import (what drift <-> gates was).
    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]


# Pure logic imports without Dagster (issue 27): SQL builders, statistics, drift rules, patch rules
# and their records take a `Dialect` or a warehouse handed in, so importing them (a benchmark, a
# notebook, the CLI's light commands) does not pay for Dagster (~4 s here). A package listed here
# covers every module in it; a new module there stays Dagster-free or goes to the wiring.
DAGSTER_FREE = [
    "feature_factory.catalog", "feature_factory.tables", "feature_factory.dates", "feature_factory.markdown",
    "feature_factory.settings", "feature_factory.warehouse.dialect", "feature_factory.warehouse.sql",
    "feature_factory.warehouse.interface", "feature_factory.warehouse.rows",
    "feature_factory.events.validation", "feature_factory.events.quality", "feature_factory.events.work_tables",
    "feature_factory.events.contract", "feature_factory.events.landing", "feature_factory.events.staging",
    "feature_factory.events.ingestion", "feature_factory.events.layout", "feature_factory.events.schema_drift",
    "feature_factory.events.tombstones",
    "feature_factory.features.entities", "feature_factory.features.patches", "feature_factory.features.patch_layer",
    "feature_factory.features.snapshot_sql", "feature_factory.features.snapshots", "feature_factory.features.online",
    "feature_factory.features.point_in_time", "feature_factory.features.expectations",
    "feature_factory.monitoring.kinds", "feature_factory.monitoring.subject", "feature_factory.monitoring.inputs",
    "feature_factory.monitoring.statistics", "feature_factory.monitoring.detection",
    "feature_factory.monitoring.explain", "feature_factory.monitoring.report",
    "feature_factory.remediation.rules", "feature_factory.remediation.policy", "feature_factory.remediation.scope",
    "feature_factory.remediation.propose", "feature_factory.remediation.loop", "feature_factory.remediation.patch_store",
    "feature_factory.remediation.patch_stats", "feature_factory.remediation.views",
    "feature_factory.ml.labels", "feature_factory.ml.training_set", "feature_factory.ml.training",
    "feature_factory.ml.inference", "feature_factory.ml.models", "feature_factory.ml.registry",
    "feature_factory.serving.store", "feature_factory.serving.server", "feature_factory.serving.publish",
    "feature_factory.health.detectors", "feature_factory.health.evaluate", "feature_factory.health.settings",
]


def _dagster_free_modules() -> list[str]:
    out = []
    for name in DAGSTER_FREE:
        path = PACKAGE.parent / Path(*name.split("."))
        if path.is_dir():
            out += [".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
                    for p in sorted(path.rglob("*.py")) if "__pycache__" not in p.parts]
        else:
            assert path.with_suffix(".py").is_file(), f"DAGSTER_FREE lists {name}, which does not exist"
            out.append(name)
    return out


def _loads_dagster(modules: list[str]) -> bool:
    code = ("import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
            "print('dagster' in sys.modules)")
    # PYTHONPATH, not the working directory: a .pth file may import feature_factory at interpreter
    # start-up (the instance hook), before the working directory joins sys.path.
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True,
                          cwd=PACKAGE.parent, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_pure_logic_imports_without_dagster():
    """One fresh interpreter imports every module of DAGSTER_FREE; on failure, each is checked
    alone so the message names the ones that pull Dagster in."""
    modules = _dagster_free_modules()
    assert len(modules) > 60  # the packages expanded (statistics, detection, explain, report, catalog)
    if _loads_dagster(modules):
        culprits = [m for m in modules if _loads_dagster([m])]
        assert culprits == [], f"these modules load dagster on import (TYPE_CHECKING the Warehouse type, " \
                               f"take a Dialect, or move the wiring out): {culprits}"
