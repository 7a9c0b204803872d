"""Monitoring assets, one asset factory (`entity_assets`) for every entity: its statistics (daily),
baseline (versioned), drift alerts (daily) and drift report (daily, Evidently's second opinion
downstream of the alerts, so alerts never wait for it): the customer's feature_stats,
feature_stats_baseline, drift_alerts, drift_report; product's product_feature_stats, ... Thin
wiring of stats.py, baseline.py, alerts.py, evidently_report.py and presentation.py."""

import datetime as dt
import functools

import dagster as dg

from feature_factory import markdown as md
from feature_factory import priorities
from feature_factory.catalog_resource import CatalogResource
from feature_factory.homes import HomesResource
from feature_factory.settings import Homes
from feature_factory.monitoring.report import alerts
from feature_factory.monitoring.explain import attribution
from feature_factory.monitoring.detection import baseline_window
from feature_factory.monitoring.report import evidently_report as ev
from feature_factory.monitoring.detection.baseline import (
    NO_BASELINE, baseline_history, capture_baseline,
    current_baseline, dropped_features, resolve_window,
)
from feature_factory.monitoring.detection.contamination import excluded_days
from feature_factory.monitoring.config import BaselineConfig, DriftConfig, DriftReportConfig, StatsConfig
from feature_factory.monitoring.detection.drift import SEVERITIES, severity_rank
from feature_factory.monitoring.statistics.feature_stats import (
    MonitoringError, read_expressions, write_feature_stats,
)
from feature_factory.features.entities import Entity
from feature_factory.monitoring.subject import CUSTOMER, Subject, subject_for
from feature_factory.partitions import daily_partitions, single_run_backfill
from feature_factory.warehouse.base import Warehouse

GROUP = "monitoring"


def _days(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def computed(catalog: CatalogResource, subject: Subject) -> list:
    """The subject's computed features in the run's catalog."""
    return catalog.catalog().for_entity(subject.entity).computed()


def stats_result(context: dg.AssetExecutionContext, config: StatsConfig, warehouse: Warehouse,
                 catalog: CatalogResource, subject: Subject = CUSTOMER) -> dg.MaterializeResult:
    """feature_stats' run (and every other entity's `<entity>_feature_stats`, entity_assets.py)."""
    first, last = _days(context)
    baseline = current_baseline(warehouse, subject)
    rows = write_feature_stats(warehouse, first, last, computed(catalog, subject),
                               binning=baseline.binning() if baseline else None,
                               grid_size=config.grid_size, sketch_rows=config.sketch_rows,
                               older_sketch_rows=config.range_sketch_rows, subject=subject)
    preview = warehouse.fetch_df(
        f"SELECT feature, row_count, null_rate, mean, stddev, p50, p99, distinct_count "
        f"FROM {subject.stats} WHERE stats_date = CAST(? AS DATE) ORDER BY feature", [str(last)])
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "days": (last - first).days + 1,
        "baseline": baseline.describe() if baseline else f"{subject.no_baseline(NO_BASELINE)} (histograms left empty)",
        "preview": dg.MetadataValue.md(f"on {last}:\n\n" + md.frame_table(preview)),
        "dagster/column_schema": subject.stats.column_schema(live=warehouse.columns(subject.stats.name)),
    })


