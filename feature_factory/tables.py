"""Table contracts: every user-facing table, once, with its columns; imported by readers and writers.

A table's name is its asset's name and a data contract (users query it, the UI shows it), so it is
written once, here, in the core layer every domain may import. Each contract says which domain
owns (writes) the table and lists its columns with their SQL type and what they mean: the DDL
(`Table.ddl`), the typed column list for portable writes (`Table.schema`) and the asset's
`dagster/column_schema` with its column descriptions (`Table.column_schema`) all come from it.

Tables whose middle columns come from the feature catalog (customer_features, its online table,
training_set) list their fixed columns here and say after which one the feature columns go
(`features_after`); the asset passes the catalog's columns in. `raw_events` and
`quarantined_events` keep their column lists beside the landing contract
(`events/contract.py`, which an earlier domain cannot import from here): their contracts carry the
name, owner and key only. Internal state tables (`asset=False`: ingestion's landing_files and
landing_rows, attribution's caches, the remediation lock) are contracts too, so their columns are
described once and their names are imported, not retyped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # portable SQL type (both backends accept it in DDL and CAST)
    description: str


@dataclass(frozen=True)
class Table:
    """A warehouse table; an asset of the same name unless `asset` is False (internal state)."""

    name: str
    owner: str  # the domain that writes it
    description: str
    columns: tuple[Column, ...] = ()
    features_after: str | None = None  # catalog feature columns follow this column
    asset: bool = True

    def __str__(self) -> str:  # f"SELECT * FROM {tables.DRIFT_ALERTS}"
        return self.name

    # Dagster is imported where it is used, so the contracts (and the Dagster-free modules that
    # name tables: labels, rules, ...) import without it.
    @property
    def key(self) -> dg.AssetKey:
        import dagster as dg

        return dg.AssetKey(self.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def schema(self) -> list[tuple[str, str]]:
        """(name, SQL type) pairs, in order: what portable writes cast their rows to."""
        return [(c.name, c.type) for c in self.columns]

    @property
    def descriptions(self) -> dict[str, str]:
        return {c.name: c.description for c in self.columns}

    def ddl(self) -> str:
        """The column list of a CREATE TABLE: `name TYPE, ...`."""
        if not self.columns:
            raise ValueError(f"table contract {self.name!r} lists no columns: its DDL lives with its owner")
        return ", ".join(f"{c.name} {c.type}" for c in self.columns)

    def column_schema(
        self,
        features: Sequence[dg.TableColumn] = (),
        live: Iterable[tuple[str, str]] | None = None,
        described: Mapping[str, str] | None = None,
    ) -> dg.TableSchema:
        """The asset's `dagster/column_schema`: the contract's columns with their descriptions.

        features: the catalog's columns, placed after `features_after`.
        live: the table's columns as the warehouse has them (name, type), for tables that may hold
        columns the contract does not list yet; they keep the contract's description where it has one.
        described: run-specific wording for some columns (e.g. the configured TTL).
        """
        import dagster as dg

        described = {**self.descriptions, **(described or {})}
        if live is not None:
            fixed = [dg.TableColumn(n, t.lower(), description=described.get(n)) for n, t in live]
        else:
            fixed = [dg.TableColumn(c.name, c.type.lower(), description=described.get(c.name)) for c in self.columns]
        if not features:
            return dg.TableSchema(columns=fixed)
        if self.features_after is None:
            raise ValueError(f"table contract {self.name!r} has no feature columns")
        at = [c.name for c in fixed].index(self.features_after) + 1
        return dg.TableSchema(columns=[*fixed[:at], *features, *fixed[at:]])


def _cols(*triples: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*t) for t in triples)


# --- events -------------------------------------------------------------------------------------
# Columns: events/contract.py (RAW_EVENTS_COLUMNS, QUARANTINE_COLUMNS).
RAW_EVENTS = Table("raw_events", "events", "Validated events, one row per event, partitioned by day.")
QUARANTINED_EVENTS = Table("quarantined_events", "events", "Rejected landing rows, each with its reason.")
# Internal ingestion state (no assets), written by events/staging.py.
LANDING_FILES = Table(
    "landing_files", "events", "One row per ingested landing file: fingerprint, rows, event days.",
    _cols(
        ("source_file", "VARCHAR", "The file's path relative to the landing folder."),
        ("format", "VARCHAR", "csv or parquet (empty when the file could not be read)."),
        ("size_bytes", "BIGINT", "File size when it was last seen."),
        ("mtime_ns", "BIGINT", "Modification time (ns) when it was last seen."),
        ("file_fingerprint", "VARCHAR", "Content hash of the file version staged."),
        ("staging_key", "VARCHAR", "Hash of the settings that change how a file is read; another key re-reads it."),
        ("status", "VARCHAR", "staged, quarantined (whole file rejected) or schema_failed."),
        ("detail", "VARCHAR", "Why a file was rejected, in words."),
        ("file_columns", "VARCHAR", "The file's own column names (JSON list)."),
        ("rows_staged", "BIGINT", "Rows of the file in landing_rows."),
        ("min_event_date", "DATE", "First event day among its rows."),
        ("max_event_date", "DATE", "Last event day among its rows."),
        ("staged_at", "TIMESTAMP", "When the file version was staged (UTC)."),
        ("stat_key", "VARCHAR", "Size + mtime key: the content hash is recomputed only when it changes."),
    ),
    asset=False,
)
LANDING_ROWS = Table(
    "landing_rows", "events", "Every staged landing row as text, with its parsed values and row-level reason.",
    _cols(
        ("source_file", "VARCHAR", "The landing file the row came from."),
        ("file_fingerprint", "VARCHAR", "Content hash of that file version."),
        ("source_row", "BIGINT", "1-based data row in the file."),
        ("event_id", "VARCHAR", "Raw text as landed."),
        ("customer_id", "VARCHAR", "Raw text as landed."),
        ("event_type", "VARCHAR", "Raw text as landed."),
        ("channel", "VARCHAR", "Raw text as landed."),
        ("amount", "VARCHAR", "Raw text as landed."),
        ("event_ts", "VARCHAR", "Raw text as landed."),
        ("amount_value", "DOUBLE", "amount parsed (NULL when it does not parse)."),
        ("event_ts_value", "TIMESTAMP", "event_ts parsed to UTC (NULL when it does not parse)."),
        ("event_date", "DATE", "Partition day; NULL when the row belongs to no day."),
        ("row_reason", "VARCHAR", "Row-level quarantine reason code, NULL for a valid row."),
        ("staged_at", "TIMESTAMP", "When the file was staged (UTC)."),
        ("row_detail", "VARCHAR", "Explanation the reader gave for a row error (CSV parse), else NULL."),
    ),
    asset=False,
)
LANDING_SCHEMA_DRIFT = Table(
    "landing_schema_drift", "events", "Schema findings per source and landing file (what the schema-drift policy did).",
    _cols(
        ("source_file", "VARCHAR", "The landing file."),
        ("file_fingerprint", "VARCHAR", "The file's content fingerprint when it was read."),
        ("kind", "VARCHAR", "extra_column, missing_column or changed_type."),
        ("column_name", "VARCHAR", "The column concerned."),
        ("detail", "VARCHAR", "What was found, in words."),
        ("action", "VARCHAR", "What the policy did: auto_adapt, alert or fail."),
        ("severity", "VARCHAR", "info, warning or error."),
        ("detected_at", "TIMESTAMP", "When the file was read (UTC)."),
        ("source", "VARCHAR", "The source (sources file) whose landing file it is: events, support_tickets, ... "
         "(NULL: events, recorded before this column)."),
    ),
    asset=False,
)

# --- one entity's tables ----------------------------------------------------------------------
@dataclass(frozen=True)
class EntityNames:
    """The names of one entity's tables (the sources file's `entities: <name>: tables:`), which its
    contracts below are built from. The defaults are the customer's, the churn example's data
    contract; another entity's default to `<entity>_features`, ... (`EntityNames.derived`)."""

    entity: str = "customer"
    features: str = "customer_features"
    online: str = "customer_features_online"
    online_store: str = "customer_features_online_store"
    stats: str = "feature_stats"
    baseline: str = "feature_stats_baseline"
    alerts: str = "drift_alerts"
    drift_report: str = "drift_report"
    patch_candidates: str = "patch_candidates"
    patch_log: str = "feature_patch_log"
    patches_active: str = "feature_patches_active"
    # Root-cause attribution's caches (monitoring/explain/attribution.py, `attribution_caches` below).
    first_seen: str = "customer_first_seen"
    first_seen_days: str = "customer_first_seen_days"
    attribution_baseline: str = "attribution_baseline"
    # Tables named after their entity say so in their descriptions ("(entity product: product_features)");
    # tables whose names were declared (the customer's) read as the contract always did.
    qualified: bool = False

    ROLES = ("features", "online", "online_store", "stats", "baseline", "alerts", "drift_report",
             "patch_candidates", "patch_log", "patches_active", "first_seen", "first_seen_days",
             "attribution_baseline")

    @classmethod
    def derived(cls, entity: str, **declared: str) -> "EntityNames":
        """`entity`'s names: each role not `declared` named after the entity (product_features,
        product_feature_stats, product_drift_alerts, ...); qualified unless every role is declared."""
        default = {"features": f"{entity}_features", "online": f"{entity}_features_online",
                   "online_store": f"{entity}_features_online_store", "stats": f"{entity}_feature_stats",
                   "baseline": f"{entity}_feature_stats_baseline", "alerts": f"{entity}_drift_alerts",
                   "drift_report": f"{entity}_drift_report", "patch_candidates": f"{entity}_patch_candidates",
                   "patch_log": f"{entity}_feature_patch_log", "patches_active": f"{entity}_feature_patches_active",
                   "first_seen": f"{entity}_first_seen", "first_seen_days": f"{entity}_first_seen_days",
                   "attribution_baseline": f"{entity}_attribution_baseline"}
        return cls(entity, **{**default, **declared}, qualified=set(declared) != set(cls.ROLES))

    def all(self) -> tuple[str, ...]:
        return tuple(getattr(self, r) for r in self.ROLES)

    def said(self, description: str) -> str:
        """A contract's description, naming the entity when its tables are named after it."""
        if not self.qualified:
            return description
        return f"{description.rstrip('.')} (entity {self.entity}: {self.features})."


