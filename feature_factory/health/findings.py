"""Typed findings: what `evaluate` reports, one per subject and problem, each with a severity and
a stable key (kind, subject, onset) so a sensor notifies once per finding however often it is
re-judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(str, Enum):
    SLOWDOWN = "slowdown"  # a step sustained slower than its baseline
    FAILURE_RATE = "failure_rate"  # a job failing (in a row, or too often in its window)
    VOLUME_DROP = "volume_drop"  # rows per partition well below the source's normal
    VOLUME_SPIKE = "volume_spike"
    LATE = "late"  # landing files arriving later than usual
    STALE = "stale"  # an asset not materialized on its cadence (a stopped schedule)
    GROWTH = "growth"  # the warehouse projected to pass its storage threshold
    FORECAST = "forecast"  # a job's runtime projected to reach its budget


class Severity(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self) + 1


@dataclass(frozen=True)
class Finding:
    kind: Kind
    subject: str  # job, job/step, asset or source, or "warehouse"
    metric: str  # the metric row of pipeline_health it concerns (runtime_s, rows, ...)
    severity: Severity
    since: str  # onset: the first run / partition / time of the episode (part of the key)
    message: str
    value: float | None = None
    expected: float | None = None
    details: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Stable while the episode lasts: the same slowdown re-judged tomorrow has the same key."""
        return f"{self.kind.value}:{self.subject}:{self.since}"

    def as_alert(self) -> dict:
        """What the notifier receives."""
        return {"kind": "pipeline_health", "finding": self.kind.value, "key": self.key, "subject": self.subject,
                "metric": self.metric, "severity": self.severity.value, "since": self.since,
                "message": self.message, "value": self.value, "expected": self.expected, **self.details}


def severity_by_ratio(ratio: float, steps: tuple[float, float, float] = (1.5, 2.0, 4.0)) -> Severity:
    """LOW below steps[0]; MEDIUM from it; HIGH from steps[1]; CRITICAL from steps[2]."""
    if ratio >= steps[2]:
        return Severity.CRITICAL
    if ratio >= steps[1]:
        return Severity.HIGH
    if ratio >= steps[0]:
        return Severity.MEDIUM
    return Severity.LOW
