"""Feature specs: the declarative unit of the catalog.

A feature is declared once (in `features.yaml`) and everything else derives from it: the snapshot
SQL, the online table's columns, asset checks, monitoring, patch validation and model inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Lifecycle(str, Enum):
    DRAFT = "draft"  # computed, not served, not used for training
    ACTIVE = "active"  # computed, served, trained on
    DEPRECATED = "deprecated"  # computed and served, marked in the UI
    RETIRED = "retired"  # neither computed nor served

    @property
    def computed(self) -> bool:
        return self is not Lifecycle.RETIRED

    @property
    def served(self) -> bool:
        return self in (Lifecycle.ACTIVE, Lifecycle.DEPRECATED)

    @property
    def trainable(self) -> bool:
        return self in (Lifecycle.ACTIVE, Lifecycle.DEPRECATED)


class DType(str, Enum):
    INT = "int"
    FLOAT = "float"

    @property
    def sql_type(self) -> str:
        return "BIGINT" if self is DType.INT else "DOUBLE"


@dataclass(frozen=True)
class Expectations:
    """Acceptable values; each becomes an asset check on `customer_features`."""

    min: float | None = None
    max: float | None = None
    max_null_rate: float | None = None


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    description: str
    owner: str
    dtype: DType
    lifecycle: Lifecycle
    # The SQL aggregate over `raw_events` rows inside the window (portable SQL; columns of
    # raw_events only). `None` for derived features computed by the snapshot builder itself
    # (days_since_last_event).
    aggregate: str | None
    window_days: int
    # What an empty window yields: 0 for counts and sums, NULL for averages/stddev/min/max.
    empty_value: float | None = None
    entity: str = "customer"
    expectations: Expectations = field(default_factory=Expectations)
    tags: tuple[str, ...] = ()
    # raw_events columns the aggregate reads (derived by the loader with sqlglot; for lineage).
    source_columns: tuple[str, ...] = ()
    # The declarative form `aggregate` was rendered from; the snapshot builder decomposes it into
    # per-customer-day partials so one statement can compute many snapshot days.
    agg: str | None = None  # count | sum | avg | stddev | min | max | days_since_last_event
    value_sql: str | None = None  # scalar expression over raw_events columns (None: count rows)
    filter_sql: str | None = None  # boolean expression over raw_events columns (None: all rows)

    @property
    def computed(self) -> bool:
        return self.lifecycle.computed

    @property
    def served(self) -> bool:
        return self.lifecycle.served

    @property
    def trainable(self) -> bool:
        return self.lifecycle.trainable