def baseline_result(context: dg.AssetExecutionContext, config: BaselineConfig, warehouse: Warehouse,
                    catalog: CatalogResource, subject: Subject = CUSTOMER) -> dg.MaterializeResult:
    """feature_stats_baseline's run (and every other entity's `<entity>_feature_stats_baseline`)."""
    try:
        previous = current_baseline(warehouse, subject)
    except MonitoringError as exc:  # e.g. two current versions: this capture repairs that
        context.log.warning(f"previous baseline unreadable ({exc}); capturing without comparing to it")
        previous = None
    start, end = resolve_window(warehouse, config.start_date, config.end_date, config.first_n_days, previous, subject)
    skip = excluded_days(warehouse, start, end, subject) if config.exclude_contaminated else {}
    if skip:  # loud: the window is shorter than asked for, and why
        context.log.warning(f"baseline window {start}..{end}: {len(skip)} day(s) left out: "
                            + "; ".join(f"{d} ({why})" for d, why in skip.items()))
    baseline = capture_baseline(warehouse, start, end, computed(catalog, subject), grid_size=config.grid_size,
                                sketch_rows=config.sketch_rows, subject=subject, only=config.features,
                                exclude_days=list(skip))
    refreshed = sorted(set(baseline.features) - set(baseline.carried))
    context.log.info(f"captured baseline {baseline.describe()}: {len(refreshed)} feature(s) recaptured "
                     f"({', '.join(refreshed)}), {len(baseline.carried)} carried unchanged")
    source = subject.attribution
    if warehouse.table_exists(source.raw_table):
        # Attribution's first-seen table (customer_first_seen), brought up to date now: the first drifted day judged
        # against this baseline would otherwise rebuild it inside drift_alerts (a MIN over every
        # stored event: 0.8 CPU-s at 10M events), delaying the alerts; later days fold in one day.
        context.log.info(f"{source.first_seen_table}: {attribution.refresh_first_seen(warehouse, source)}")
    for warning in baseline.warnings:  # loud: a trending window makes every later day look drifted
        context.log.warning(f"baseline {baseline.describe()}: {warning}")
    dropped = dropped_features(previous, baseline, subject)
    if dropped:  # loud: these features stop being monitored from now on
        context.log.warning(
            f"baseline {baseline.describe()} no longer monitors {len(dropped)} feature(s) that "
            f"v{previous.version} monitored: " + "; ".join(f"{f} ({why})" for f, why in dropped.items())
            + ". Capture a window that ends later (end_date) to keep them.")
    table = md.table(["feature", "rows", "null rate", "mean", "stddev", "p01", "p99", "bins"], [
        [f, s.row_count, s.null_rate, s.mean, s.stddev, s.quantiles["p01"], s.quantiles["p99"], len(s.edges or []) + 1]
        for f, s in sorted(baseline.features.items())])
    history = md.table(["version", "current", "window", "days", "captured", "features"], [
        [f"v{v}", "yes" if c else "", f"{md.fmt(a)}..{md.fmt(b)}", d, t, n]
        for v, c, a, b, d, t, n in baseline_history(warehouse, subject)[:20]])
    return dg.MaterializeResult(metadata={
        "baseline_version": baseline.version,
        "window": f"{baseline.window_start}..{baseline.window_end}",
        "days": baseline.days,
        "features": len(baseline.features),
        "recaptured_features": dg.MetadataValue.json(refreshed),
        "carried_features": dg.MetadataValue.md(
            "\n".join(f"- {f}: unchanged from v{v}" for f, v in sorted(baseline.carried.items()))
            or "none: every feature was recaptured"),
        "excluded_days": dg.MetadataValue.md(
            "\n".join(f"- {d}: {why}" for d, why in skip.items())
            or "none: no day of the window carries a contamination finding or a clipped value"),
        "window_trend": dg.MetadataValue.md(
            "**Warning: the window trends** (population or volume):\n\n" + "\n".join(f"- {w}" for w in baseline.warnings)
            if baseline.warnings else "flat: population and volume change less than "
            f"{baseline_window.MAX_CHANGE:.0%} inside the window"),
        "window_trend_warnings": len(baseline.warnings),
        "dropped_features": dg.MetadataValue.md(
            "**No longer monitored** (the previous version monitored them; capture a window that "
            "ends later to keep them):\n\n" + "\n".join(f"- {f}: {why}" for f, why in dropped.items())
            if dropped else "none: every feature the previous version monitored is still monitored"),
        "incomplete_features": dg.MetadataValue.md(
            "\n".join(f"- {f}: window first complete on {d}" for f, d in sorted(baseline.incomplete.items()))
            or "none: every feature's window is complete within the baseline window"),
        "statistics": dg.MetadataValue.md(table),
        "versions": dg.MetadataValue.md(history),
        "dagster/row_count": warehouse.row_count(subject.baseline.name),
        "dagster/column_schema": subject.baseline.column_schema(),
    })


