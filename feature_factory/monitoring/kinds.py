"""The names monitoring hands to remediation, as enums: drift types and diagnoses (no Dagster).

Their values are the strings stored in `drift_alerts` (`drift_types`, `type_severities`,
`diagnosis`) and read by users and policy files, so they never change. Both are `StrEnum`s: a
member equals its string (`DriftType.OUT_OF_RANGE == "OUT_OF_RANGE"`), so stored rows, JSON and
policy text compare with them directly, and `DriftType("OUT_OF_RANGE")` turns a stored value back
into a member (a ValueError naming the value otherwise).
"""

from __future__ import annotations

from enum import StrEnum


class DriftType(StrEnum):
    """What moved (monitoring/detection/drift.py has each type's effect size and noise test)."""

    MEAN_SHIFT = "MEAN_SHIFT"
    VARIANCE_CHANGE = "VARIANCE_CHANGE"
    NULL_SPIKE = "NULL_SPIKE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    DISTRIBUTION_SHIFT = "DISTRIBUTION_SHIFT"
    SCHEMA_CHANGE = "SCHEMA_CHANGE"
    STALE = "STALE"
    POPULATION_MIX = "POPULATION_MIX"
    # A slow decline or growth of a count/sum feature's total over weeks (volume_trend.py).
    SUSTAINED_TREND = "SUSTAINED_TREND"


class Diagnosis(StrEnum):
    """Why it moved (monitoring/explain/diagnosis.py), which decides the fix (remediation/rules.py)."""

    TAIL_CONTAMINATION = "tail_contamination"
    POPULATION_SHIFT = "population_shift"
    MISSING_DATA = "missing_data"
    TYPE_OR_SCHEMA = "type_or_schema"
    VOLUME_OR_STALENESS = "volume_or_staleness"
    SINGLE_SOURCE = "single_source"


def drift_types(text: str | None, where: str = "drift_types") -> tuple[DriftType, ...]:
    """The members of a stored comma-joined list (`OUT_OF_RANGE,NULL_SPIKE`), in its order; a
    value that is no drift type is a ValueError naming it and `where`."""
    out = []
    for part in str(text or "").split(","):
        name = part.strip().upper()
        if not name:
            continue
        try:
            out.append(DriftType(name))
        except ValueError:
            raise ValueError(f"{where}: {part.strip()!r} is not a drift type "
                             f"(one of {', '.join(DriftType)})") from None
    return tuple(dict.fromkeys(out))


def joined(types) -> str:
    """The stored form of a list of drift types: comma-joined values."""
    return ",".join(str(DriftType(t)) for t in types)
