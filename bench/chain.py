"""Workload 5: Dagster's own cost per asset step, and the demo end to end.

A chain of `steps` trivial assets (each `deps` on the previous and returns a `MaterializeResult`,
like our SQL assets) runs as one job on a persistent instance (sqlite event log under
DAGSTER_HOME), once with the in-process executor (the local deployment's) and once with the
multiprocess executor (Dagster's default; a subprocess per step), each at 1 and at `steps` steps.
Per-step overhead = (wall at `steps` - wall at 1) / (`steps` - 1): the per-run fixed cost cancels.
`python_only` calls the same bodies without Dagster (the engine work, ~0).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg


def _body() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"value": 1})


def _chain(n: int) -> list[dg.AssetsDefinition]:
    assets, prev = [], None
    for i in range(n):
        @dg.asset(name=f"step_{i:02d}", deps=[prev] if prev is not None else [], group_name="bench_chain",
                  kinds={"python"})
        def _asset() -> dg.MaterializeResult:
            return _body()

        assets.append(_asset)
        prev = _asset
    return assets


def _job(n: int, executor: dg.ExecutorDefinition) -> dg.JobDefinition:
    job = dg.define_asset_job("bench_chain", executor_def=executor)
    return dg.Definitions(assets=_chain(n), jobs=[job]).resolve_job_def("bench_chain")


# Module-level factories: `dg.reconstructable` needs them to rebuild the job in step subprocesses.
def chain_1_in_process() -> dg.JobDefinition:
    return _job(1, dg.in_process_executor)


def chain_10_in_process() -> dg.JobDefinition:
    return _job(10, dg.in_process_executor)


def chain_1_multiprocess() -> dg.JobDefinition:
    return _job(1, dg.multiprocess_executor)


def chain_10_multiprocess() -> dg.JobDefinition:
    return _job(10, dg.multiprocess_executor)


def run_chain(params: dict, meter) -> dict:
    from feature_factory.instance import ensure_instance

    factory = globals()[params["factory"]]
    ensure_instance()
    instance = dg.DagsterInstance.get()
    job = dg.reconstructable(factory)
    with dg.execute_job(job, instance=instance) as warmup:  # first run creates the sqlite storage
        assert warmup.success
    with meter.measure():
        with dg.execute_job(job, instance=instance) as result:
            ok = result.success
            steps = len(result.get_step_success_events())
    instance.dispose()
    if not ok:
        raise RuntimeError(f"{params['factory']} failed")
    return {"rows_out": steps}


def python_only(params: dict, meter) -> dict:
    with meter.measure():
        for _ in range(int(params["steps"])):
            _body()
    return {"rows_out": int(params["steps"])}


def demo(params: dict, meter) -> dict:
    """`feature-factory demo` end to end in its own home, when the demo exists."""
    import importlib.util

    if importlib.util.find_spec("feature_factory.demo") is None:
        return {"skipped": "feature_factory.demo does not exist yet"}
    log = Path(params["home"]) / "demo.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with meter.measure(), open(log, "w") as fh:
        code = subprocess.run([sys.executable, "-m", "feature_factory.cli", "demo"], stdout=fh,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"feature-factory demo exited with {code}; see {log}")
    return {"log": str(log)}