CUSTOMER_NAMES = EntityNames()


# --- features -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)  # one contract object per entity
def features_table(n: EntityNames = CUSTOMER_NAMES, key: str = "customer_id") -> Table:
    """`<entity>_features`: one row per key and snapshot day; the catalog's features follow snapshot_date."""
    who = n.entity.replace("_", " ")
    return Table(
        n.features, "features", f"Daily feature snapshot per {who} (unpatched).",
        _cols(
            (key, "VARCHAR", f"{who.capitalize()} (seen within the last 90 days)."),
            ("snapshot_date", "DATE", "Features as of the END of this day."),
            ("computed_at", "TIMESTAMP", "When the run computed the row (UTC)."),
        ),
        features_after="snapshot_date",
    )


@functools.lru_cache(maxsize=64)  # one contract object per entity
def online_table(n: EntityNames = CUSTOMER_NAMES, key: str = "customer_id") -> Table:
    """`<entity>_features_online`: the newest snapshot per key, read through the patch layer."""
    who = n.entity.replace("_", " ")
    return Table(
        n.online, "features", f"Latest snapshot per {who}, read through the patch layer.",
        _cols(
            (key, "VARCHAR", f"{who.capitalize()} (one row each: their newest snapshot)."),
            ("snapshot_date", "DATE", "The snapshot the row comes from."),
            ("snapshot_age_days", "BIGINT", "Days from snapshot_date to the reference day."),
            ("is_stale", "BOOLEAN", "snapshot_age_days > ttl_days."),
            ("computed_at", "TIMESTAMP", "When the snapshot row was computed."),
            ("built_at", "TIMESTAMP", "When this table was built."),
        ),
        features_after="snapshot_date",
    )


