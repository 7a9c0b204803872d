"""Jobs named like the ones the drift sensors request, doing nothing: a sensor can only target jobs
that exist, and the sensor tests execute the requested runs (with their tags) on these."""

import dagster as dg


@dg.op
def _noop():
    return None


@dg.job(name="remediation_job")
def remediation_stub():
    _noop()


@dg.job(name="retrain_job")
def retrain_stub():
    _noop()
