"""The monitoring asset factory seen per entity: `monitoring_assets(entity)` (statistics, baseline,
drift alerts, drift report: `assets.entity_assets`) and `monitoring_jobs(entity)` (capture-baseline
and refresh jobs and the refresh schedule: `jobs.entity_jobs`), the same for the customer
(feature_stats, ..., daily_refresh_job) and every other entity (product_feature_stats, ...,
product_refresh_job). `definitions(catalog, entities)` gathers them with each entity's
`one_current_baseline` check; without `entities` it serves the entities other than the customer
(what a catalog adds to the churn example; monitoring/definitions.py asks for all of them).
(Raw-input null counts cover features over raw_events only: inputs.py.)
"""

import dagster as dg

from feature_factory.catalog import Catalog
from feature_factory.features.entities import Entity, other_entities
from feature_factory.monitoring import assets, checks, jobs
from feature_factory.monitoring.subject import subject_for


def monitoring_assets(entity: Entity) -> list[dg.AssetsDefinition]:
    """[stats, baseline, alerts, drift report] of the entity."""
    return list(assets.entity_assets(entity))


def monitoring_jobs(entity: Entity) -> list:
    """[capture baseline job, refresh job] of the entity (its schedule: `jobs.entity_jobs`)."""
    return list(jobs.entity_jobs(entity)[:2])


def definitions(catalog: Catalog | None = None, entities: list[Entity] | None = None) -> dg.Definitions:
    """The monitoring assets, checks, jobs and schedules of `entities` (default: every entity other
    than the customer with features in the catalog)."""
    entities = other_entities(catalog) if entities is None else entities
    if not entities:
        return dg.Definitions()
    built = [jobs.entity_jobs(e) for e in entities]
    return dg.Definitions(
        assets=[a for e in entities for a in assets.entity_assets(e)],
        asset_checks=[checks.build_one_current_baseline(subject_for(e).baseline) for e in entities],
        jobs=[j for capture, refresh, _ in built for j in (capture, refresh)],
        schedules=[schedule for *_, schedule in built],
    )