CUSTOMER_FEATURES = features_table(CUSTOMER_NAMES, "customer_id")
CUSTOMER_FEATURES_ONLINE = online_table(CUSTOMER_NAMES, "customer_id")

# --- monitoring ---------------------------------------------------------------------------------
_QUANTILES = ("p01", "p05", "p25", "p50", "p75", "p95", "p99")  # monitoring/summary.QUANTILE_COLUMNS

@functools.lru_cache(maxsize=64)  # one contract object per entity
def stats_table(n: EntityNames = CUSTOMER_NAMES) -> Table:
    """Per feature and day statistics of the entity's features."""
    return Table(
        n.stats, "monitoring", n.said(f"Per feature and day statistics of {n.features}."),
        _cols(
            ("feature", "VARCHAR", f"The {n.features} column."),
            ("stats_date", "DATE", "The snapshot day (the partition)."),
            ("row_count", "BIGINT", "Snapshot rows that day."),
            ("value_count", "BIGINT", "Rows with a non-NULL value."),
            ("null_count", "BIGINT", "Rows with NULL."),
            ("null_rate", "DOUBLE", "null_count / row_count."),
            ("zero_rate", "DOUBLE", "Share of values equal to 0."),
            ("mean", "DOUBLE", "Mean of the values."),
            ("stddev", "DOUBLE", "Sample standard deviation."),
            ("kurtosis", "DOUBLE", "Excess kurtosis (heavy tails show here first)."),
            ("min_value", "DOUBLE", "Smallest value."),
            ("max_value", "DOUBLE", "Largest value."),
            *((q, "DOUBLE", f"{int(q[1:])}th percentile.") for q in _QUANTILES),
            ("distinct_count", "BIGINT", "Distinct values."),
            ("out_of_range_count", "BIGINT", "Values outside the current baseline's [p01, p99] (NULL without one)."),
            ("above_range_count", "BIGINT", "Values above the baseline's p99 (NULL without a baseline)."),
            ("hist_counts", "VARCHAR", "JSON: counts over the baseline's frozen decile bins (NULL without one)."),
            ("quantile_grid", "VARCHAR", "JSON: grid_size evenly spaced quantiles (KS and Wasserstein use them)."),
            ("grid_size", "BIGINT", "Points in quantile_grid."),
            ("grid_rank_error", "DOUBLE", "The quantile sketch's bound on the grid's rank error (DKW; 0 when every row was used)."),
            ("input_rows", "BIGINT", "raw_events rows in the feature's window that carry its input value."),
            ("input_nulls", "BIGINT", "Of those, rows whose input value is NULL."),
            ("baseline_version", "BIGINT", "The baseline version the bins came from (NULL: none)."),
            ("computed_at", "TIMESTAMP", "When the row was computed (UTC)."),
        ),
    )


