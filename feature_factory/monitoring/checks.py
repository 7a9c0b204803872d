"""Quality gates on the monitoring tables."""

import dagster as dg

from feature_factory import tables
from feature_factory.monitoring.detection.baseline import NO_BASELINE
from feature_factory.warehouse.base import Warehouse

_ONE_CURRENT = ("Exactly one baseline version is current, and each version's rows agree on its window end "
                "and status (versions are appended, never rewritten; a feature's window may start later, "
                "once its own window is complete).")


@dg.asset_check(asset=tables.FEATURE_STATS_BASELINE.name, blocking=True, description=_ONE_CURRENT)
def one_current_baseline(warehouse: Warehouse) -> dg.AssetCheckResult:
    return current_baseline_check(warehouse, tables.FEATURE_STATS_BASELINE)


def build_one_current_baseline(baseline: tables.Table) -> dg.AssetChecksDefinition:
    """The same gate on another entity's baseline table (`<entity>_feature_stats_baseline`)."""
    @dg.asset_check(asset=baseline.name, name="one_current_baseline", blocking=True, description=_ONE_CURRENT)
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        return current_baseline_check(warehouse, baseline)

    return _check


def current_baseline_check(warehouse: Warehouse, baseline: tables.Table) -> dg.AssetCheckResult:
    if not warehouse.table_exists(baseline.name):
        return dg.AssetCheckResult(passed=True, metadata={"status": NO_BASELINE})
    current = warehouse.fetch_all(
        f"SELECT DISTINCT baseline_version FROM {baseline.name} WHERE is_current ORDER BY 1")
    mixed = warehouse.fetch_all(
        f"SELECT baseline_version FROM {baseline.name} GROUP BY baseline_version "
        "HAVING COUNT(DISTINCT window_end) > 1 "
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
