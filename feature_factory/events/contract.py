"""The landing-file contract and the quarantine reasons (no Dagster; the ingestion run config,
`IngestionConfig` and its parts, is wiring: events/config.py).

Landing files (CSV or Parquet) carry `event_id, customer_id, event_type, channel, amount, event_ts`.
Validation is SQL in the warehouse; this module only names what is allowed and how schema drift is
handled, so the rules live in one place that the UI (config schema) and the tests share.
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum

from feature_factory import tables
from feature_factory.catalog.loader import CatalogError
from feature_factory.catalog.sources import DEFAULT_SOURCE, SourceSpec, load_sources
from feature_factory.events import validation as rules

CONTRACT_COLUMNS = ("event_id", "customer_id", "event_type", "channel", "amount", "event_ts")
KEY_COLUMNS = ("event_id", "customer_id")
_CONTRACT_TYPES = ("string", "string", "string", "string", "number", "timestamp")
LANDING_FORMATS = {".csv": "csv", ".parquet": "parquet"}  # and `.csv.gz` (see landing.LandingFile.fmt)


class Reason(str, Enum):
    """Why a landing row (or a whole file) was quarantined. Row reasons are checked in this order;
    a row gets the first that applies. The rule-based ones (keys, accepted values, amount) come
    from the `events` source's rules in catalog/sources.yaml (`events/validation.py` builds their SQL);
    these are their codes with the shipped rules."""

    MALFORMED_ROW = rules.MALFORMED_ROW
    NULL_OR_EMPTY_KEY = rules.NULL_OR_EMPTY_KEY
    UNPARSEABLE_TIMESTAMP = rules.UNPARSEABLE_TIMESTAMP
    TIMESTAMP_IN_FUTURE = rules.TIMESTAMP_IN_FUTURE
    TIMESTAMP_BEFORE_START = rules.TIMESTAMP_BEFORE_START
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNKNOWN_CHANNEL = "unknown_channel"
    NON_NUMERIC_AMOUNT = "non_numeric_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    DUPLICATE_IN_BATCH = "duplicate_event_id_in_batch"
    DUPLICATE_OF_STORED = "duplicate_event_id_stored"
    # The row's customer was erased (a tombstone in erased_entities; events/tombstones.py, issue 30).
    ERASED_ENTITY = rules.ERASED_ENTITY
    # File level: the whole file is one quarantine row (source_row NULL).
    UNSUPPORTED_FILE_TYPE = rules.UNSUPPORTED_FILE_TYPE
    UNREADABLE_FILE = rules.UNREADABLE_FILE


def events_source() -> SourceSpec:
    """The `events` source of the sources file: the churn example's landing folder (or table) and rules.

    Its location, rules, value maps, accepted values and column mapping (`from`) are configuration,
    ingested by the one path every source takes; its columns and tables are the raw_events
    contract the features and the catalog read, checked here with a message naming the file and
    the fix."""
    catalog = load_sources()
    try:
        spec = catalog.get(DEFAULT_SOURCE)
    except KeyError as exc:
        raise CatalogError(f"{catalog.path}: the churn example's source {DEFAULT_SOURCE!r} is missing "
                           "(it feeds raw_events)") from exc
    want = tuple(zip(CONTRACT_COLUMNS, _CONTRACT_TYPES))
    if {c.name for c in spec.columns} == set(CONTRACT_COLUMNS):
        # Columns a source's `constants:` or derived `row_id:` declares come last: the contract's order.
        spec = replace(spec, columns=tuple(sorted(spec.columns, key=lambda c: CONTRACT_COLUMNS.index(c.name))))
    got = tuple((c.name, c.type) for c in spec.columns)
    problems = []
    if got != want:
        problems.append(f"columns must be exactly {', '.join(f'{c} ({t})' for c, t in want)}")
    if (spec.raw_table, spec.quarantine_table) != (tables.RAW_EVENTS.name, tables.QUARANTINED_EVENTS.name):
        problems.append("tables must be {raw: raw_events, quarantine: quarantined_events}")
    if spec.row_id != "event_id" or spec.entity_keys != (("customer", "customer_id"),) or spec.event_time != "event_ts":
        problems.append("row_id must be event_id, entity_keys {customer: customer_id}, event_time event_ts")
    if problems:
        raise CatalogError(f"{catalog.path}: source {DEFAULT_SOURCE!r}: " + "; ".join(problems)
                           + " (add a new source for other data; see docs/sources.md)")
    return spec


def reason_texts(spec: SourceSpec | None = None) -> dict[str, str]:
    """reason code -> human explanation, for the events source's rules."""
    return rules.texts(spec or events_source())


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
