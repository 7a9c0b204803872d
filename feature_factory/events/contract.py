"""The landing-file contract, the quarantine reasons and the ingestion settings.

Landing files (CSV or Parquet) carry `event_id, customer_id, event_type, channel, amount, event_ts`.
Validation is SQL in the warehouse; this module only names what is allowed and how schema drift is
handled, so the rules live in one place that the UI (config schema) and the tests share.
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum

import dagster as dg
from pydantic import Field

from feature_factory.warehouse.base import quote_ident, sql_literal

CONTRACT_COLUMNS = ("event_id", "customer_id", "event_type", "channel", "amount", "event_ts")
KEY_COLUMNS = ("event_id", "customer_id")
EVENT_TYPES = ("purchase", "browse", "refund")
CHANNELS = ("web", "mobile")
LANDING_FORMATS = {".csv": "csv", ".parquet": "parquet"}  # and `.csv.gz` (see landing.LandingFile.fmt)


class Reason(str, Enum):
    """Why a landing row (or a whole file) was quarantined. Row reasons are checked in this order;
    a row gets the first that applies."""

    MALFORMED_ROW = "malformed_row"
    NULL_OR_EMPTY_KEY = "null_or_empty_key"
    UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_BEFORE_START = "timestamp_before_start"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNKNOWN_CHANNEL = "unknown_channel"
    NON_NUMERIC_AMOUNT = "non_numeric_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    DUPLICATE_IN_BATCH = "duplicate_event_id_in_batch"
    DUPLICATE_OF_STORED = "duplicate_event_id_stored"
    # File level: the whole file is one quarantine row (source_row NULL).
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type"
    UNREADABLE_FILE = "unreadable_file"


REASON_TEXT = {
    Reason.MALFORMED_ROW: "the CSV record does not parse as one row of the header's columns (wrong number "
                          "of fields, broken quoting or a field over the size limit)",
    Reason.NULL_OR_EMPTY_KEY: "event_id or customer_id is NULL or empty",
    Reason.UNPARSEABLE_TIMESTAMP: "event_ts is missing or not an ISO-8601 timestamp; the row belongs to no day",
    Reason.TIMESTAMP_IN_FUTURE: "event_ts is later than when the file was staged",
    Reason.TIMESTAMP_BEFORE_START: "event_ts is before the first daily partition",
    Reason.UNKNOWN_EVENT_TYPE: f"event_type is not one of {', '.join(EVENT_TYPES)}",
    Reason.UNKNOWN_CHANNEL: f"channel is not one of {', '.join(CHANNELS)}",
    Reason.NON_NUMERIC_AMOUNT: "amount is not a finite number",
    Reason.NEGATIVE_AMOUNT: "amount is negative",
    Reason.DUPLICATE_IN_BATCH: "event_id already seen earlier in this batch (file, row order)",
    Reason.DUPLICATE_OF_STORED: "event_id already stored in raw_events in another partition",
}


def reason_detail_sql(column: str = "row_reason") -> str:
    """SQL turning a reason code column into its human explanation (the `detail` column)."""
    cases = " ".join(f"WHEN {sql_literal(r.value)} THEN {sql_literal(t)}" for r, t in REASON_TEXT.items())
    return f"CASE {column} {cases} END"


# name, SQL type, description: the DDL and the Dagster column schema come from these lists.
RAW_EVENTS_COLUMNS = [
    ("event_id", "VARCHAR", "Unique event id (trimmed)."),
    ("customer_id", "VARCHAR", "Customer id (trimmed)."),
    ("event_type", "VARCHAR", "purchase | browse | refund (lower-cased)."),
    ("channel", "VARCHAR", "web | mobile (lower-cased)."),
    ("amount", "DOUBLE", "Amount >= 0; NULL when the landing row had no amount."),
    ("event_ts", "TIMESTAMP", "Event time, UTC without zone."),
    ("event_date", "DATE", "UTC day of event_ts: the daily partition."),
    ("source_file", "VARCHAR", "Landing file, relative to the landing folder."),
    ("source_row", "BIGINT", "1-based data row in that file."),
    ("ingested_at", "TIMESTAMP", "When the run that wrote the row started (UTC)."),
]
QUARANTINE_COLUMNS = [
    ("source_file", "VARCHAR", "Landing file, relative to the landing folder."),
    ("source_row", "BIGINT", "1-based data row; NULL for a file-level rejection."),
    ("file_fingerprint", "VARCHAR", "Content hash of the file version the row came from."),
    ("event_id", "VARCHAR", "Raw text as landed."),
    ("customer_id", "VARCHAR", "Raw text as landed."),
    ("event_type", "VARCHAR", "Raw text as landed."),
    ("channel", "VARCHAR", "Raw text as landed."),
    ("amount", "VARCHAR", "Raw text as landed."),
    ("event_ts", "VARCHAR", "Raw text as landed."),
    ("reason", "VARCHAR", "Quarantine reason code (see contract.Reason)."),
    ("detail", "VARCHAR", "Human explanation (file-level errors name the problem)."),
    ("event_date", "DATE", "Partition day; NULL when the row belongs to no day (bad/future time, file error)."),
    ("quarantined_at", "TIMESTAMP", "When the row was quarantined (UTC)."),
]


class DriftAction(str, Enum):
    """What to do when a landing file's schema differs from the contract."""

    # Member names are lower-case because Dagster config selects enum members by name.
    auto_adapt = "auto_adapt"  # ignore extra columns, fill missing ones with NULL, cast when lossless
    alert = "alert"  # the same, but recorded with severity `warning`
    fail = "fail"  # stop the run with an error naming the file and column