def alerts_result(context: dg.AssetExecutionContext, config: DriftConfig, warehouse: Warehouse,
                  catalog: CatalogResource, subject: Subject = CUSTOMER, homes: Homes | None = None
                  ) -> dg.MaterializeResult:
    """drift_alerts' run (and every other entity's `<entity>_drift_alerts`, entity_assets.py).
    `homes`: where the day's Evidently report will be (customer only: drift_report is its)."""
    first, last = _days(context)
    per_partition, metadata, all_rows = {}, {}, []
    with warehouse.held():  # one open DuckDB file for the dozen small reads (each open is ~0.07 s)
        reports = alerts.evaluate_days(warehouse, first, last, computed(catalog, subject), thresholds=config.thresholds(),
                                       grid_size=config.grid_size, subject=subject)
    ranged = len(reports) > 1
    for report in reports:
        day = report.day
        # Histogram PNGs cost ~0.4 s each (matplotlib), up to max_plots a drifted day: in a range
        # run only the last day gets them, unless configured otherwise (as drift_report's Evidently).
        plots = day == last or config.plots_every_day_in_ranges
        verdict, metadata, day_rows = _drift_day(context, config, warehouse, report, plots, last, subject, homes)
        per_partition[str(day)] = verdict
        all_rows += day_rows
        if ranged:
            # One verdict per day: each partition's materialization carries that day's severity,
            # drifted features, drift table and plots (partition-scoped metadata overrides the
            # run's shared keys below), not the last day's or the run's worst.
            context.add_asset_metadata(metadata, partition_key=str(day))
    rows = alerts.write_alerts(warehouse, first, all_rows, last, subject)  # every day of the range in one statement
    if ranged:  # the run's summary, under its own names, shared by every partition's event
        worst = max(v["severity_rank"] for v in per_partition.values())
        summary = "| day | severity | features at low or above |\n|---|---|---|\n" + "\n".join(
            f"| {d} | {v['severity']} | {', '.join(f'{f} ({s})' for f, s in sorted(v['features'].items()))} |"
            for d, v in per_partition.items())
        metadata = {"run_days": len(reports), "run_summary": dg.MetadataValue.md(summary),
                    "run_max_severity": SEVERITIES[worst], "run_max_severity_rank": worst,
                    "run_row_count": rows, "dagster/column_schema": subject.alerts.column_schema()}
    metadata["partitions"] = dg.MetadataValue.json(per_partition)
    return dg.MaterializeResult(metadata=metadata)


def _drift_day(context, config: DriftConfig, warehouse: Warehouse, report: alerts.DayDrift,
               with_plots: bool, last: dt.date, subject: Subject = CUSTOMER,
               homes: Homes | None = None) -> tuple[dict, dict, list[dict]]:
    """(verdict, metadata, alert rows) of one judged day."""
    from feature_factory.monitoring.report.presentation import drift_table_markdown, histogram_png, markdown_image
    from feature_factory.monitoring.explain.root_cause import diagnosis_markdown

    day = report.day
    if report.baseline is None:
        context.log.warning(f"{subject.alerts} {day}: {subject.no_baseline(NO_BASELINE)}")
        verdict = {"severity_rank": 0, "severity": "none", "baseline_version": None, "features": {}}
        return verdict, {"status": subject.no_baseline(NO_BASELINE), "max_severity": "none", "max_severity_rank": 0,
                         "dagster/row_count": 0}, []
    b = report.baseline
    rows = alerts.alert_rows(report)  # evidently_* stay NULL until drift_report has run
    drifted = report.drifted(config.drifted_at)
    plots = [
        markdown_image(histogram_png(r.feature, b.features[r.feature], report.current.get(r.feature),
                                     f"{r.feature}: {r.severity} ({r.drift_types}) on {day}"), r.feature)
        for r in sorted(drifted, key=lambda r: -r.severity_rank)[: config.max_plots]
    ] if with_plots else []
    features = {r.feature: r.severity for r in report.results if r.severity_rank > 0}
    causes = {f: {"diagnosis": d, "cause": e.get("headline")} for f, (d, e) in report.diagnoses.items() if f in features}
    verdict = {"severity_rank": severity_rank(report.max_severity), "severity": report.max_severity,
               "baseline_version": b.version, "features": features, "causes": causes}
    if b.captured_at is not None:  # the capture judged against: what makes the alert one alert (answered.py)
        verdict["baseline_captured_at"] = b.captured_at.isoformat()
    if homes is not None:
        # Where the entity's drift report writes this day's Evidently report (it runs after this asset).
        verdict["evidently_report"] = str(ev.report_path(day, b.version, homes, subject))
    metadata = {
        "dagster/row_count": len(rows),
        "baseline_version": b.version,
        "baseline": b.describe(),
        "max_severity": report.max_severity,
        "max_severity_rank": verdict["severity_rank"],
        "drifted_share": dg.MetadataValue.float(round(report.drifted_share(config.drifted_at), 4)),
        "drifted_features": dg.MetadataValue.json(sorted(r.feature for r in drifted)),
        "drift_table": dg.MetadataValue.md(drift_table_markdown(report.results)),
        "diagnoses": dg.MetadataValue.md(diagnosis_markdown(report.results, report.diagnoses)),
        "histograms": dg.MetadataValue.md("\n\n".join(plots) or (
            "no feature drifted" if not drifted else
            f"drawn only for the last day of this range run ({last}); set plots_every_day_in_ranges: true "
            "for every day, or materialize this partition alone")),
        "dagster/column_schema": subject.alerts.column_schema(),
    }
    if report.message:
        metadata["notes"] = report.message
    return verdict, metadata, rows


