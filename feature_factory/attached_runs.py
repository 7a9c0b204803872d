"""Runs executed in this process that the UI files under their job, as if the daemon had launched them.

`JobDefinition.execute_in_process` records a run with no repository origin: the Runs page lists it,
but Overview's timeline and Jobs -> <job> -> Runs select runs by their code location (the
`.dagster/repository` label Dagster derives from a run's remote origin) and never show it. So the
demo creates each run through the instance with the origin of the code location `make ui` serves
(`dg dev -m feature_factory.definitions`: location `feature_factory.definitions`, repository
`__repository__`), exactly as a launch from the UI or the daemon records it, and then executes that
run here with Dagster's own `execute_run`, on the in-process executor `execute_in_process` uses (one
process, no subprocess per step: the DuckDB file has one writer).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.origin import JobPythonOrigin
from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.workspace.load_target import ModuleTarget

from feature_factory.settings import CODE_LOCATION



def origins(job_name: str, module: str = CODE_LOCATION, working_directory: str | None = None
            ) -> tuple[RemoteJobOrigin, JobPythonOrigin]:
    """The remote origin (location + repository + job, what the UI files runs by) and the Python
    origin (how a run worker would reload the job) of `job_name` in the code location of `module`,
    built as the workspace `dg dev -m <module>` builds them."""
    cwd = working_directory or os.getcwd()
    (location,) = ModuleTarget(module_name=module, attribute=None, working_directory=cwd,
                               location_name=None).create_origins()
    remote = RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)
    repo = ReconstructableRepository.for_module(module, "defs", working_directory=cwd)
    return remote, JobPythonOrigin(job_name, repo.get_python_origin())


def repository_label(module: str = CODE_LOCATION) -> str:
    """The `.dagster/repository` tag value of runs of that code location (what the UI filters on)."""
    return f"{SINGLETON_REPOSITORY_NAME}@{module}"


def execute_attached(job: dg.JobDefinition, instance: dg.DagsterInstance, *,
                     run_config: Mapping | None = None, tags: Mapping[str, str] | None = None,
                     asset_selection: Sequence[dg.AssetKey] | None = None,
                     module: str = CODE_LOCATION) -> JobExecutionResult:
    """Create a run of `job` carrying the code location's origin, then execute it in this process.
    Returns Dagster's result (`success`, `run_id`, `all_events`); never raises for a failed step."""
    # What execute_in_process runs: the job with its resources, on the in-process executor.
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={})
    remote, python = origins(job.name, module)
    run = instance.create_run_for_job(
        ephemeral, run_config=dict(run_config or {}), tags={**job.run_tags, **(tags or {})},
        asset_selection=set(asset_selection) if asset_selection else None,
        remote_job_origin=remote, job_code_origin=python)
    return execute_run(InMemoryJob(ephemeral), run, instance, raise_on_error=False)
