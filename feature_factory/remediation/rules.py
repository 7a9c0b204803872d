"""Which drift gets which patch: `drift_alerts` rows + baseline stats -> patch candidates.

| drift type (its own severity >= `min_severity`) | patch                             |
|-------------------------------------------------|-----------------------------------|
| NULL_SPIKE                                 | impute_median (baseline p50)            |
| OUT_OF_RANGE                               | clip (baseline [p01, p99])              |
| SCHEMA_CHANGE                              | cast (back to the catalog dtype)        |
| MEAN_SHIFT / DISTRIBUTION_SHIFT, >= `model_min_severity`, and no data-quality drift in the row | request_retrain + refresh_baseline |
| >= `disable_min_severity` and broken (STALE, SCHEMA_CHANGE, or a null spike of at least `disable_null_rate_delta`) | disable_feature |

Severities are per drift type (monitoring's `type_severities`; the row's severity when absent),
and a candidate carries the severity of the drift that calls for it (what a policy's
`max_severity` compares against). Data-quality drift (outliers, nulls, type changes) shifts the
mean too; while a row shows it we fix the data first and do not also propose a retrain. If the
shift persists on the patched values, the next alert (measured through the patch layer) proposes it.

For integer features the clip bounds widen to whole numbers (floor p01, ceil p99) and the median
rounds half up, so patched values keep the column's type and in-range values are never changed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from feature_factory.catalog import Catalog, DType
from feature_factory.remediation import patches as P

SEVERITIES = ("none", "low", "medium", "high", "critical")
DATA_QUALITY = {"NULL_SPIKE", "OUT_OF_RANGE", "SCHEMA_CHANGE"}
EVIDENCE_METRICS = (
    "psi", "ks", "wasserstein_norm", "js_distance", "mean_shift_std", "std_ratio",
    "null_rate_delta", "out_of_range_share",
)
BASELINE_STATS = ("p01", "p50", "p99", "mean", "stddev", "null_rate")


def severity_rank(severity: str) -> int:
    try:
        return SEVERITIES.index(str(severity).lower())
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}") from None


@dataclass(frozen=True)
class RuleSettings:
    min_severity: str = "medium"
    model_min_severity: str = "high"
    disable_min_severity: str = "critical"
    disable_null_rate_delta: float = 0.5

    def __post_init__(self) -> None:
        for name in ("min_severity", "model_min_severity", "disable_min_severity"):
            severity_rank(getattr(self, name))


@dataclass(frozen=True)
class Candidate:
    patch: P.Patch
    severity: str
    drift_types: str
    alert_date: Any
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Proposal:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # human-readable reasons, for metadata


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _type_severities(alert: dict[str, Any], types: set[str]) -> dict[str, str]:
    """Each drift type's own severity (monitoring's `type_severities` JSON when present, else the
    row's severity), so a low-grade OUT_OF_RANGE riding on a high MEAN_SHIFT does not get a clip."""
    raw = alert.get("type_severities")
    if raw:
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else dict(raw)
            found = {str(k).upper(): str(v) for k, v in parsed.items() if str(v) in SEVERITIES}
            if found:
                return {t: found.get(t, "none") for t in types}
        except (ValueError, TypeError):
            pass
    return {t: str(alert["severity"]) for t in types}


