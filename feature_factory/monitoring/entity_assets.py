"""Asset factory: each entity of the catalog other than `customer` gets its own monitoring, shaped
like the customer's: `<entity>_feature_stats` (daily), `<entity>_feature_stats_baseline`
(versioned, with the blocking `one_current_baseline` check), `<entity>_drift_alerts` (daily,
diagnosed and attributed to segments of its population by its spec's `attribute_by`, cohort and
landing file) and `<entity>_drift_report` (Evidently's second opinion), with descriptions and
column schemas from their contracts, plus `capture_<entity>_baseline_job` and
`<entity>_refresh_job` (ingestion -> features -> online table -> statistics -> drift alerts ->
report for a day range). The runs are the customer assets' own (`assets.stats_result`, ...), given
the entity's `Subject`. A new catalog entry plus a code-location reload makes them appear; nothing
here names an entity. (Raw-input null counts cover features over raw_events only: inputs.py.)
"""

import dagster as dg

from feature_factory.catalog import Catalog, load_sources
from feature_factory.catalog.sources import SourceCatalog
from feature_factory.catalog_resource import CatalogResource
from feature_factory.homes import HomesResource
from feature_factory.features.entities import Entity, other_entities
from feature_factory.monitoring import assets, checks
from feature_factory.monitoring.config import BaselineConfig, DriftConfig, StatsConfig
from feature_factory.monitoring.subject import Subject, subject_for
from feature_factory.partitions import daily_partitions, single_run_backfill
from feature_factory.warehouse.base import Warehouse


def monitoring_assets(entity: Entity) -> list[dg.AssetsDefinition]:
    """[<entity>_feature_stats, <entity>_feature_stats_baseline, <entity>_drift_alerts]."""
    subject = subject_for(entity)
    features = dg.AssetKey(subject.features)
    tags = {"feature_factory/entity": entity.name}

    @dg.asset(
        name=subject.stats.name, group_name=assets.GROUP, partitions_def=daily_partitions,
        backfill_policy=single_run_backfill, deps=[features, subject.baseline.name], kinds={"sql"}, tags=tags,
        description=(
            f"Per feature of entity `{entity.name}` and day: count, null and zero rates, mean, stddev, "
            f"min/max, p01..p99, distinct count, histogram counts over the current "
            f"{subject.baseline.name} version's frozen bins, share outside its [p01, p99] and a quantile "
            f"grid, computed in one SQL statement over the partition's days of {subject.features}. Long "
            "format: one row per (feature, stats_date), the columns of feature_stats."),
        metadata={"dagster/table_name": subject.stats.name, "dagster/column_schema": subject.stats.column_schema()},
    )
    def _stats(context: dg.AssetExecutionContext, config: StatsConfig, warehouse: Warehouse,
               catalog: CatalogResource):
        return assets.stats_result(context, config, warehouse, catalog, subject)

    @dg.asset(
        name=subject.baseline.name, group_name=assets.GROUP, deps=[features], kinds={"sql"}, tags=tags,
        description=(
            f"Reference statistics per feature of entity `{entity.name}` captured from a chosen window of "
            f"{subject.features} days (run capture_{entity.name}_baseline_job, or materialize with config). "
            "Every capture is a new version, exactly one is current, none is overwritten."),
        metadata={"dagster/table_name": subject.baseline.name,
                  "dagster/column_schema": subject.baseline.column_schema()},
    )
    def _baseline(context: dg.AssetExecutionContext, config: BaselineConfig, warehouse: Warehouse,
                  catalog: CatalogResource):
        return assets.baseline_result(context, config, warehouse, catalog, subject)

    @dg.asset(
        name=subject.alerts.name, group_name=assets.GROUP, partitions_def=daily_partitions,
        backfill_policy=single_run_backfill, deps=[subject.stats.name, subject.baseline.name, features],
        kinds={"python"}, tags=tags,
        description=(
            f"Per feature of entity `{entity.name}` and day against the current {subject.baseline.name} "
            "version: PSI, KS, normalised Wasserstein, Jensen-Shannon, mean shift, std ratio, null-rate delta "
            "and share outside the baseline's [p01, p99]; named drift types and a severity from the configured "
            f"thresholds, the columns of drift_alerts, and the diagnosis (tail_contamination, population_shift, "
            f"...) with the segments of {subject.history} carrying the change (by "
            f"{', '.join(subject.attribution.all_dimensions)})."),
        metadata={"dagster/table_name": subject.alerts.name, "dagster/column_schema": subject.alerts.column_schema()},
    )
    def _alerts(context: dg.AssetExecutionContext, config: DriftConfig, warehouse: Warehouse,
                catalog: CatalogResource, homes: HomesResource):
        return assets.alerts_result(context, config, warehouse, catalog, subject, homes.homes())

    return [_stats, _baseline, _alerts, assets.build_drift_report(subject, tags)]


def monitoring_jobs(entity: Entity, subject: Subject, sources: SourceCatalog) -> list:
    """capture_<entity>_baseline_job and <entity>_refresh_job (define_asset_job definitions)."""
    capture = dg.define_asset_job(
        f"capture_{entity.name}_baseline_job", selection=dg.AssetSelection.assets(subject.baseline.name),
        description=f"Capture a new {subject.baseline.name} version from a window of {subject.features} days "
        "(config: start_date/end_date or first_n_days). The previous version is kept.")
    population = sources.get(entity.population)
    refreshed = (population.raw_table, population.quarantine_table, entity.features_table, entity.online_table,
                 entity.store_asset, subject.stats.name, subject.alerts.name, entity.names.drift_report)
    refresh = dg.define_asset_job(
        f"{entity.name}_refresh_job", selection=dg.AssetSelection.key_prefixes(*([k] for k in refreshed)),
        description=f"Refresh a day range of entity {entity.name}: " + ", ".join(refreshed) + ".")
    return [capture, refresh]


def definitions(catalog: Catalog | None = None) -> dg.Definitions:
    """The monitoring assets, checks and jobs of every entity other than customer with features in
    the catalog."""
    entities = other_entities(catalog)
    if not entities:
        return dg.Definitions()
    sources = load_sources()  # the populations' quarantine tables (parsed once: load_sources caches)
    subjects = [subject_for(e) for e in entities]
    return dg.Definitions(
        assets=[a for e in entities for a in monitoring_assets(e)],
        asset_checks=[checks.build_one_current_baseline(s.baseline) for s in subjects],
        jobs=[j for e, s in zip(entities, subjects) for j in monitoring_jobs(e, s, sources)],
    )
