"""Diagnosis of one judged day in the warehouse: reads what diagnosis.py needs (landing schema drift
of the files in each feature's window, attribution over the entity's raw table: raw_events for the
customer, `attribution.AttributionSource`) and applies its rules.

On a day with drift, whatever the number of drifted features: one grouped statement over the
current windows, one over the baseline window only the first time a baseline is used (stored in
`attribution_baseline`), the daily fold-in of `customer_first_seen` and a count of out-of-range
customers; nothing at all on a drift-free day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from feature_factory import tables
from feature_factory.catalog import FeatureSpec
from feature_factory.monitoring.explain import attribution, diagnosis, replay
from feature_factory.monitoring.detection.drift import FeatureDrift
from feature_factory.monitoring.kinds import DriftType
from feature_factory.monitoring.statistics.summary import Summary
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse

SCHEMA_KINDS = ("changed_type", "missing_column")


def schema_findings(warehouse: Warehouse, first: dt.date, last: dt.date, source: str = "events") -> list[dict]:
    """Type changes and missing columns of landing files of `source` with events in [first, last]."""
    if not all(warehouse.table_exists(t.name) for t in (tables.LANDING_SCHEMA_DRIFT, tables.LANDING_FILES)):
        return []
    kinds = ", ".join(f"'{k}'" for k in SCHEMA_KINDS)
    # Only the events source's findings (landing_files is its registry); a table written before
    # findings had a source holds only events'.
    has_source = "source" in {c for c, _ in warehouse.columns(tables.LANDING_SCHEMA_DRIFT.name)}
    events_only = f" AND COALESCE(d.source, 'events') = {sql_literal(source)}" if has_source else ""
    df = warehouse.fetch_df(
        f"SELECT d.source_file, d.kind, d.column_name, d.detail, f.min_event_date, f.max_event_date "
        f"FROM {tables.LANDING_SCHEMA_DRIFT} d JOIN {tables.LANDING_FILES} f ON f.source_file = d.source_file "
        f"WHERE d.kind IN ({kinds}){events_only} AND f.max_event_date >= CAST(? AS DATE) "
        f"AND f.min_event_date <= CAST(? AS DATE) ORDER BY d.source_file, d.column_name",
        [str(first), str(last)])
    return [{k.lower(): (str(v)[:10] if "date" in k.lower() else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def diagnose_day(
    warehouse: Warehouse,
    day: dt.date,
    results: Sequence[FeatureDrift],
    current: dict[str, Summary],
    baseline: dict[str, Summary],
    baseline_window: tuple[dt.date, dt.date],
    specs: Sequence[FeatureSpec],
    rules: diagnosis.Rules | None = None,
    unattributed: str | None = None,
    source: attribution.AttributionSource = attribution.CUSTOMER,
) -> dict[str, tuple[str, dict]]:
    """feature -> (diagnosis, evidence) for every drifted result (a drift type at low or above),
    attributed over `source` (the entity's raw table, dimensions and caches).

    `unattributed` (another entity's features): why there is no attribution; the diagnosis is then
    the statistical one alone (diagnosis.py, no landing files or raw_events segments read) and the
    headline says so."""
    drifted = [r for r in results if r.types]
    if not drifted:
        return {}
    with warehouse.held():  # one open database for the few statements below (DuckDB)
        return _diagnose(warehouse, day, drifted, current, baseline, baseline_window, specs, rules, unattributed,
                         source)


def _diagnose(warehouse: Warehouse, day: dt.date, drifted: list[FeatureDrift], current: dict[str, Summary],
              baseline: dict[str, Summary], baseline_window: tuple[dt.date, dt.date],
              specs: Sequence[FeatureSpec], rules: diagnosis.Rules | None,
              unattributed: str | None = None,
              source: attribution.AttributionSource = attribution.CUSTOMER) -> dict[str, tuple[str, dict]]:
    by_name = {s.name: s for s in specs}
    widest = max((by_name[r.feature].window_days for r in drifted if r.feature in by_name), default=1)
    findings = [] if unattributed or not source.source else \
        schema_findings(warehouse, day - dt.timedelta(days=widest - 1), day, source.source)
    prelim = {}
    for r in drifted:
        spec = by_name.get(r.feature)
        # The landing files of the source's raw table are the ones whose findings matter.
        reads = set(spec.source_columns) if spec and attribution.reads_source(spec, source) else set()
        start = str(day - dt.timedelta(days=(spec.window_days if spec else 1) - 1))
        files = [f for f in findings if f["column_name"] in reads and f["max_event_date"] >= start]
        empty = None
        if spec is not None and DriftType.NULL_SPIKE in r.types:
            companion = companion_count(spec, specs)
            empty = diagnosis.empty_window_evidence(
                spec.agg, companion, current.get(companion) if companion else None,
                baseline.get(companion) if companion else None)
        prelim[r.feature] = diagnosis.preliminary(r.types, r.metrics, current.get(r.feature),
                                                  baseline[r.feature], files, rules, empty)
    columns = set() if unattributed else {c for c, _ in warehouse.columns(source.raw_table)}
    targets = []
    for spec in attribution.attributable([by_name[f] for f in prelim if f in by_name], columns, source):
        cause, evidence = prelim[spec.name]
        mode = diagnosis.MODE[cause]
        ref = baseline[spec.name].quantiles
        upper = evidence.get("tail", "upper") == "upper"
        targets.append(attribution.Target(spec, mode, lower=None if upper else ref.get("p01"),
                                          upper=ref.get("p99") if upper else None))
    found = (attribution.attribute(warehouse, day, targets, baseline_window, source) if targets
             else attribution.Attribution({}, {}))
    # Replayed batches in the widest attributed window (one statement; none without a target).
    widest_target = max((t.spec.window_days for t in targets), default=0)
    replays = replay.replayed_files(warehouse, source.raw_table, source.raw_key,
                                    day - dt.timedelta(days=widest_target - 1), day) if targets else None
    attributed = {t.spec.name: t.spec for t in targets}
    out = {}
    for feature, (cause, evidence) in prelim.items():
        contributors = found.by_feature.get(feature, [])
        cause, evidence = diagnosis.refine(cause, evidence, contributors, found.file_days, rules)
        replayed = _replay_in_window(replays, attributed.get(feature), day)
        if replayed is not None:
            cause, evidence = diagnosis.replayed(cause, evidence, *replayed, rules)
        mode = diagnosis.MODE[cause]
        files = found.carriers.get(feature, []) if mode != "shift" else []
        if files:
            evidence["files"] = files
        if found.covering.get(feature):
            evidence["covering"] = found.covering[feature]  # values that hold ~all of it: never ranked
        raw = source.raw_table
        evidence["headline"] = attribution.headline(feature, mode, contributors, files) if feature in found.by_feature else \
            f"{feature}: not attributable to {raw} rows (a derived feature, or {raw} is missing)"
        spec = by_name.get(feature)
        if spec is not None and not attribution.reads_source(spec, source):
            evidence["headline"] = f"{feature}: not attributed: source {_sources_of(spec)}"
        if unattributed:
            evidence["headline"] = f"{feature}: {unattributed}"
        if evidence.get("replay"):
            evidence["headline"] = f"{feature}: {evidence['why']}"
        out[feature] = (cause, evidence)
    return out


def companion_count(spec: FeatureSpec, specs: Sequence[FeatureSpec]) -> str | None:
    """A count over the same window, source and rows as `spec` (its zeros are the entities with no
    qualifying row, where `spec`'s aggregate is NULL); None when the catalog has none."""
    for other in specs:
        if (other.name != spec.name and other.agg == "count" and other.window_days == spec.window_days
                and other.source == spec.source and (other.filter_sql or None) == (spec.filter_sql or None)):
            return other.name
    return None


def _replay_in_window(replays: replay.Replays | None, spec: FeatureSpec | None, day: dt.date
                      ) -> tuple[dict, float] | None:
    """(the replayed file's evidence, its part of the feature window's raw rows) for the replay
    with the largest part in `spec`'s window as of `day`; None without one."""
    if replays is None or spec is None or not replays.files:
        return None
    first = day - dt.timedelta(days=spec.window_days - 1)
    part, best = max(((replays.share_between(r, first, day), r) for r in replays.files), key=lambda pr: pr[0])
    return (best.evidence(), part) if part > 0 else None


def _sources_of(spec: FeatureSpec) -> str:
    parts = [p for p in (spec.numerator, spec.denominator) if p] or [spec]
    return " / ".join(dict.fromkeys(p.source for p in parts))


def diagnosis_markdown(results: Sequence[FeatureDrift], diagnoses: dict[str, tuple[str, dict]]) -> str:
    """The UI's answer to "what changed, where from, and why this fix": one line per drifted
    feature, worst first."""
    rows = [r for r in sorted(results, key=lambda r: (-r.severity_rank, r.feature)) if r.feature in diagnoses]
    if not rows:
        return "no feature drifted"
    lines = ["| feature | severity | diagnosis | why | where it came from |", "|---|---|---|---|---|"]
    for r in rows:
        cause, evidence = diagnoses[r.feature]
        cell = lambda t: str(t or "").replace("|", "\\|")  # noqa: E731
        lines.append(f"| {r.feature} | {r.severity} | **{cause}** | {cell(evidence.get('why'))} "
                     f"| {cell(evidence.get('headline'))} |")
    return "\n".join(lines)
