"""Cross-domain wiring: the pieces that join domains, built above all of them.

Domains import only earlier layers (core -> events -> features -> serving -> monitoring ->
remediation -> ml; see docs/architecture.md). What reaches *forward* is assembled here instead:

- the drift sensor (monitoring) requests `remediation_job` (remediation) and `retrain_job` (ml),
  and reads the champion model's features from the model registry (ml): the same
  `model_registry` resource the deployment hands the ml assets;
- every entity's drift sensor (the customer's `drift_sensor`, product's `product_drift_sensor`,
  monitoring) requests its remediation job (remediation's asset factory) and, when its spec declares
  a model, the model's retrain job (ml), one per entity of the catalog, built by one function;
- the requests sensor (remediation) launches `retrain_job` (ml) and `capture_baseline_job`
  (monitoring) for applied request_retrain / refresh_baseline patches.
"""

from collections.abc import Callable, Iterable

import dagster as dg

from feature_factory.catalog import Catalog
from feature_factory.features.entities import all_entities
from feature_factory.ml.jobs import retrain_job
from feature_factory.ml.resources import ModelRegistryResource
from feature_factory.monitoring.jobs import capture_baseline_job
from feature_factory.monitoring.sensors import build_drift_sensor, no_champion
from feature_factory.monitoring.subject import CUSTOMER, subject_for
from feature_factory.remediation import definitions as remediation_defs
from feature_factory.remediation.sensors import build_requests_sensor


def drift_sensors(read_champion: Callable[[], Iterable[str]] = no_champion,
                  catalog: Catalog | None = None) -> list[dg.SensorDefinition]:
    """One drift sensor per entity with features in the catalog, the customer's first, all built the
    same way from the entity's spec: it watches the entity's alerts and requests its remediation job
    and, when the spec declares a model, that model's retrain job (for a drift of a feature the
    champion uses: `read_champion`)."""
    jobs = {j.name: j for j in (*remediation_defs.defs.jobs, retrain_job)}
    sensors = []
    for entity in all_entities(catalog):
        wanted = [entity.jobs.remediation, *([entity.retrain_job] if entity.retrain_job else [])]
        missing = [n for n in wanted if n not in jobs]
        if missing:
            raise ValueError(f"entity {entity.name!r}: its drift sensor requests {missing}, which the code location "
                             f"does not define (jobs: {', '.join(sorted(jobs))}); fix its jobs: / model: in the "
                             "sources file")
        sensors.append(build_drift_sensor([jobs[n] for n in wanted], subject=subject_for(entity),
                                          read_champion=read_champion if entity.retrain_job else no_champion))
    return sensors


def entity_drift_sensors(catalog: Catalog | None = None) -> list[dg.SensorDefinition]:
    """The drift sensors of the entities other than the customer (`drift_sensors` builds them all)."""
    return [s for s in drift_sensors(catalog=catalog) if s.name != CUSTOMER.of.jobs.drift_sensor]


def build(model_registry: ModelRegistryResource) -> dg.Definitions:
    """The cross-domain sensors, reading the champion from `model_registry`."""
    requests_sensor = build_requests_sensor([retrain_job, capture_baseline_job])
    return dg.Definitions(sensors=[*drift_sensors(model_registry.champion_features), requests_sensor])
