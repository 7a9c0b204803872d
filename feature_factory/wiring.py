"""Cross-domain wiring: the pieces that join domains, built above all of them.

Domains import only earlier layers (core -> events -> features -> serving -> monitoring ->
remediation -> ml; see docs/architecture.md). What reaches *forward* is assembled here instead:

- the drift sensor (monitoring) requests `remediation_job` (remediation) and `retrain_job` (ml),
  and reads the champion model's features from the model registry (ml): the same
  `model_registry` resource the deployment hands the ml assets;
- every other entity's drift sensor (`<entity>_drift_sensor`, monitoring) requests its
  `<entity>_remediation_job` (remediation's asset factory), one per entity of the catalog;
- the requests sensor (remediation) launches `retrain_job` (ml) and `capture_baseline_job`
  (monitoring) for applied request_retrain / refresh_baseline patches.
"""

import dagster as dg

from feature_factory.catalog import Catalog
from feature_factory.features.entities import other_entities
from feature_factory.ml.jobs import retrain_job
from feature_factory.ml.resources import ModelRegistryResource
from feature_factory.monitoring.jobs import capture_baseline_job
from feature_factory.monitoring.sensors import build_drift_sensor, build_entity_drift_sensor
from feature_factory.monitoring.subject import subject_for
from feature_factory.remediation.jobs import remediation_job
from feature_factory.remediation.sensors import build_requests_sensor


def entity_drift_sensors(catalog: Catalog | None = None) -> list[dg.SensorDefinition]:
    """`<entity>_drift_sensor` of every entity other than customer with features in the catalog."""
    return [build_entity_drift_sensor(subject_for(entity)) for entity in other_entities(catalog)]


def build(model_registry: ModelRegistryResource) -> dg.Definitions:
    """The cross-domain sensors, reading the champion from `model_registry`."""
    drift_sensor = build_drift_sensor([remediation_job, retrain_job], read_champion=model_registry.champion_features)
    requests_sensor = build_requests_sensor([retrain_job, capture_baseline_job])
    return dg.Definitions(sensors=[drift_sensor, requests_sensor, *entity_drift_sensors()])