class SchemaDriftPolicy(dg.Config):
    """Per case of schema drift, what the ingestion does."""

    extra_column: DriftAction = Field(
        default=DriftAction.auto_adapt, description="A column the contract does not know."
    )
    missing_column: DriftAction = Field(
        default=DriftAction.fail, description="A contract column absent from the file."
    )
    changed_type: DriftAction = Field(
        default=DriftAction.alert,
        description="Values no longer parse as the contract type (e.g. amount '12.50 USD', epoch "
        "event_ts). Non-fail actions cast when the cast is lossless; otherwise rows are quarantined.",
    )
    changed_type_min_share: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Share of non-blank values failing the contract type above which a column "
        "counts as retyped (below it, the failing rows are just bad rows).",
    )
    column_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Landing column name -> contract column, for known renames (e.g. "
        "{'amount_usd': 'amount'}).",
    )

    def validated_aliases(self) -> dict[str, str]:
        for source, target in self.column_aliases.items():
            quote_ident(source)
            if target not in CONTRACT_COLUMNS:
                raise ValueError(
                    f"schema_drift.column_aliases maps {source!r} to {target!r}, which is not a "
                    f"contract column ({', '.join(CONTRACT_COLUMNS)})"
                )
        return dict(self.column_aliases)


class IngestionConfig(dg.Config):
    """Settings for turning landing files into `raw_events` and `quarantined_events`."""

    landing_dir: str | None = Field(
        default=None,
        description="Landing folder; default $FEATURE_FACTORY_LANDING or "
        "$FEATURE_FACTORY_HOME/landing/events.",
    )
    schema_drift: SchemaDriftPolicy = Field(
        default_factory=SchemaDriftPolicy, description="Schema-drift policy per case."
    )
    max_quarantine_rate: float = Field(
        default=0.05, ge=0.0, le=1.0,
        description="The quarantine-rate check fails (and blocks downstream) above this share of "
        "rows read.",
    )
    freshness_lag_hours: float = Field(
        default=6.0, gt=0.0,
        description="Each day's newest event must be at most this many hours before the day's end.",
    )
    future_tolerance_minutes: float = Field(
        default=5.0, ge=0.0,
        description="Clock skew allowed before an event time counts as in the future (relative to "
        "when its file was staged).",
    )

    def staging_key(self, start_date: str) -> str:
        """Everything that changes how a file is staged: a file is re-staged when this changes."""
        payload = {
            "v": STAGING_VERSION,
            "drift": self.schema_drift.model_dump(mode="json"),
            "future_tolerance_minutes": self.future_tolerance_minutes,
            "start_date": start_date,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


# Bump when staging logic changes meaning, so existing staged files are re-read.
STAGING_VERSION = 2  # 2: CSV read in the one strict dialect (no per-file guessing)