@functools.lru_cache(maxsize=64)  # one contract object per entity
def baseline_table(n: EntityNames = CUSTOMER_NAMES) -> Table:
    """Versioned reference statistics of the entity's features."""
    return Table(
        n.baseline, "monitoring", n.said("Versioned reference statistics per feature (one current version)."),
        _cols(
            ("baseline_version", "BIGINT", "Version number; each capture adds one."),
            ("is_current", "BOOLEAN", "True on the version drift is judged against."),
            ("window_start", "DATE", "First snapshot day of the window."),
            ("window_end", "DATE", "Last snapshot day of the window."),
            ("days", "BIGINT", "Days in the window."),
            ("captured_at", "TIMESTAMP", "When the version was captured (UTC)."),
            ("feature", "VARCHAR", f"The {n.features} column."),
            ("column_type", "VARCHAR", "Its SQL type at capture (a change later is a schema drift)."),
            ("row_count", "BIGINT", "Snapshot rows over the window."),
            ("value_count", "BIGINT", "Non-NULL values over the window."),
            ("null_rate", "DOUBLE", "NULL share over the window."),
            ("zero_rate", "DOUBLE", "Share of values equal to 0."),
            ("mean", "DOUBLE", "Mean over the window."),
            ("stddev", "DOUBLE", "Standard deviation over the window."),
            ("kurtosis", "DOUBLE", "Excess kurtosis over the window."),
            ("min_value", "DOUBLE", "Smallest value."),
            ("max_value", "DOUBLE", "Largest value."),
            *((q, "DOUBLE", f"{int(q[1:])}th percentile over the window.") for q in _QUANTILES),
            ("distinct_count", "BIGINT", "Distinct values."),
            ("input_null_rate", "DOUBLE", "NULL rate of the raw event values the feature aggregates."),
            ("out_of_range_share", "DOUBLE", "The window's own share outside the daily [p01, p99] it is judged by."),
            ("above_range_share", "DOUBLE", "Of that, the share above p99."),
            ("rows_per_day", "DOUBLE", "row_count / days (volume drift compares against it)."),
            ("noise_floor", "VARCHAR", "JSON: day-to-day spread of each metric within the window (alerts need more)."),
            ("bin_edges", "VARCHAR", "JSON: the frozen decile bin edges PSI and JS distance use."),
            ("hist_counts", "VARCHAR", "JSON: counts over those bins."),
            ("quantile_grid", "VARCHAR", "JSON: grid_size evenly spaced quantiles."),
            ("grid_size", "BIGINT", "Points in quantile_grid."),
            ("grid_rank_error", "DOUBLE", "The quantile sketch's bound on the grid's rank error (0 when exact)."),
            ("excluded_days", "VARCHAR", "JSON: days of the window left out (contamination findings, clipped days)."),
            ("carried_from", "BIGINT", "The version this row was copied from unchanged (a refresh of other "
             "features); NULL when captured by its own version."),
        ),
    )


@functools.lru_cache(maxsize=64)  # one contract object per entity
def alerts_table(n: EntityNames = CUSTOMER_NAMES) -> Table:
    """Per feature and day drift of the entity's features."""
    return Table(
        n.alerts, "monitoring", n.said("Per feature and day drift metrics, types and severity."),
        _cols(
            ("alert_date", "DATE", "The day judged (the partition)."),
            ("feature", "VARCHAR", f"The {n.features} column judged."),
            ("baseline_version", "BIGINT", f"The {n.baseline} version it was judged against."),
            ("psi", "DOUBLE", "Population stability index over the baseline's frozen decile bins."),
            ("ks", "DOUBLE", "Two-sample Kolmogorov-Smirnov statistic (from quantile grids)."),
            ("wasserstein_norm", "DOUBLE", "Wasserstein distance divided by the baseline's std (from quantile grids)."),
            ("js_distance", "DOUBLE", "Jensen-Shannon distance over the baseline's bins (0 same, 1 disjoint)."),
            ("mean_shift_std", "DOUBLE", "abs(mean - baseline mean) / baseline std."),
            ("std_ratio", "DOUBLE", "std / baseline std (1 = unchanged)."),
            ("null_rate_delta", "DOUBLE", "NULL rate minus the baseline's NULL rate (0.05 = 5 points more)."),
            ("out_of_range_share", "DOUBLE", "Share of values outside the baseline's [p01, p99]."),
            ("drift_types", "VARCHAR",
             "Comma-separated drift types at low or above (MEAN_SHIFT, OUT_OF_RANGE, ...); empty when none."),
            ("severity", "VARCHAR", "Worst drift type's severity: none, low, medium, high or critical."),
            ("created_at", "TIMESTAMP", "When the row was written (UTC)."),
            ("severity_rank", "BIGINT", "severity as a number: none 0, low 1, medium 2, high 3, critical 4."),
            ("type_severities", "VARCHAR", 'JSON: each drift type\'s own severity, e.g. {"MEAN_SHIFT": "high"}.'),
            ("out_of_range_excess", "DOUBLE",
             "Share outside [p01, p99] in the worse tail, beyond the baseline's own share there."),
            ("ks_error_bound", "DOUBLE", "How far the grid-based KS can be from the exact statistic."),
            ("wasserstein_error_bound", "DOUBLE", "How far the grid-based Wasserstein can be from the exact value."),
            ("current_rows", "BIGINT", "Rows of the feature on that day."),
            ("current_mean", "DOUBLE", "Mean on that day."),
            ("baseline_mean", "DOUBLE", "Mean over the baseline window."),
            ("current_null_rate", "DOUBLE", "NULL rate on that day."),
            ("baseline_null_rate", "DOUBLE", "NULL rate over the baseline window."),
            ("evidently_drift", "BOOLEAN",
             "Evidently's per-column verdict (NULL when no Evidently report was made that day)."),
            ("evidently_score", "DOUBLE", "Evidently's drift score for the column (its method's statistic or p-value)."),
            ("evidently_method", "VARCHAR", "The test Evidently chose for the column."),
            ("note", "VARCHAR", "Why something was not judged (too few values, ramp-up, no rows)."),
            ("input_null_rate_delta", "DOUBLE", "Change in the NULL rate of the raw event values the feature aggregates."),
            # Why it drifted (monitoring/explain/diagnosis.py, root_cause.py): NULL on rows without drift.
            ("diagnosis", "VARCHAR",
             "The likely cause of the drift: tail_contamination, population_shift, missing_data, "
             "type_or_schema, volume_or_staleness or single_source (NULL when not drifted)."),
            ("diagnosis_evidence", "VARCHAR",
             "JSON: the numbers behind the diagnosis (bulk and tail moves, KS residual, shares)."),
            ("top_contributors", "VARCHAR",
             "JSON: the segments (event_type, channel, cohort, first-seen week, landing file) "
             "carrying most of the change, with their share of it and of the rows."),
        ),
    )

