"""Which drift gets which patch: `drift_alerts` rows + baseline stats -> patch candidates.

Rows with a `diagnosis` (monitoring/explain/diagnosis.py) get the fix that fits the cause; the drift
types only set the severity (each type's own, >= `min_severity`):

| diagnosis             | patch                                                                     |
|-----------------------|---------------------------------------------------------------------------|
| `tail_contamination`  | clip at the baseline's max (upper tail) or min (lower tail), the other    |
|                       | side at the declared range (integers: floor/ceil): no value the baseline  |
|                       | saw is ever changed, and a legitimate 0 is never raised                   |
| `population_shift`    | refresh_baseline + request_retrain (never clip or impute; a NULL_SPIKE    |
|                       | diagnosed so is NULL by definition: never disable_feature for it)         |
| `missing_data`        | impute_median only for NULLs whose inputs were missing: avg/min/max/stddev|
|                       | features with a count feature over the same window and rows               |
|                       | (`when_rows_in`); sums and counts are never NULL, so nothing is imputed;  |
|                       | a shift >= `model_min_severity` also requests a retrain (no refresh)      |
| `type_or_schema`      | cast when the column's type changed; a landing file that changed a raw    |
|                       | column's type: exclude_source of that file (re-ingest it)                 |
| `single_source`       | exclude_source of the file (re-ingest it, then roll back)                 |
| `volume_or_staleness` | nothing but disable_feature at `disable_min_severity` (fix the feed)      |

Every data patch is also counted in the warehouse before it is proposed (propose.py): a patch
that would change no row on the alert day is skipped with the reason.

Rows written before diagnoses existed get theirs derived from their drift types when the row is
parsed (monitoring/report/alert_record.py: OUT_OF_RANGE -> tail_contamination, NULL_SPIKE ->
missing_data, STALE -> volume_or_staleness, SCHEMA_CHANGE -> type_or_schema, other shifts ->
population_shift), so every row goes through the one table above.

Severities are per drift type (monitoring's `type_severities`; the row's severity when absent),
and a candidate carries the severity of the drift that calls for it (what a policy's
`max_severity` compares against); a diagnosis's data patch is gated by the row's worst type.
Whatever the diagnosis, `disable_feature` is proposed at `disable_min_severity` for breakage:
STALE, SCHEMA_CHANGE, or a null spike of at least `disable_null_rate_delta`.

For integer features the clip bounds widen to whole numbers (floor the lower, ceil the upper) and
the median rounds half up, so patched values keep the column's type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from feature_factory.catalog import Catalog, DType, FeatureSpec
from feature_factory.features import patches
from feature_factory.monitoring.report.alert_record import AlertRecord, AlertRowError, number
from feature_factory.monitoring.kinds import Diagnosis, DriftType
# One severity scale for alerts and patches (policy.py imports SEVERITIES from here).
from feature_factory.monitoring.detection.thresholds import SEVERITIES, severity_rank  # noqa: F401
from feature_factory.precision import plain_double

T = DriftType
SHIFTS = (T.MEAN_SHIFT, T.DISTRIBUTION_SHIFT)
EVIDENCE_METRICS = (
    "psi", "ks", "wasserstein_norm", "js_distance", "mean_shift_std", "std_ratio",
    "null_rate_delta", "out_of_range_share",
)
BASELINE_STATS = ("min_value", "p01", "p50", "p99", "max_value", "mean", "stddev", "null_rate")



class RuleSettings(BaseModel):
    """Which severities get which patch: the one source of these defaults (no Dagster;
    remediation/assets.ProposeConfig inherits the fields for the Launchpad)."""

    model_config = ConfigDict(frozen=True)

    min_severity: str = Field(default="medium", description="Least severe drift that gets a data patch.")
    model_min_severity: str = Field(
        default="high", description="Least severe MEAN_SHIFT/DISTRIBUTION_SHIFT on a missing_data row that also requests a "
        "retrain (a population_shift gets refresh + retrain from min_severity)."
    )
    disable_min_severity: str = Field(default="critical", description="Least severe breakage that proposes disabling the feature.")
    disable_null_rate_delta: float = Field(
        default=0.5, description="A null spike at least this large (rate delta) counts as breakage."
    )

    @field_validator("min_severity", "model_min_severity", "disable_min_severity")
    @classmethod
    def _known_severity(cls, value: str) -> str:
        severity_rank(value)
        return value


@dataclass(frozen=True)
class Candidate:
    patch: patches.Patch
    severity: str
    drift_types: str
    alert_date: Any
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Proposal:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # human-readable reasons, for metadata


def _num(v: Any) -> float | None:
    """A finite float at the declared precision (patch parameters carry no float noise: 957.41,
    not 957.4100000000001), or None (a measurement that is missing)."""
    return plain_double(number(v))


def companion_count(spec: FeatureSpec, catalog: Catalog) -> FeatureSpec | None:
    """A computed count feature over the same window and rows as `spec`: a row with a positive
    count had inputs, so its NULL comes from missing values, not from an empty window."""
    for other in catalog.computed():
        if (other.agg == "count" and other.window_days == spec.window_days and other.source == spec.source
                and (other.filter_sql or None) == (spec.filter_sql or None)):
            return other
    return None


def _by_diagnosis(
    diagnosis: Diagnosis, alert: AlertRecord, stats: dict[str, Any], spec: FeatureSpec, catalog: Catalog,
    s: RuleSettings,
) -> list[tuple[patches.Patch, str]]:
    feature, version, dtype = alert.feature, int(alert.baseline_version), spec.dtype
    why, sev, at_least = alert.evidence, alert.type_severities, alert.at_least
    worst = max(sev.values(), key=severity_rank) if sev else alert.severity
    if severity_rank(worst) < severity_rank(s.min_severity):
        return []

    out: list[tuple[patches.Patch, str]] = []
    if diagnosis is Diagnosis.POPULATION_SHIFT:
        out.append((patches.RequestRetrain(feature=feature, baseline_version=version), worst))
        out.append((patches.RefreshBaseline(feature=feature, baseline_version=version), worst))
    elif diagnosis is Diagnosis.TAIL_CONTAMINATION:
        lo, hi = _num(stats.get("min_value")), _num(stats.get("max_value"))
        if lo is not None and hi is not None:
            # Bounds at the baseline's own extremes, so no value the baseline saw can change; the
            # side that is not contaminated opens up to the declared range where there is one.
            exp = spec.expectations
            if why.get("tail", "upper") == "upper" and exp.min is not None and exp.min <= lo:
                lo = exp.min
            elif why.get("tail") == "lower" and exp.max is not None and exp.max >= hi:
                hi = exp.max
            if dtype is DType.INT:
                lo, hi = math.floor(lo), math.ceil(hi)
            out.append((patches.Clip(feature=feature, baseline_version=version, lower=lo, upper=hi), worst))
    elif diagnosis is Diagnosis.MISSING_DATA:
        count = companion_count(spec, catalog)
        median = _num(stats.get("p50"))
        if spec.agg in ("avg", "min", "max", "stddev") and count is not None and median is not None:
            median = math.floor(median + 0.5) if dtype is DType.INT else median
            out.append((patches.ImputeMedian(feature=feature, baseline_version=version, median=median,
                                       when_rows_in=count.name, min_rows=2 if spec.agg == "stddev" else 1), worst))
        shifts = [sev[t] for t in SHIFTS if at_least(t, s.model_min_severity)]
        if shifts:
            out.append((patches.RequestRetrain(feature=feature, baseline_version=version), max(shifts, key=severity_rank)))
    elif diagnosis is Diagnosis.TYPE_OR_SCHEMA:
        if T.SCHEMA_CHANGE in sev:
            out.append((patches.Cast(feature=feature, baseline_version=version, to=dtype.value), sev[T.SCHEMA_CHANGE]))
        for f in sorted({f["source_file"] for f in why.get("schema_files", [])})[:3]:
            out.append((patches.ExcludeSource(feature=feature, baseline_version=version, source_file=f), worst))
    elif diagnosis is Diagnosis.SINGLE_SOURCE and why.get("source_file"):
        out.append((patches.ExcludeSource(feature=feature, baseline_version=version, source_file=why["source_file"]), worst))
    broken = _broken(alert, s)
    if broken:
        out.append((patches.DisableFeature(feature=feature, baseline_version=version),
                    max((sev[t] for t in broken), key=severity_rank)))
    return out


def _broken(alert: AlertRecord, s: RuleSettings) -> list[DriftType]:
    """The drift types that say the feature is broken (disable_feature): STALE or SCHEMA_CHANGE at
    `disable_min_severity`, or a null spike at least `disable_null_rate_delta` large."""
    broken = [t for t in (T.STALE, T.SCHEMA_CHANGE) if alert.at_least(t, s.disable_min_severity)]
    null_delta = alert.metrics.get("null_rate_delta") or 0.0
    # NULLs by definition (diagnosed population_shift: entities without a qualifying row) are no
    # broken feature.
    by_definition = alert.diagnosis is Diagnosis.POPULATION_SHIFT
    if (alert.at_least(T.NULL_SPIKE, s.disable_min_severity) and null_delta >= s.disable_null_rate_delta
            and not by_definition):
        broken.append(T.NULL_SPIKE)
    return broken


def _patches_for(
    alert: AlertRecord, stats: dict[str, Any], spec: FeatureSpec, s: RuleSettings, catalog: Catalog,
) -> list[tuple[patches.Patch, str]]:
    """(patch, the severity of the drift that calls for it) pairs for one alert: by its diagnosis,
    stored or derived (a record without one names no drift type, so nothing is proposed)."""
    if alert.diagnosis is None:
        return []
    return _by_diagnosis(alert.diagnosis, alert, stats, spec, catalog, s)


def _derived_why(alert: AlertRecord) -> str | None:
    """What a reviewer reads for a diagnosis derived at parse time (no stored evidence)."""
    if not alert.derived:
        return None
    return (f"derived from the drift types {alert.drift_types_text} (a row written before diagnoses "
            "existed)")


def records(alerts: Sequence[AlertRecord | Mapping[str, Any]], skipped: list[str]) -> list[AlertRecord]:
    """The alerts as records: a drift_alerts row (a dict) is parsed (AlertRecord.from_row); a row
    that does not parse is reported in `skipped` with what and where, and the others go on."""
    out = []
    for a in alerts:
        if isinstance(a, AlertRecord):
            out.append(a)
            continue
        try:
            out.append(AlertRecord.from_row(a))
        except AlertRowError as exc:
            skipped.append(f"{exc}; no patch proposed")
    return out


def propose(
    alerts: Sequence[AlertRecord | Mapping[str, Any]],
    baseline: dict[tuple[int, str], dict[str, Any]],
    catalog: Catalog,
    settings: RuleSettings | None = None,
) -> Proposal:
    """Candidates for `alerts` (typed records, or drift_alerts rows as dicts, parsed here).
    `baseline` maps (baseline_version, feature) to that version's stats (p01, p50, p99, ...).
    Alerts that cannot be acted on (a row that does not parse, unknown or retired feature, no
    baseline stats, a patch that fails validation) are skipped with a reason, so one bad row does
    not hide the others. Duplicates (same id) are dropped."""
    s = settings or RuleSettings()
    result = Proposal()
    seen: set[str] = set()
    for alert in sorted(records(alerts, result.skipped), key=lambda a: (a.feature, str(a.alert_date))):
        feature = alert.feature
        if severity_rank(alert.severity) < severity_rank(s.min_severity):
            continue
        try:
            spec = catalog.get(feature)
        except KeyError:
            result.skipped.append(f"{feature!r}: not in the catalog; no patch proposed")
            continue
        if not spec.computed:
            result.skipped.append(f"{feature}: retired; no patch proposed")
            continue
        if alert.baseline_version is None:
            result.skipped.append(f"{feature}: the alert of {alert.alert_date} has no baseline_version; "
                                  "no patch proposed")
            continue
        stats = baseline.get((alert.baseline_version, feature), {})
        try:
            found = _patches_for(alert, stats, spec, s, catalog)
            for patch, _ in found:
                patch.validate(catalog)
        except patches.PatchValidationError as exc:
            result.skipped.append(str(exc))
            continue
        types = alert.drift_types_text
        if not found:
            result.skipped.append(
                f"{feature}: {types or 'no drift types'} ({alert.severity}) "
                "has no applicable patch" + ("" if stats else " (no baseline stats)")
            )
        why = alert.evidence
        evidence = {
            "alert_date": str(alert.alert_date),
            **({"diagnosis": str(alert.diagnosis), "why": why.get("why") or _derived_why(alert),
                "headline": why.get("headline"), "contributors": why.get("contributors", []),
                "files": why.get("files", [])}
               if alert.diagnosis else {}),
            **({"diagnosis_derived": True} if alert.derived else {}),
            "severity": alert.severity,
            "drift_types": types,
            "baseline_version": alert.baseline_version,
            **{m: alert.metrics[m] for m in EVIDENCE_METRICS if m in alert.metrics},
            "baseline": {k: _num(stats.get(k)) for k in BASELINE_STATS if k in stats},
        }
        for patch, severity in found:
            if patch.patch_id in seen:
                continue
            seen.add(patch.patch_id)
            result.candidates.append(Candidate(patch, severity, types, alert.alert_date, evidence))
    return result