def build_drift_report(subject: Subject, tags: dict[str, str] | None = None) -> dg.AssetsDefinition:
    """The entity's Evidently report asset (the customer's `drift_report`, product's
    `product_drift_report`), downstream of its drift alerts."""
    alerts_table = subject.alerts.name

    @dg.asset(
        name=subject.of.names.drift_report, group_name=GROUP, partitions_def=daily_partitions,
        backfill_policy=single_run_backfill, deps=[alerts_table], kinds={"python", "evidently"}, tags=tags,
        op_tags=priorities.op_tags(priorities.SECOND_OPINION),
        description=(
            f"Evidently's DataDriftPreset report for the day, as a second opinion next to {alerts_table}: "
            "bounded samples of the day and of the baseline window the alerts were judged against (sampled "
            f"in the warehouse), the HTML report under reports/, and Evidently's per-column verdict written "
            f"into that day's {alerts_table} rows (evidently_* columns) and shown beside ours. It runs after "
            f"{alerts_table} has landed, so alerting never waits for Evidently. In a range run only the last "
            "day gets a report unless every_day_in_ranges (each report is a few MB of HTML)."),
    )
    def _drift_report(context: dg.AssetExecutionContext, config: DriftReportConfig, warehouse: Warehouse,
                      homes: HomesResource, catalog: CatalogResource):
        return report_result(context, config, warehouse, homes.homes(), computed(catalog, subject), subject)

    return _drift_report


def report_result(context: dg.AssetExecutionContext, config: DriftReportConfig, warehouse: Warehouse,
                  homes: Homes, features: list, subject: Subject) -> dg.MaterializeResult:
    """An entity's drift report run: each day of the partition range (the last one in a range run)."""
    first, last = _days(context)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    ranged, metadata, reported = len(days) > 1, {}, []
    for day in days:
        if not config.enabled:
            metadata = {"status": "disabled (enabled: false): no Evidently report"}
        elif day != last and not config.every_day_in_ranges:
            metadata = {"status": f"no report for this day of a range run (only {last} gets one; "
                                  "set every_day_in_ranges: true for all)"}
        else:
            metadata = _report_day(context, config, warehouse, day, homes, features, subject)
            reported += [str(day)] if "evidently_report_file" in metadata else []
        if ranged:  # each partition's own metadata (overrides the run's shared keys below)
            context.add_asset_metadata(metadata, partition_key=str(day))
    if ranged:  # the shared keys: the run's summary only, so no day shows another day's report
        metadata = {"run_days": len(days), "run_reported_days": dg.MetadataValue.json(reported)}
    return dg.MaterializeResult(metadata=metadata)


def _report_day(context, config: DriftReportConfig, warehouse: Warehouse, day: dt.date, homes: Homes,
                features: list, subject: Subject = CUSTOMER) -> dict:
    judged = ev.judged_day(warehouse, day, subject)
    asset = subject.of.names.drift_report
    if judged.empty:
        message = f"{subject.alerts} has no rows for {day} (no baseline, or not materialized): no report"
        context.log.warning(f"{asset} {day}: {message}")
        return {"status": message}
    version = int(judged["baseline_version"].iloc[0])
    window = ev.baseline_window(warehouse, version, subject)
    if window is None:
        return {"status": f"baseline v{version} of the {day} alerts is gone from {subject.baseline}: no report"}
    names = set(judged["feature"])
    exprs = read_expressions(warehouse, [s for s in features if s.name in names], subject)
    result = ev.run_report(warehouse, day, window, exprs, config.sample_size, version, homes, subject)
    ev.store_verdicts(warehouse, day, version, result.columns, subject)
    metadata = {
        "baseline_version": version,
        "evidently_sample_rows": f"current {result.sample_rows[0]}, reference {result.sample_rows[1]}",
        "drift_table": dg.MetadataValue.md(ev.verdicts_markdown(judged, result.columns)),
        "evidently_drifted_features": dg.MetadataValue.json(sorted(f for f, c in result.columns.items() if c["drift"])),
        "dagster/row_count": len(result.columns),
    }
    if result.path:  # a link the UI opens (served by `feature-factory ui`), and the file
        url = homes.report_url(result.path)
        metadata["evidently_report"] = dg.MetadataValue.url(url) if url else dg.MetadataValue.path(str(result.path))
        metadata["evidently_report_file"] = dg.MetadataValue.path(str(result.path))
    if result.error:
        context.log.warning(f"{asset} {day}: {result.error}")
        metadata["evidently_status"] = result.error
    return metadata