FEATURE_STATS = stats_table(CUSTOMER_NAMES)
FEATURE_STATS_BASELINE = baseline_table(CUSTOMER_NAMES)
DRIFT_ALERTS = alerts_table(CUSTOMER_NAMES)


# Root-cause attribution's caches (monitoring/explain/attribution.py; no assets): rebuilt from the raw table
# and the baseline window whenever what they summarize changes. One set per entity, built by
# `attribution_caches` from the entity's names; the customer's are the shipped names.
def attribution_caches(entity: str, key: str, raw_table: str, features_table: str, *,
                       baseline_name: str | None = None) -> tuple[Table, Table, Table]:
    """(first seen, first-seen days, attribution baseline) contracts of `entity`, whose events are
    rows of `raw_table` keyed by `key` and whose features live in `features_table`:
    `<entity>_first_seen`, `<entity>_first_seen_days` and `baseline_name` (default
    `<entity>_attribution_baseline`)."""
    first_seen = f"{entity}_first_seen"
    who = entity.replace("_", " ")
    return (
        Table(first_seen, "monitoring", f"Each {who}'s first event day (the first-seen cohort of a segment).",
              _cols(
                  (key, "VARCHAR", f"{who.capitalize()}."),
                  ("first_day", "DATE", f"Day of the {who}'s first stored event."),
              ),
              asset=False),
        Table(f"{first_seen}_days", "monitoring", f"The event days folded into {first_seen}, with their row counts.",
              _cols(
                  ("event_date", "DATE", f"A {raw_table} day folded in."),
                  ("event_rows", "BIGINT", f"Its {raw_table} rows when folded in: another count refolds the table."),
              ),
              asset=False),
        Table(baseline_name or f"{entity}_attribution_baseline", "monitoring",
              "The baseline side of root-cause attribution, once per feature and window"
              + ("." if baseline_name else f" (entity {entity}: {features_table})."),
              _cols(
                  ("baseline_start", "DATE", "First day of the baseline window."),
                  ("baseline_end", "DATE", "Last day of the baseline window."),
                  ("feature", "VARCHAR", f"The {features_table} column."),
                  ("definition", "VARCHAR", "JSON: the feature's aggregate, value and filter SQL when computed."),
                  ("events", "BIGINT", f"{raw_table} rows in the window when computed: another count recomputes it."),
                  ("segments", "VARCHAR", "JSON: per segment, the baseline side's sums."),
              ),
              asset=False),
    )


CUSTOMER_FIRST_SEEN, CUSTOMER_FIRST_SEEN_DAYS, ATTRIBUTION_BASELINE = attribution_caches(
    "customer", "customer_id", RAW_EVENTS.name, CUSTOMER_FEATURES.name, baseline_name="attribution_baseline")


# --- remediation --------------------------------------------------------------------------------
def _patch(n: EntityNames) -> tuple[tuple[str, str, str], ...]:
    return (
        ("patch_id", "VARCHAR",
         "Content hash of the patch (feature, action, params, baseline): the same fix has the same id."),
        ("feature", "VARCHAR", f"The {n.features} column the patch changes."),
        ("action", "VARCHAR", "What the patch does: cast, map_values, impute_median, clip, disable_feature, "
         "request_retrain or refresh_baseline."),
        ("params", "VARCHAR", "JSON: the action's parameters (e.g. clip bounds)."),
    )


