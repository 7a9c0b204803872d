"""monitoring domain: feature statistics, versioned baseline, typed drift alerts, the Evidently
report, the capture-baseline and refresh jobs and the refresh schedule of every entity (the
customer's first), built by one factory per kind (`assets.entity_assets`, `jobs.entity_jobs`).

The drift sensor (`monitoring.sensors`) requests remediation and retraining, later domains' jobs,
so it is built in `feature_factory.wiring`."""

from feature_factory.features.entities import all_entities
from feature_factory.monitoring import entity_assets

defs = entity_assets.definitions(entities=all_entities())