def _stats_asset(subject: Subject, tags: dict[str, str]) -> dg.AssetsDefinition:
    entity = subject.of

    @dg.asset(
        name=subject.stats.name, group_name=GROUP, partitions_def=daily_partitions,
        backfill_policy=single_run_backfill, deps=[subject.features, subject.baseline.name], kinds={"sql"}, tags=tags,
        description=(
            f"Per feature of entity `{entity.name}` and day: count, null and zero rates, mean, stddev, min/max, "
            f"p01..p99, distinct count, histogram counts over the current {subject.baseline.name} version's "
            "frozen bins, share outside its [p01, p99] and a quantile grid, computed in one SQL statement over "
            f"the partition's days of {subject.features} (read through the patch layer). Long format: one row "
            "per (feature, stats_date)."),
        metadata={"dagster/table_name": subject.stats.name, "dagster/column_schema": subject.stats.column_schema()},
    )
    def _stats(context: dg.AssetExecutionContext, config: StatsConfig, warehouse: Warehouse,
               catalog: CatalogResource):
        return stats_result(context, config, warehouse, catalog, subject)

    return _stats


def _baseline_asset(subject: Subject, tags: dict[str, str]) -> dg.AssetsDefinition:
    entity = subject.of

    @dg.asset(
        name=subject.baseline.name, group_name=GROUP, deps=[subject.features], kinds={"sql"}, tags=tags,
        description=(
            f"Reference statistics per feature of entity `{entity.name}` captured from a chosen window of "
            f"{subject.features} days (run {subject.capture_job}, or materialize with config). Every capture is "
            "a new version, exactly one is current, none is overwritten. Stores the statistics, frozen bin edges "
            "(deciles of the window, deduplicated), the window's histogram over them and its quantile grid."),
        metadata={"dagster/table_name": subject.baseline.name,
                  "dagster/column_schema": subject.baseline.column_schema()},
    )
    def _baseline(context: dg.AssetExecutionContext, config: BaselineConfig, warehouse: Warehouse,
                  catalog: CatalogResource):
        return baseline_result(context, config, warehouse, catalog, subject)

    return _baseline


def _alerts_asset(subject: Subject, tags: dict[str, str]) -> dg.AssetsDefinition:
    entity = subject.of

    @dg.asset(
        name=subject.alerts.name, group_name=GROUP, partitions_def=daily_partitions,
        # Same policy as the SQL assets, so a backfill of the refresh job is one run. Each day is
        # still judged on its own; the `partitions` metadata carries every day's verdict for the sensor.
        backfill_policy=single_run_backfill, deps=[subject.stats.name, subject.baseline.name, subject.features],
        kinds={"python"}, tags=tags,
        description=(
            f"Per feature of entity `{entity.name}` and day against the current {subject.baseline.name} version: "
            "PSI, KS, normalised Wasserstein, Jensen-Shannon, mean shift (baseline stds), std ratio, null-rate "
            "delta and share outside the baseline's [p01, p99]; named drift types and a severity (none..critical) "
            "from the configured thresholds, and the diagnosis (tail_contamination, population_shift, ...) with "
            f"the segments of {subject.history} carrying the change (by "
            f"{', '.join(subject.attribution.all_dimensions)}). Evidently's per-column verdict is added by "
            f"{entity.names.drift_report}, which runs after this asset has landed. Without a baseline the "
            f"partition is left empty and the metadata says to run {subject.capture_job}."),
        metadata={"dagster/table_name": subject.alerts.name, "dagster/column_schema": subject.alerts.column_schema()},
    )
    def _alerts(context: dg.AssetExecutionContext, config: DriftConfig, warehouse: Warehouse,
                homes: HomesResource, catalog: CatalogResource):
        return alerts_result(context, config, warehouse, catalog, subject, homes.homes())

    return _alerts


@functools.lru_cache(maxsize=64)  # one definition per entity, whoever asks
def entity_assets(entity: Entity) -> tuple[dg.AssetsDefinition, ...]:
    """(stats, baseline, alerts, drift report) of one entity, named by its spec: the customer's
    feature_stats, feature_stats_baseline, drift_alerts, drift_report; product's product_feature_stats, ..."""
    subject = subject_for(entity)
    tags = {"feature_factory/entity": entity.name}
    return (_stats_asset(subject, tags), _baseline_asset(subject, tags), _alerts_asset(subject, tags),
            build_drift_report(subject, tags))


# The customer's, under the names users and tests import (the same objects the definitions hold).
feature_stats, feature_stats_baseline, drift_alerts, drift_report = entity_assets(CUSTOMER.of)