@functools.lru_cache(maxsize=64)  # one contract object per entity
def candidates_table(n: EntityNames = CUSTOMER_NAMES) -> Table:
    """The entity's proposed patches and their lifecycle."""
    return Table(
        n.patch_candidates, "remediation", n.said("One row per proposed patch and its lifecycle."),
        _cols(
            *_patch(n),
            ("evidence", "VARCHAR", "JSON: the alert's metrics and the baseline statistics the rule used."),
            ("review_sql", "VARCHAR", "The exact SQL the patch applies, marked /* REVIEW */, for the approver."),
            ("status", "VARCHAR", "PROPOSED, APPROVED, REJECTED, APPLIED or ROLLED_BACK."),
            ("severity", "VARCHAR", "Severity of the alert that led to the patch."),
            ("drift_types", "VARCHAR", "Drift types of that alert."),
            ("alert_date", "DATE", f"The {n.alerts} day that led to the patch."),
            ("baseline_version", "BIGINT", "The baseline the patch was derived from."),
            ("proposed_at", "TIMESTAMP", "When it was proposed (UTC)."),
            ("proposed_by", "VARCHAR", "Who proposed it (the remediation run's actor)."),
            ("approver", "VARCHAR", "Who approved it (a person, or the policy in auto_approve mode)."),
            ("approved_at", "TIMESTAMP", "When it was approved (UTC)."),
            ("rejected_by", "VARCHAR", "Who rejected it."),
            ("rejected_at", "TIMESTAMP", "When it was rejected (UTC)."),
            ("applied_at", "TIMESTAMP", "When it was last applied (UTC)."),
            ("rolled_back_at", "TIMESTAMP", "When it was last rolled back (UTC)."),
            ("updated_at", "TIMESTAMP", "Last status change (UTC)."),
        ),
    )


@functools.lru_cache(maxsize=64)  # one contract object per entity
def patch_log_table(n: EntityNames = CUSTOMER_NAMES) -> Table:
    """The entity's append-only apply / rollback log."""
    return Table(
        n.patch_log, "remediation", n.said("Append-only log of applied and rolled-back patches."),
        _cols(
            ("log_id", "VARCHAR", "Id of this log entry (append-only: rows are never updated)."),
            *_patch(n)[:3],
            ("event", "VARCHAR", "apply or rollback."),
            ("actor", "VARCHAR", "Who applied or rolled back."),
            ("logged_at", "TIMESTAMP", "When (UTC)."),
            ("run_id", "VARCHAR", "The Dagster run that did it."),
            _patch(n)[3],
            ("stats_before", "VARCHAR", "JSON: the feature's stats on the latest snapshot before the change."),
            ("stats_after", "VARCHAR", "JSON: the same stats after the change."),
            ("alert_date", "DATE", f"The {n.alerts} day that led to the patch."),
        ),
    )


# Written by remediation, read by every feature read through features/patch_layer.py.
@functools.lru_cache(maxsize=64)  # one contract object per entity
def active_patches_table(n: EntityNames = CUSTOMER_NAMES) -> Table:
    """The entity's patches the patch layer applies."""
    return Table(
        n.patches_active, "remediation", n.said("The patches the patch layer applies right now."),
        _cols(
            *_patch(n),
            ("baseline_version", "BIGINT", "The baseline the patch was derived from."),
            ("applied_at", "TIMESTAMP", "When it was applied (UTC)."),
            ("applied_by", "VARCHAR", "Who applied it."),
            ("log_id", "VARCHAR", f"The {n.patch_log} entry of the apply."),
        ),
        asset=False,
    )

PATCH_CANDIDATES = candidates_table(CUSTOMER_NAMES)
FEATURE_PATCH_LOG = patch_log_table(CUSTOMER_NAMES)
FEATURE_PATCHES_ACTIVE = active_patches_table(CUSTOMER_NAMES)



REMEDIATION_LOCK = Table(
    "remediation_lock", "remediation", "One row per lock name: who holds it since when.",
    _cols(
        ("lock_name", "VARCHAR", "The lock's name."),
        ("holder", "VARCHAR", "The run holding it."),
        ("acquired_at", "TIMESTAMP", "When it was taken (UTC); a stale lock can be taken over after lock_ttl_s."),
    ),
    asset=False,
)

