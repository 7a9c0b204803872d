"""Quality gates on the monitoring tables (one per entity, built by `build_one_current_baseline`)."""

import functools

import dagster as dg

from feature_factory import tables
from feature_factory.monitoring.detection.baseline import NO_BASELINE
from feature_factory.warehouse.base import Warehouse

_ONE_CURRENT = ("Exactly one baseline version is current, and each version's rows agree on its status and "
                "the rows it captured itself on their window end (versions are appended, never rewritten; a "
                "feature's window may start later, once its own window is complete; a row carried unchanged "
                "from an earlier version by a per-feature refresh keeps its own window).")


@functools.lru_cache(maxsize=64)  # one definition per baseline table, whoever asks
def build_one_current_baseline(baseline: tables.Table) -> dg.AssetChecksDefinition:
    """`one_current_baseline` (blocking) on an entity's baseline table (feature_stats_baseline,
    `<entity>_feature_stats_baseline`)."""
    @dg.asset_check(asset=baseline.name, name="one_current_baseline", blocking=True, description=_ONE_CURRENT)
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        return current_baseline_check(warehouse, baseline)

    return _check


one_current_baseline = build_one_current_baseline(tables.FEATURE_STATS_BASELINE)


def current_baseline_check(warehouse: Warehouse, baseline: tables.Table) -> dg.AssetCheckResult:
    if not warehouse.table_exists(baseline.name):
        return dg.AssetCheckResult(passed=True, metadata={"status": NO_BASELINE})
    current = warehouse.fetch_all(
        f"SELECT DISTINCT baseline_version FROM {baseline.name} WHERE is_current ORDER BY 1")
    # Rows carried from an earlier version keep that version's window (older tables lack the column).
    carried = "carried_from" in {c for c, _ in warehouse.columns(baseline.name)}
    captured_end = "CASE WHEN carried_from IS NULL THEN window_end END" if carried else "window_end"
    mixed = warehouse.fetch_all(
        f"SELECT baseline_version FROM {baseline.name} GROUP BY baseline_version "
        f"HAVING COUNT(DISTINCT {captured_end}) > 1 "
        "OR COUNT(DISTINCT is_current) > 1")
    versions = [int(r[0]) for r in current]
    problems = []
    if len(versions) != 1:
        problems.append(f"{len(versions)} current versions {versions} (expected exactly 1)")
    if mixed:
        problems.append(f"versions with inconsistent rows: {[int(r[0]) for r in mixed]}")
    return dg.AssetCheckResult(passed=not problems, metadata={
        "current_version": versions[0] if len(versions) == 1 else -1,
        "problems": "; ".join(problems) or "none"})
