"""Cross-domain wiring: the pieces that join domains, built above all of them.

Domains import only earlier layers (core -> events -> features -> serving -> monitoring ->
remediation -> ml; see docs/architecture.md). What reaches *forward* is assembled here instead:

- the drift sensor (monitoring) requests `remediation_job` (remediation) and `retrain_job` (ml),
  and reads the champion model's features from the model registry (ml);
- the requests sensor (remediation) launches `retrain_job` (ml) and `capture_baseline_job`
  (monitoring) for applied request_retrain / refresh_baseline patches.
"""

import dagster as dg

from feature_factory.ml.jobs import retrain_job
from feature_factory.ml.registry import champion_features
from feature_factory.monitoring.jobs import capture_baseline_job
from feature_factory.monitoring.sensors import build_drift_sensor
from feature_factory.remediation.jobs import remediation_job
from feature_factory.remediation.sensors import build_requests_sensor

drift_sensor = build_drift_sensor([remediation_job, retrain_job], read_champion=champion_features)
requests_sensor = build_requests_sensor([retrain_job, capture_baseline_job])

defs = dg.Definitions(sensors=[drift_sensor, requests_sensor])