# --- ml -----------------------------------------------------------------------------------------
CHURN_LABELS = Table(
    "churn_labels", "ml", "Churn label per customer and label date.",
    _cols(
        ("customer_id", "VARCHAR", "Customer with an event in the lookback window before label_date."),
        ("label_date", "DATE", "Label time: the START of this day."),
        ("churned", "BIGINT", "1 when no purchase on days [label_date, label_date + horizon_days)."),
        ("outcome_purchases", "BIGINT", "Purchases in that outcome window."),
        ("last_event_date", "DATE", "The customer's last event day before label_date."),
        ("horizon_days", "BIGINT", "Length of the outcome window, in days."),
        ("created_at", "TIMESTAMP", "When the label was computed (UTC)."),
    ),
)
TRAINING_SET = Table(
    "training_set", "ml", "Point-in-time join of churn_labels and customer_features.",
    _cols(
        ("customer_id", "VARCHAR", "Customer of the label."),
        ("label_date", "DATE", "The label's date (from churn_labels)."),
        ("churned", "BIGINT", "The label (from churn_labels)."),
        ("feature_snapshot_date", "DATE", "Snapshot the features come from (NULL: none within the TTL)."),
        ("feature_age_days", "BIGINT", "label_date - feature_snapshot_date, in days (>= 1)."),
    ),
    features_after="feature_age_days",
)
TRAINING_SET_SNAPSHOTS = Table(
    "training_set_snapshots", "ml", "Named snapshots of a training set: a frozen copy each, with the fingerprints "
    "that say whether a rebuild equals it (ml/training_snapshots.py).",
    _cols(
        ("name", "VARCHAR", "The snapshot's name (model versions name the one they were trained on)."),
        ("source_table", "VARCHAR", "The training set it was taken from (training_set, or a catalog training set)."),
        ("snapshot_table", "VARCHAR", "The table holding its rows: training_set_snapshot__<name>."),
        ("rows", "BIGINT", "Rows when taken."),
        ("row_fingerprint", "VARCHAR", "SHA-256 of its rows (order-independent: sorted first)."),
        ("definitions_fingerprint", "VARCHAR", "SHA-256 of the definitions of the features in it (catalog specs)."),
        ("features", "VARCHAR", "JSON: the feature columns."),
        ("label_window", "VARCHAR", "First..last label_date (when it has one)."),
        ("created_at", "TIMESTAMP", "When it was taken (UTC)."),
        ("created_by", "VARCHAR", "Who or what took it (a person, or churn_model for a training round)."),
    ),
    asset=False,
)
INFERENCE_RESULTS = Table(
    "inference_results", "ml", "The champion model's scores per customer.",
    _cols(
        ("run_id", "VARCHAR", "The Dagster run that scored."),
        ("customer_id", "VARCHAR", "Customer scored (from customer_features_online)."),
        ("snapshot_date", "DATE", "Features as of the end of this day: the score predicts churn from the next day."),
        ("churn_probability", "DOUBLE", "The model's churn probability."),
        ("predicted_churn", "BIGINT", "1 when churn_probability >= threshold."),
        ("model_version", "BIGINT", "Registry version of the model that scored."),
        ("threshold", "DOUBLE", "Decision threshold used for predicted_churn."),
        ("scored_at", "TIMESTAMP", "When the row was scored (UTC)."),
        ("role", "VARCHAR", "champion (serving) or shadow (the challenger, scored for comparison only)."),
    ),
)
MODEL_PERFORMANCE = Table(
    "model_performance", "ml", "Realized performance per scoring date and model once outcomes are known.",
    _cols(
        ("scoring_date", "DATE",
         "snapshot_date of the scores; outcomes are days (scoring_date, scoring_date + horizon]."),
        ("model_version", "BIGINT", "Registry version of the model."),
        ("role", "VARCHAR", "champion or shadow."),
        ("customers", "BIGINT", "Customers scored that date with a matured outcome."),
        ("churned", "BIGINT", "Of those, customers who churned."),
        ("churn_rate", "DOUBLE", "churned / customers."),
        ("mean_score", "DOUBLE", "Mean churn_probability."),
        ("brier", "DOUBLE", "Brier score (mean squared error of the probability)."),
        ("roc_auc", "DOUBLE", "Realized ROC AUC (NULL when that date's customers are all one class)."),
        ("horizon_days", "BIGINT", "Outcome window length, in days."),
        ("matured_through", "DATE", "Last event day the outcomes were read through."),
    ),
)

# --- health (issue 31) ----------------------------------------------------------------------------
PIPELINE_HEALTH = Table(
    "pipeline_health", "health", "The pipeline's own health per day: runtime, failures, volume, freshness, "
    "size, their trends and forecasts, each with its finding (from Dagster's run history).",
    _cols(
        ("health_date", "DATE", "The day judged (one set of rows per day; a rerun replaces it)."),
        ("subject_kind", "VARCHAR", "job, step, asset, source or warehouse."),
        ("subject", "VARCHAR", "The job, job/step, asset, source, or 'warehouse'."),
        ("metric", "VARCHAR", "runtime_s, failure_rate, retry_rate, warehouse_s, age_h, rows, lateness_h or size_bytes."),
        ("samples", "BIGINT", "Points the metric is computed from (runs, partitions, days)."),
        ("latest", "DOUBLE", "The newest value (age_h: hours since the last materialization; failure_rate, "
         "retry_rate: the rate over the job's recent window)."),
        ("p50", "DOUBLE", "Median over the lookback."),
        ("p90", "DOUBLE", "90th percentile over the lookback."),
        ("total", "DOUBLE", "Sum over the lookback (warehouse_s: warehouse seconds spent; failure_rate: failures)."),
        ("trend_per_day", "DOUBLE", "Theil-Sen slope per day (runtime_s of a job, size_bytes)."),
        ("expected", "DOUBLE", "The normal the value is judged against (age_h: the asset's cadence in hours)."),
        ("threshold", "DOUBLE", "The budget or limit a forecast projects to (age_h: hours until stale)."),
        ("days_to_threshold", "DOUBLE", "Days until the trend reaches the threshold (NULL: not growing)."),
        ("days_low", "DOUBLE", "Soonest, at the upper bound of the slope's confidence interval."),
        ("days_high", "DOUBLE", "Latest, at the lower bound (NULL: it may never reach it)."),
        ("finding", "VARCHAR", "slowdown, failure_rate, volume_drop, volume_spike, late, stale, growth or "
         "forecast; NULL when healthy."),
        ("severity", "VARCHAR", "low, medium, high or critical (NULL when healthy)."),
        ("finding_key", "VARCHAR", "kind:subject:onset, stable while the problem lasts (notified once)."),
        ("message", "VARCHAR", "The finding in words."),
        ("computed_at", "TIMESTAMP", "When the row was computed (UTC)."),
    ),
)


