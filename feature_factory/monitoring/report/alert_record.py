"""One `drift_alerts` row as remediation reads it: a typed record instead of a dict of strings
(no Dagster).

The table keeps its columns and values exactly (a user-facing contract: comma-joined
`drift_types`, JSON `type_severities` and `diagnosis_evidence`); `AlertRecord.from_row` parses
them once, strictly: a value that is not what the column holds (a drift type, diagnosis or
severity that does not exist, JSON that does not parse or is not an object) is an `AlertRowError`
naming the table, the feature, the day and the column, never silently read as "nothing".

A row written before diagnoses existed (no `diagnosis`) gets one here, derived from its drift types
and measurements (explain/diagnosis.from_types; `derived` says so), so remediation has one rule set.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from feature_factory.monitoring.explain.diagnosis import from_types
from feature_factory.monitoring.kinds import Diagnosis, DriftType, drift_types, joined
from feature_factory.monitoring.detection.thresholds import SEVERITIES, severity_rank

# The metric columns a record carries (drift_alerts' measurements).
METRICS = ("psi", "ks", "wasserstein_norm", "js_distance", "mean_shift_std", "std_ratio", "null_rate_delta",
           "input_null_rate_delta", "out_of_range_share", "out_of_range_excess")


class AlertRowError(ValueError):
    """A drift_alerts row whose column does not hold what its contract says."""


def number(value: Any) -> float | None:
    """A finite float, or None for a missing measurement (None, NaN, infinite)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


@dataclass(frozen=True)
class AlertRecord:
    feature: str
    alert_date: dt.date | None
    baseline_version: int | None
    severity: str  # the row's: its worst drift type's
    drift_types: tuple[DriftType, ...]
    # Each drift type's own severity (rows written before per-type severities: the row's).
    type_severities: Mapping[DriftType, str]
    # Stored by monitoring, or (`derived`) derived from the drift types of a row written before
    # diagnoses existed; None only when the row names no drift type.
    diagnosis: Diagnosis | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    derived: bool = False  # the diagnosis was derived at parse time, not stored (module docstring)

    @property
    def drift_types_text(self) -> str:
        """The stored form (comma-joined), as candidates carry it."""
        return joined(self.drift_types)

    def at_least(self, kind: DriftType, level: str) -> bool:
        """Whether drift type `kind` is in the row at `level` or worse."""
        return kind in self.type_severities and severity_rank(self.type_severities[kind]) >= severity_rank(level)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], table: str = "drift_alerts") -> AlertRecord:
        """Parse one row (a dict of its columns); AlertRowError naming what and where otherwise."""
        feature = row.get("feature")
        where = f"{table} row of feature {feature!r} on {row.get('alert_date')}"
        if not isinstance(feature, str) or not feature:
            raise AlertRowError(f"{where}: column feature is empty")

        def bad(column: str, why: str) -> AlertRowError:
            return AlertRowError(f"{where}: column {column} {why}")

        severity = str(row.get("severity") or "none").lower()
        if severity not in SEVERITIES:
            raise bad("severity", f"is {row.get('severity')!r}, not one of {', '.join(SEVERITIES)}")
        try:
            types = drift_types(row.get("drift_types"), f"{where}: column drift_types")
        except ValueError as exc:
            raise AlertRowError(str(exc)) from None
        per_type = _json_object(row.get("type_severities"), bad, "type_severities")
        if per_type:
            found: dict[DriftType, str] = {}
            for name, level in per_type.items():
                try:
                    kind = DriftType(str(name).upper())
                except ValueError:
                    raise bad("type_severities", f"names {name!r}, not a drift type") from None
                if str(level).lower() not in SEVERITIES:
                    raise bad("type_severities", f"gives {name} the severity {level!r}, not one of "
                                                 f"{', '.join(SEVERITIES)}")
                found[kind] = str(level).lower()
            severities = {t: found.get(t, "none") for t in types}
        else:  # a row written before per-type severities: each type at the row's severity
            severities = {t: severity for t in types}
        raw_diagnosis = row.get("diagnosis")
        try:
            diagnosis = Diagnosis(str(raw_diagnosis)) if raw_diagnosis else None
        except ValueError:
            raise bad("diagnosis", f"is {raw_diagnosis!r}, not one of {', '.join(Diagnosis)}") from None
        version = row.get("baseline_version")
        try:
            version = None if version is None else int(version)
        except (TypeError, ValueError):
            raise bad("baseline_version", f"is {version!r}, not a version number") from None
        day = row.get("alert_date")
        if day is not None and not isinstance(day, dt.date):
            try:
                day = dt.date.fromisoformat(str(day)[:10])
            except ValueError:
                raise bad("alert_date", f"is {day!r}, not a date") from None
        metrics = {m: number(row.get(m)) for m in METRICS if m in row}
        derived = diagnosis is None
        if derived:
            diagnosis = from_types(severities, metrics)
        return cls(feature, day, version, severity, types, severities, diagnosis,
                   _json_object(row.get("diagnosis_evidence"), bad, "diagnosis_evidence"), metrics,
                   derived and diagnosis is not None)


def _json_object(raw: Any, bad, column: str) -> dict[str, Any]:
    """A JSON object column as a dict ({} when empty); anything else is an error naming the column."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise bad(column, f"is not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise bad(column, f"holds {type(parsed).__name__}, not a JSON object")
    return parsed
