"""Feature specs: the declarative unit of the catalog.

A feature is declared once (in `features.yaml`) and everything else derives from it: the snapshot
SQL, the online table's columns, asset checks, monitoring, patch validation and model inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from feature_factory.tables import RAW_EVENTS


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
class Part:
    """One side of a `ratio` feature: a count or sum over one source's rows in the window."""

    source: str
    table: str  # the source's raw table
    key: str  # its column holding the customer key
    agg: str  # count | sum
    value_sql: str | None = None
    filter_sql: str | None = None
    columns: tuple[str, ...] = ()  # columns of `table` it reads


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
    # Days the window covers (D-k+1 .. D); None: the whole relationship (`window_days: all`), kept
    # incrementally from a per-entity state (features/snapshot_sql.py), never a rescan of history.
    window_days: int | None
    # What an empty window yields: 0 for counts and sums, NULL for averages/stddev/min/max.
    empty_value: float | None = None
    entity: str = "customer"
    expectations: Expectations = field(default_factory=Expectations)
    tags: tuple[str, ...] = ()
    pii: bool = False  # personal data: the feature server masks it for keys without the pii scope
    # raw_events columns the aggregate reads (derived by the loader with sqlglot; for lineage).
    source_columns: tuple[str, ...] = ()
    # The declarative form `aggregate` was rendered from; the snapshot builder decomposes it into
    # per-customer-day partials so one statement can compute many snapshot days.
    agg: str | None = None  # count | sum | avg | stddev | min | max | days_since_last_event | ratio
    #                         (lifetime only:) count_days | days_since_first | days_since_last
    value_sql: str | None = None  # scalar expression over raw_events columns (None: count rows)
    filter_sql: str | None = None  # boolean expression over raw_events columns (None: all rows)
    # The source whose rows the aggregate reads (sources.yaml) and its raw table; columns above are
    # that table's. `events` (raw_events) unless the entry names another `source:`.
    source: str = "events"
    source_table: str = RAW_EVENTS.name
    source_key: str = "customer_id"  # the source's column holding the customer key
    # agg == "ratio": numerator / denominator, each over its own source (value_sql, filter_sql and
    # source_columns are then None/empty: the feature is no single aggregate of one table's rows).
    numerator: Part | None = None
    denominator: Part | None = None
    # Lifetime count/sum/count_days: the value per this many days of the entity's relationship
    # (value * per_days / (days since its first event + 1)), e.g. purchase days per 30 days.
    per_days: int | None = None
    # Why drift monitoring does not judge this feature (None: it is judged). Lifetime aggregates
    # and tenure grow as every entity ages, so a distribution shift is their nature, not a drift.
    drift_exclude: str | None = None

    @property
    def lifetime(self) -> bool:
        """Computed over the whole relationship (all events up to the snapshot day)."""
        return self.window_days is None

    @property
    def window_label(self) -> str:
        return "lifetime" if self.window_days is None else f"{self.window_days}d"

    @property
    def drift_watched(self) -> bool:
        return self.drift_exclude is None

    @property
    def over_raw_events(self) -> bool:
        """An aggregate of raw_events rows only: what attribution, input monitoring, root cause and
        the exclude_source patch (which read raw_events) can recompute or explain. Not a lifetime
        feature: recomputing it would rescan the whole history."""
        return self.source == "events" and self.agg != "ratio" and not self.lifetime

    @property
    def reads(self) -> tuple[tuple[str, str], ...]:
        """(raw table, column) pairs the feature reads, event_date included (column lineage)."""
        if self.agg == "ratio":
            parts = [p for p in (self.numerator, self.denominator) if p]
            return tuple(sorted({(p.table, c) for p in parts for c in (*p.columns, "event_date")}))
        return tuple((self.source_table, c) for c in sorted({*self.source_columns, "event_date"}))

    @property
    def computed(self) -> bool:
        return self.lifecycle.computed

    @property
    def served(self) -> bool:
        return self.lifecycle.served

    @property
    def trainable(self) -> bool:
        return self.lifecycle.trainable