# --- governance (issue 30) ------------------------------------------------------------------------
# Internal state of erasure (feature_factory/governance/erase.py). Neither table ever holds an erased
# id: the tombstone keeps a salted hash (the salt lives in the project home, not in the warehouse),
# the ledger keeps counts.
ERASED_ENTITIES = Table(
    "erased_entities", "governance", "Tombstones of erased entity ids: ingestion quarantines a row whose "
    "key hashes to one (reason erased_entity).",
    _cols(
        ("entity", "VARCHAR", "The entity (sources file `entities:`) whose id was erased."),
        ("id_hash", "VARCHAR", "Hex SHA-256 of the project's erasure salt followed by the id: never the id."),
        ("erasure_id", "VARCHAR", "The erasure_ledger entry that wrote the tombstone."),
        ("erased_at", "TIMESTAMP", "When (UTC)."),
    ),
    asset=False,
)
ERASURE_LEDGER = Table(
    "erasure_ledger", "governance", "One row per erasure and place it reached: who, when, rows removed and "
    "the re-count that verifies it (never the ids).",
    _cols(
        ("erasure_id", "VARCHAR", "Id of the erasure (one per request)."),
        ("entity", "VARCHAR", "The entity erased."),
        ("subjects", "BIGINT", "How many ids the request named."),
        ("requested_by", "VARCHAR", "Who asked for it (the CLI's user or the run's actor)."),
        ("erased_at", "TIMESTAMP", "When the erasure ran (UTC)."),
        ("target_kind", "VARCHAR", "table, online_store, warehouse_file, landing_file, model_version or note."),
        ("target", "VARCHAR", "The table, store, file or model version."),
        ("rows_erased", "BIGINT", "Rows (or store entries) removed there."),
        ("rows_remaining", "BIGINT", "The re-count after the erasure: 0 verifies it (NULL: not countable)."),
        ("detail", "VARCHAR", "What was done or what is left, in words."),
    ),
    asset=False,
)


FEATURE_USAGE = Table(
    "feature_usage", "governance", "The usage ledger: one row per feature and reader (who reads X: "
    "WHERE feature = 'X').",
    _cols(
        ("feature", "VARCHAR", "The feature (catalog name)."),
        ("reader_kind", "VARCHAR", "model_version, training_snapshot, training_set (declared in the catalog) "
         "or online (the feature server)."),
        ("reader", "VARCHAR", "The model version (v12 random_forest), snapshot or training set name; online: "
         "the API key's name, or anonymous."),
        ("status", "VARCHAR", "The model's status (champion, challenger, archived), snapshot, declared or online."),
        ("last_used", "TIMESTAMP", "When the reader last used it (registered, taken, last read online); "
         "NULL: declared."),
        ("reads", "BIGINT", "Online reads (answers that served the feature) up to the last flush; NULL for "
         "other readers."),
    ),
    # Written by governance's feature_usage asset, which the demo story does not materialize yet;
    # asset=False keeps it out of the checks that every contract asset was materialized by the demo.
    asset=False,
)


# --- every entity's monitoring and patches ----------------------------------------------------------
# Each entity gets its statistics, baseline, alerts and patch tables from the builders above, named
# by its `EntityNames` (the customer's: the contract names; another's after it: product ->
# product_feature_stats, ..., product_feature_patches_active). The same columns, so the same SQL,
# drift and patch code read any entity's. Only the customer's are in ALL: the others exist only for
# entities the sources file declares.
def entity_monitoring(names: EntityNames) -> tuple[Table, Table, Table]:
    """The (stats, baseline, alerts) contracts of an entity."""
    return stats_table(names), baseline_table(names), alerts_table(names)


def entity_patches(names: EntityNames) -> tuple[Table, Table, Table]:
    """The (candidates, log, active) patch contracts of an entity (the remediation lock is shared)."""
    return candidates_table(names), patch_log_table(names), active_patches_table(names)


ALL = (RAW_EVENTS, QUARANTINED_EVENTS, LANDING_FILES, LANDING_ROWS, LANDING_SCHEMA_DRIFT, CUSTOMER_FEATURES,
       CUSTOMER_FEATURES_ONLINE, FEATURE_STATS,
       FEATURE_STATS_BASELINE, DRIFT_ALERTS, CUSTOMER_FIRST_SEEN, CUSTOMER_FIRST_SEEN_DAYS, ATTRIBUTION_BASELINE,
       PATCH_CANDIDATES, FEATURE_PATCH_LOG, FEATURE_PATCHES_ACTIVE,
       REMEDIATION_LOCK, CHURN_LABELS, TRAINING_SET, INFERENCE_RESULTS, MODEL_PERFORMANCE, PIPELINE_HEALTH,
       ERASED_ENTITIES, ERASURE_LEDGER, TRAINING_SET_SNAPSHOTS, FEATURE_USAGE)
ASSETS = tuple(t for t in ALL if t.asset)
BY_NAME = {t.name: t for t in ALL}
