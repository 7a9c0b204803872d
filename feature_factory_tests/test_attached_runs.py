"""Runs executed in process carry the code location's origin, so the UI finds them under their job."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from feature_factory.attached_runs import CODE_LOCATION, execute_attached, repository_label


@dg.asset
def first() -> int:
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


@dg.asset
def broken() -> None:
    raise ValueError("broken on purpose")


JOB = dg.define_asset_job("small_job", selection=["first", "second"])
BROKEN = dg.define_asset_job("broken_job", selection=["broken"])
DEFS = dg.Definitions(assets=[first, second, broken], jobs=[JOB, BROKEN])


def test_run_is_filed_under_its_job_in_the_code_location():
    with dg.instance_for_test() as instance:
        result = execute_attached(DEFS.resolve_job_def("small_job"), instance, tags={"who": "demo"},
                                  run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run.remote_job_origin.location_name == CODE_LOCATION == "feature_factory.definitions"
        assert run.remote_job_origin.repository_origin.repository_name == "__repository__"
        assert run.job_code_origin.job_name == "small_job"
        assert run.remote_job_origin.repository_origin.get_label() == repository_label() == (
            "__repository__@feature_factory.definitions")
        assert run.tags["who"] == "demo"
        # What Jobs -> small_job -> Runs asks the instance for.
        filed = instance.get_runs(dg.RunsFilter(job_name="small_job", tags={REPOSITORY_LABEL_TAG: repository_label()}))
        assert [r.run_id for r in filed] == [result.run_id]
        assert instance.get_latest_materialization_event(dg.AssetKey("second")).run_id == result.run_id


def test_asset_selection_runs_a_subset_and_a_failure_is_reported_not_raised():
    with dg.instance_for_test() as instance:
        subset = execute_attached(DEFS.resolve_job_def("small_job"), instance, asset_selection=[dg.AssetKey("first")])
        assert subset.success
        assert instance.get_run_by_id(subset.run_id).asset_selection == {dg.AssetKey("first")}
        assert instance.get_latest_materialization_event(dg.AssetKey("first")) is not None
        assert instance.get_latest_materialization_event(dg.AssetKey("second")) is None

        failed = execute_attached(DEFS.resolve_job_def("broken_job"), instance)
        assert not failed.success
        assert instance.get_run_by_id(failed.run_id).status == dg.DagsterRunStatus.FAILURE
        errors = [e.event_specific_data.error.cause.message for e in failed.all_events if e.is_step_failure]
        assert len(errors) == 1 and "broken on purpose" in errors[0]