def _patches_for(
    alert: dict[str, Any], stats: dict[str, Any], dtype: DType, s: RuleSettings
) -> list[tuple[P.Patch, str]]:
    """(patch, the severity of the drift that calls for it) pairs for one alert row."""
    feature, version = alert["feature"], int(alert["baseline_version"])
    types = {t.strip().upper() for t in str(alert.get("drift_types") or "").split(",") if t.strip()}
    sev = _type_severities(alert, types)

    def at_least(kind: str, level: str) -> bool:
        return kind in sev and severity_rank(sev[kind]) >= severity_rank(level)

    out: list[tuple[P.Patch, str]] = []
    if at_least("SCHEMA_CHANGE", s.min_severity):
        out.append((P.Cast(feature=feature, baseline_version=version, to=dtype.value), sev["SCHEMA_CHANGE"]))
    if at_least("NULL_SPIKE", s.min_severity) and _num(stats.get("p50")) is not None:
        median = _num(stats["p50"])
        median = math.floor(median + 0.5) if dtype is DType.INT else median
        out.append((P.ImputeMedian(feature=feature, baseline_version=version, median=median), sev["NULL_SPIKE"]))
    if at_least("OUT_OF_RANGE", s.min_severity) and None not in (_num(stats.get("p01")), _num(stats.get("p99"))):
        lo, hi = _num(stats["p01"]), _num(stats["p99"])
        if dtype is DType.INT:
            lo, hi = math.floor(lo), math.ceil(hi)
        out.append((P.Clip(feature=feature, baseline_version=version, lower=lo, upper=hi), sev["OUT_OF_RANGE"]))
    data_fix = any(at_least(t, s.min_severity) for t in DATA_QUALITY)
    shifts = [sev[t] for t in ("MEAN_SHIFT", "DISTRIBUTION_SHIFT") if at_least(t, s.model_min_severity)]
    if shifts and not data_fix:
        worst = max(shifts, key=severity_rank)
        out.append((P.RequestRetrain(feature=feature, baseline_version=version), worst))
        out.append((P.RefreshBaseline(feature=feature, baseline_version=version), worst))
    null_delta = _num(alert.get("null_rate_delta")) or 0.0
    broken = [t for t in ("STALE", "SCHEMA_CHANGE") if at_least(t, s.disable_min_severity)]
    if at_least("NULL_SPIKE", s.disable_min_severity) and null_delta >= s.disable_null_rate_delta:
        broken.append("NULL_SPIKE")
    if broken:
        worst = max((sev[t] for t in broken), key=severity_rank)
        out.append((P.DisableFeature(feature=feature, baseline_version=version), worst))
    return out


def propose(
    alerts: list[dict[str, Any]],
    baseline: dict[tuple[int, str], dict[str, Any]],
    catalog: Catalog,
    settings: RuleSettings | None = None,
) -> Proposal:
    """Candidates for `alerts` (drift_alerts rows as dicts). `baseline` maps (baseline_version,
    feature) to that version's stats (p01, p50, p99, ...). Alerts that cannot be acted on (unknown
    or retired feature, no baseline stats, a patch that fails validation) are skipped with a
    reason, so one bad row does not hide the others. Duplicates (same id) are dropped."""
    s = settings or RuleSettings()
    result = Proposal()
    seen: set[str] = set()
    for alert in sorted(alerts, key=lambda a: (str(a.get("feature")), str(a.get("alert_date")))):
        feature = alert.get("feature")
        if severity_rank(alert.get("severity") or "none") < severity_rank(s.min_severity):
            continue
        try:
            spec = catalog.get(feature)
        except KeyError:
            result.skipped.append(f"{feature!r}: not in the catalog; no patch proposed")
            continue
        if not spec.computed:
            result.skipped.append(f"{feature}: retired; no patch proposed")
            continue
        stats = baseline.get((int(alert["baseline_version"]), feature), {})
        try:
            patches = _patches_for(alert, stats, spec.dtype, s)
            for patch, _ in patches:
                patch.validate(catalog)
        except P.PatchValidationError as exc:
            result.skipped.append(str(exc))
            continue
        if not patches:
            result.skipped.append(
                f"{feature}: {alert.get('drift_types') or 'no drift types'} ({alert['severity']}) "
                "has no applicable patch" + ("" if stats else " (no baseline stats)")
            )
        evidence = {
            "alert_date": str(alert.get("alert_date")),
            "severity": alert["severity"],
            "drift_types": alert.get("drift_types") or "",
            "baseline_version": int(alert["baseline_version"]),
            **{m: _num(alert.get(m)) for m in EVIDENCE_METRICS if m in alert},
            "baseline": {k: _num(stats.get(k)) for k in BASELINE_STATS if k in stats},
        }
        for patch, severity in patches:
            if patch.patch_id in seen:
                continue
            seen.add(patch.patch_id)
            result.candidates.append(
                Candidate(patch, severity, alert.get("drift_types") or "", alert.get("alert_date"), evidence)
            )
    return result
