"""Sources: where rows come from and the rules they must pass, declared in YAML (`sources.yaml`).

A source names its location (a landing folder of CSV/Parquet files, or an existing warehouse
table), its row id, its entity key column(s), its event-time column, its columns (each the name
features use, optionally read `from` another landing column), value mappings, accepted values and
ranges. Ingestion derives its validation SQL and quarantine reasons from these rules
(`events/validation.py`); the feature catalog checks feature expressions against a source's columns.

Pure and Dagster-free. Any problem raises `CatalogError` naming the file, the source and the field
(the code location does not load with a bad source file, as with a bad feature catalog).
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from feature_factory.catalog.entity_spec import (  # noqa: F401 (re-exported: where entities were declared)
    CUSTOMER, ENTITY_TABLE_SUFFIXES, EntitySpec, parse_entities,
)
from feature_factory.catalog.errors import CatalogError, check_fields

DEFAULT_SOURCES_PATH = Path(__file__).with_name("sources.yaml")
SOURCES_ENV = "FEATURE_FACTORY_SOURCES"
# The source the churn example and the feature catalog read (raw_events).
DEFAULT_SOURCE = "events"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TYPES = {"string": "VARCHAR", "number": "DOUBLE", "timestamp": "TIMESTAMP"}
NORMALIZE = ("none", "trim", "lower", "upper")
# Columns every raw table of a source gets besides its declared ones (a column must not shadow them).
LINEAGE_COLUMNS = ("event_date", "source_file", "source_row", "ingested_at")
_SOURCE_KEYS = {"description", "owner", "entity", "location", "tables", "row_id", "entity_keys", "event_time",
                "columns", "schema_drift", "staged_value_suffix", "ingestion",
                "constants", "checks"}
_TABLE_KEYS = {"raw", "quarantine", "landing_rows", "landing_files"}
_INGESTION_KEYS = {"group", "job", "sensor", "duplicates_check", "contract"}
# Landing contracts written in code (events/contract.py), which a source may declare it is validated
# against (`ingestion: {contract: events}`): their column descriptions, and the schema-drift policy
# in the ingestion's run config instead of the sources file.
CONTRACTS = ("events",)
_COLUMN_KEYS = {"type", "from", "description", "required", "normalize", "map", "accepted", "min", "max",
                "reasons", "default", "format"}
# What a derived row id may hash besides declared columns: the landing file and its 1-based line.
ROW_ID_LINEAGE = ("source_file", "source_row")
_ROW_ID_KEYS = {"column", "hash"}
# Shipped checks a source's declaration may turn off (`checks: {freshness: false, null_rate: false}`):
# a purchase-only, date-only log has no time of day to be fresh by, and a `min_amount_7d`-style
# average is NULL for every customer without a purchase in the window.
CHECKS = ("freshness", "null_rate")
_LOCATION_KEYS = {"landing_folder", "table"}
_LOCATION_FLAGS = {"landing_override"}
_REASON_RULES = ("required", "accepted", "type", "min", "max")
# What ingestion does about a landing file whose columns differ from the source's (events/schema_drift.py):
# auto_adapt (recorded as info), alert (the same, recorded as a warning) or fail (stop the run). A missing
# column may also quarantine the whole file, the behaviour before sources had a policy (its default).
DRIFT_ACTIONS = ("auto_adapt", "alert", "fail")
MISSING_ACTIONS = ("quarantine", *DRIFT_ACTIONS)
_DRIFT_KEYS = {"extra_column", "missing_column", "changed_type", "changed_type_min_share", "column_aliases"}


@dataclass(frozen=True)
class SchemaDriftSpec:
    """A source's landing schema-drift policy (`schema_drift:` in the sources file), the same cases
    as the events source's run-config policy (events/config.py SchemaDriftPolicy)."""

    extra_column: str = "auto_adapt"  # a file column the source does not read: ignored
    missing_column: str = "quarantine"  # quarantine: the file is one unreadable_file row; else read as NULL
    changed_type: str = "alert"  # a number / the event time no longer parses: cast when lossless
    changed_type_min_share: float = 0.5  # share of non-blank values failing the type that counts as retyped
    column_aliases: tuple[tuple[str, str], ...] = ()  # landing column -> declared column (known renames)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a source, under the name features use."""

    name: str
    type: str  # string | number | timestamp
    source: str  # the landing file's (or table's) column it is read from
    description: str = ""
    required: bool = False  # blank is rejected (keys and the event time are always required)
    normalize: str = "trim"  # applied to strings before `map` and `accepted`
    value_map: tuple[tuple[str, str], ...] = ()  # landing value (after normalize) -> value features see
    accepted: tuple[str, ...] = ()  # allowed values after mapping (a blank value is not accepted)
    min: float | None = None
    max: float | None = None
    reasons: tuple[tuple[str, str], ...] = ()  # rule -> quarantine reason code (overrides the default)
    # The value of a row whose landing file has no such column or a blank field (`default:` or the
    # source's `constants:`): a purchase-only log gets `event_type: purchase` without rewriting it.
    default: str | None = None
    format: str | None = None  # strftime-style format of a timestamp column (`%Y%m%d`); None: ISO-8601

    @property
    def sql_type(self) -> str:
        return TYPES[self.type]

    def reason(self, rule: str) -> str:
        """The quarantine reason code a rule of this column produces."""
        override = dict(self.reasons).get(rule)
        if override:
            return override
        return {"required": f"missing_{self.name}", "accepted": f"unknown_{self.name}",
                "type": f"non_numeric_{self.name}", "min": f"{self.name}_below_min",
                "max": f"{self.name}_above_max"}[rule]


@dataclass(frozen=True)
class IngestionNames:
    """What a source's ingestion is called in Dagster (`ingestion:` in the sources file; None:
    derived from the source's name by events/assets.py and events/sensors.py)."""

    group: str = "sources"
    job: str | None = None  # default ingest_<source>_job
    sensor: str | None = None  # default <source>_landing_sensor
    duplicates_check: str | None = None  # default no_duplicate_row_id (events.checks.NO_DUPLICATE_ROWS)
    contract: str | None = None  # a landing contract in code (CONTRACTS), or None: the spec is the contract


# What the churn example's `events` entry has always been called: what an `events` entry of a
# sources file written before these were declarations gets (the shipped file declares them).
CHURN_EVENTS_STAGING = {"landing_rows": "landing_rows", "landing_files": "landing_files",
                        "staged_value_suffix": "_value", "landing_override": True}
CHURN_EVENTS_INGESTION = IngestionNames("events", "ingest_job", "landing_files_sensor", "no_duplicate_event_id",
                                        "events")


@dataclass(frozen=True)
class SourceSpec:
    name: str
    description: str
    owner: str
    entity: str  # the entity its rows describe by default (features over this source)
    landing_folder: str | None  # relative to $FEATURE_FACTORY_HOME/landing, or absolute
    table: str | None  # an existing warehouse table read in place
    raw_table: str
    quarantine_table: str
    row_id: str  # unique per row: duplicates are quarantined
    entity_keys: tuple[tuple[str, str], ...]  # entity -> column holding its key
    event_time: str
    columns: tuple[ColumnSpec, ...] = field(default_factory=tuple)
    schema_drift: SchemaDriftSpec = field(default_factory=SchemaDriftSpec)
    # Ingestion's staging tables (default <source>_landing_rows / <source>_landing_files) and the
    # suffix a typed column's parsed value is staged under (<column><suffix>).
    landing_rows_table: str | None = None
    landing_files_table: str | None = None
    staged_value_suffix: str = "__value"
    # The homes' landing override (FEATURE_FACTORY_LANDING) names this source's folder.
    landing_override: bool = False
    ingestion: IngestionNames = field(default_factory=IngestionNames)

    @property
    def landing_rows(self) -> str:
        return self.landing_rows_table or f"{self.name}_landing_rows"

    @property
    def landing_files(self) -> str:
        return self.landing_files_table or f"{self.name}_landing_files"

    @property
    def schema_drift_in_run_config(self) -> bool:
        """Whether the schema-drift policy is the ingestion run config's (a contract in code)."""
        return self.ingestion.contract is not None
    # A derived row id: the row_id column is the hash of these (declared columns, source_file,
    # source_row), not read from the file. () : read from the file like any column.
    row_id_hash: tuple[str, ...] = ()
    checks: tuple[tuple[str, bool], ...] = ()  # shipped check -> on/off (CHECKS; absent: on)

    def check_enabled(self, name: str) -> bool:
        return dict(self.checks).get(name, True)

    def read_from_file(self, name: str) -> bool:
        """Whether a landing file must have column `name`: not for a derived row id or a column with
        a default (a constant)."""
        if name == self.row_id and self.row_id_hash:
            return False
        return self.column(name).default is None

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name!r} has no column {name!r}")

    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The row id, then each entity key column: blank is `null_or_empty_key`."""
        return (self.row_id, *dict.fromkeys(c for _, c in self.entity_keys if c != self.row_id))

    def entity_column(self, entity: str) -> str:
        return dict(self.entity_keys)[entity]

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Columns of its raw table: the declared ones, then lineage."""
        return (*self.column_names(), *LINEAGE_COLUMNS)


@dataclass(frozen=True)
class SourceCatalog:
    sources: tuple[SourceSpec, ...]
    path: str = ""
    # Every entity, the customer first unless the file declares it later (catalog/entity_spec.py).
    declared_entities: tuple[EntitySpec, ...] = (CUSTOMER,)

    def entity(self, name: str) -> EntitySpec:
        for e in self.declared_entities:
            if e.name == name:
                return e
        raise KeyError(f"entity {name!r} is not declared in {self.path or 'the sources file'} "
                       f"(declared: {', '.join(e.name for e in self.declared_entities)}); "
                       f"add it under 'entities:' with key and source")

    def get(self, name: str) -> SourceSpec:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"unknown source {name!r}: not in {self.path or 'the sources file'} "
                       f"(known: {', '.join(self.names())})")

    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def entities(self) -> list[str]:
        return list(dict.fromkeys(e for s in self.sources for e, _ in s.entity_keys))


def sources_path() -> Path:
    """`FEATURE_FACTORY_SOURCES` if set, else the shipped `sources.yaml`."""
    override = os.environ.get(SOURCES_ENV)
    return Path(override).resolve() if override else DEFAULT_SOURCES_PATH


def load_sources(path: str | Path | None = None) -> SourceCatalog:
    path = Path(path) if path is not None else sources_path()
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogError(f"cannot read sources file {path}: {exc}") from exc
    return _parse_text(text, str(path))


@functools.lru_cache(maxsize=16)
def _parse_text(text: str, source: str) -> SourceCatalog:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"sources file {source} is not valid YAML: {exc}") from exc
    entries = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise CatalogError(f"sources file {source}: expected a top-level 'sources:' mapping of source name -> entry")
    unknown = sorted(set(doc) - {"sources", "entities"})
    if unknown:
        raise CatalogError(f"sources file {source}: unknown top-level field(s) {unknown}; allowed: entities, sources")
    catalog = parse_sources(entries, source)
    return replace(catalog, declared_entities=parse_entities(doc.get("entities"), catalog, source))


def parse_sources(entries: dict[str, Any], source: str = "sources") -> SourceCatalog:
    specs: list[SourceSpec] = []
    claimed: dict[str, str] = {}  # table -> "source 'x' (field)"
    for name, raw in entries.items():
        label = f"{source}: source {name!r}"
        spec = parse_source(name, raw, label)
        for fld, table in (("tables.raw", spec.raw_table), ("tables.quarantine", spec.quarantine_table),
                           ("location.table", spec.table)):
            if table is None:
                continue
            key = table.lower()
            if key in claimed:
                raise CatalogError(f"{label}: {fld} {table!r} is already claimed by {claimed[key]}; "
                                   "each table belongs to one source")
            claimed[key] = f"source {name!r} ({fld})"
        specs.append(spec)
    return SourceCatalog(tuple(specs), source)


def parse_source(name: Any, raw: Any, label: str) -> SourceSpec:
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(f"{label}: the source name must be a lower-case snake_case identifier")
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: expected a mapping, got {type(raw).__name__}")
    check_fields(raw, label, _SOURCE_KEYS, ("location", "row_id", "entity_keys", "event_time", "columns"),
                 empty=(None, "", {}, []))
    landing, table, override = _location(raw["location"], label)
    row_id_raw, row_id_hash = _row_id(raw["row_id"], label)
    columns = _with_constants(_columns(raw["columns"], label), raw.get("constants"), label)
    if row_id_hash and row_id_raw not in {c.name for c in columns}:  # derived: no landing column needed
        columns = (*columns, ColumnSpec(name=row_id_raw, type="string", source=row_id_raw,
                                        description="derived row id: hash of " + ", ".join(row_id_hash)))
    by_name = {c.name: c for c in columns}
    for part in row_id_hash:
        if part not in by_name and part not in ROW_ID_LINEAGE:
            raise CatalogError(f"{label}: row_id.hash: {part!r} is not a declared column or one of "
                               f"{', '.join(ROW_ID_LINEAGE)}; declared: {', '.join(by_name)}")
        if part == row_id_raw:
            raise CatalogError(f"{label}: row_id.hash: the row id {part!r} cannot hash itself")

    def known(fld: str, col: Any) -> str:
        if col not in by_name:
            raise CatalogError(f"{label}: {fld} {col!r} is not a declared column; declared: {', '.join(by_name)}")
        return col

    row_id = known("row_id", row_id_raw)
    keys = raw["entity_keys"]
    if not isinstance(keys, dict):
        raise CatalogError(f"{label}: entity_keys must map entity name -> key column, e.g. {{customer: customer_id}}")
    entity_keys = []
    for entity, col in keys.items():
        if not isinstance(entity, str) or not _NAME.match(entity):
            raise CatalogError(f"{label}: entity_keys: entity {entity!r} is not a lower-case snake_case name")
        known(f"entity_keys.{entity}", col)
        if by_name[col].type != "string":
            raise CatalogError(f"{label}: entity_keys.{entity} column {col!r} must have type string")
        entity_keys.append((entity, col))
    if by_name[row_id].type != "string":
        raise CatalogError(f"{label}: row_id column {row_id!r} must have type string")
    event_time = known("event_time", raw["event_time"])
    formatted = [c.name for c in columns if c.format and c.name != event_time]
    if formatted:
        raise CatalogError(f"{label}: format applies to the event_time column only, not to {formatted}")
    if by_name[event_time].type != "timestamp":
        raise CatalogError(f"{label}: event_time column {event_time!r} must have type timestamp "
                           f"(it is {by_name[event_time].type})")
    others = [c.name for c in columns if c.type == "timestamp" and c.name != event_time]
    if others:
        raise CatalogError(f"{label}: columns {others} have type timestamp; only the event_time column may "
                           "(declare other times as string)")
    entity = raw.get("entity", entity_keys[0][0])
    if entity not in dict(entity_keys):
        raise CatalogError(f"{label}: entity {entity!r} has no key column in entity_keys "
                           f"({', '.join(dict(entity_keys))})")
    tables = raw.get("tables") or {}
    if not isinstance(tables, dict) or set(tables) - _TABLE_KEYS:
        raise CatalogError(f"{label}: tables must be a mapping with some of {', '.join(sorted(_TABLE_KEYS))}")
    raw_table = _ident(tables.get("raw", f"raw_{name}"), label, "tables.raw")
    quarantine_table = _ident(tables.get("quarantine", f"{name}_quarantine"), label, "tables.quarantine")
    staging = {k: _ident(tables[k], label, f"tables.{k}") for k in ("landing_rows", "landing_files") if k in tables}
    named = [raw_table, quarantine_table, *staging.values()]
    if len(set(named)) != len(named):
        raise CatalogError(f"{label}: tables names one table twice ({', '.join(named)})")
    suffix = raw.get("staged_value_suffix", "__value")
    if not isinstance(suffix, str) or not re.fullmatch(r"_[a-z0-9_]*", suffix):
        raise CatalogError(f"{label}: staged_value_suffix {suffix!r} must start with '_' (letters, digits, _)")
    ingestion = _ingestion(raw.get("ingestion"), label)
    if name == DEFAULT_SOURCE and "ingestion" not in raw:
        # A sources file from before these were declared: the churn example's names, as it always had.
        ingestion, override = CHURN_EVENTS_INGESTION, override or CHURN_EVENTS_STAGING["landing_override"]
        staging = {k: staging.get(k, CHURN_EVENTS_STAGING[k]) for k in ("landing_rows", "landing_files")}
        suffix = raw.get("staged_value_suffix", CHURN_EVENTS_STAGING["staged_value_suffix"])
    if "schema_drift" in raw and ingestion.contract is not None:
        raise CatalogError(f"{label}: schema_drift: the {name} source's policy is the {raw_table} run config's "
                           f"schema_drift (ingestion.contract {ingestion.contract}: events/config.py), not the "
                           "sources file")
    drift = _schema_drift(raw.get("schema_drift"), columns, f"{label}: schema_drift")
    return SourceSpec(
        name=name, description=str(raw.get("description") or "").strip(), owner=str(raw.get("owner") or ""),
        entity=entity, landing_folder=landing, table=table, raw_table=raw_table,
        quarantine_table=quarantine_table, row_id=row_id, entity_keys=tuple(entity_keys),
        event_time=event_time, columns=columns, schema_drift=drift, row_id_hash=row_id_hash,
        checks=_checks(raw.get("checks"), label),
        landing_rows_table=staging.get("landing_rows"), landing_files_table=staging.get("landing_files"),
        staged_value_suffix=suffix, landing_override=override, ingestion=ingestion,
    )


def _ingestion(raw: Any, label: str) -> IngestionNames:
    """`ingestion: {group, job, sensor, duplicates_check, contract}`: the Dagster names of the source's ingestion."""
    if raw is None:
        return IngestionNames()
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: ingestion must be a mapping like {{group: sources, job: ingest_orders_job}}")
    check_fields(raw, f"{label}: ingestion", _INGESTION_KEYS)
    for fld, value in raw.items():
        if not isinstance(value, str) or not _NAME.match(value):
            raise CatalogError(f"{label}: ingestion.{fld} {value!r} is not a lower-case snake_case name")
    if raw.get("contract") is not None and raw["contract"] not in CONTRACTS:
        raise CatalogError(f"{label}: ingestion.contract {raw['contract']!r} is not a contract in code "
                           f"({', '.join(CONTRACTS)}); leave it out to validate against the columns declared here")
    return IngestionNames(**{"group": "sources", **raw})


def _row_id(raw: Any, label: str) -> tuple[Any, tuple[str, ...]]:
    """`row_id: event_id` (a column) or `row_id: {column: event_id, hash: [customer_id, source_file,
    source_row]}` (derived): (the column, the hashed parts)."""
    if not isinstance(raw, dict):
        return raw, ()
    check_fields(raw, f"{label}: row_id", _ROW_ID_KEYS, ("column", "hash"))
    parts = raw["hash"]
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
        raise CatalogError(f"{label}: row_id.hash must be a non-empty list of column names "
                           f"(declared columns, {', '.join(ROW_ID_LINEAGE)})")
    if not isinstance(raw["column"], str) or not _NAME.match(raw["column"]):
        raise CatalogError(f"{label}: row_id.column {raw['column']!r} is not a lower-case snake_case name")
    return raw["column"], tuple(dict.fromkeys(parts))


def _with_constants(columns: tuple[ColumnSpec, ...], raw: Any, label: str) -> tuple[ColumnSpec, ...]:
    """`constants: {event_type: purchase}`: each named column gets that default (a column not
    declared is declared as a string column holding it)."""
    if raw is None:
        return columns
    if not isinstance(raw, dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                            for v in raw.values()):
        raise CatalogError(f"{label}: constants must map column -> value, e.g. {{event_type: purchase}}")
    by_name = {c.name: c for c in columns}
    out = list(columns)
    for name, value in raw.items():
        if not isinstance(name, str) or not _NAME.match(name) or name in LINEAGE_COLUMNS:
            raise CatalogError(f"{label}: constants: {name!r} is not a column name (lower-case snake_case, "
                               f"not one of {', '.join(LINEAGE_COLUMNS)})")
        value = _default(value, by_name[name].type if name in by_name else "string", f"{label}: constants.{name}")
        if name in by_name:
            if by_name[name].default is not None:
                raise CatalogError(f"{label}: constants.{name}: the column already has a default")
            out[out.index(by_name[name])] = replace(by_name[name], default=value)
        else:
            out.append(ColumnSpec(name=name, type="string", source=name, default=value,
                                  description=f"constant {value!r} (constants:)"))
    return tuple(out)


def _default(value: Any, ctype: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        raise CatalogError(f"{where}: a default must be a non-empty string or number, got {value!r}")
    if ctype == "number":
        try:
            float(value)
        except ValueError:
            raise CatalogError(f"{where}: default {value!r} of a number column is not a number") from None
    if ctype == "timestamp":
        raise CatalogError(f"{where}: the event time cannot have a default (every row needs its own)")
    return str(value)


def _checks(raw: Any, label: str) -> tuple[tuple[str, bool], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or set(raw) - set(CHECKS) or not all(isinstance(v, bool) for v in raw.values()):
        raise CatalogError(f"{label}: checks must map a shipped check ({', '.join(CHECKS)}) to true or false")
    return tuple(raw.items())


def _schema_drift(raw: Any, columns: tuple[ColumnSpec, ...], label: str) -> SchemaDriftSpec:
    """`schema_drift: {extra_column, missing_column, changed_type, changed_type_min_share, column_aliases}`."""
    if raw is None:
        return SchemaDriftSpec()
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: expected a mapping like {{missing_column: alert}}")
    check_fields(raw, label, _DRIFT_KEYS)
    actions = {}
    for fld, allowed in (("extra_column", DRIFT_ACTIONS), ("missing_column", MISSING_ACTIONS),
                         ("changed_type", DRIFT_ACTIONS)):
        value = raw.get(fld, getattr(SchemaDriftSpec, fld))
        if value not in allowed:
            raise CatalogError(f"{label}.{fld} {value!r} is not one of {', '.join(allowed)}")
        actions[fld] = value
    share = raw.get("changed_type_min_share", SchemaDriftSpec.changed_type_min_share)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise CatalogError(f"{label}.changed_type_min_share must be a number from 0 to 1, got {share!r}")
    aliases = raw.get("column_aliases") or {}
    if not isinstance(aliases, dict):
        raise CatalogError(f"{label}.column_aliases must map landing column -> declared column")
    by_name, reads = {c.name: c for c in columns}, {c.source: c.name for c in columns}
    out = []
    for landing, target in aliases.items():
        where = f"{label}.column_aliases.{landing}"
        landing = str(landing).strip().lower()  # landing headers are read case-insensitively
        if not _NAME.match(landing):
            raise CatalogError(f"{where}: {landing!r} is not a plain column name (letters, digits, _)")
        if target not in by_name:
            raise CatalogError(f"{where}: maps onto {target!r}, which is not a declared column; "
                               f"declared: {', '.join(by_name)}")
        if landing in reads:
            raise CatalogError(f"{where}: {landing!r} is already read by column {reads[landing]!r} (from)")
        out.append((landing, target))
    return SchemaDriftSpec(actions["extra_column"], actions["missing_column"], actions["changed_type"],
                           float(share), tuple(out))


def _location(raw: Any, label: str) -> tuple[str | None, str | None, bool]:
    """(landing folder, table, whether the homes' landing override names the folder)."""
    where = {k: v for k, v in raw.items() if k not in _LOCATION_FLAGS} if isinstance(raw, dict) else None
    if where is None or len(where) != 1 or set(where) - _LOCATION_KEYS:
        raise CatalogError(f"{label}: location must be exactly one of {{landing_folder: <folder>}} or "
                           "{table: <warehouse table>} (a landing folder may add landing_override: true)")
    (kind, value), = where.items()
    override = raw.get("landing_override", False)
    if not isinstance(override, bool) or (override and kind != "landing_folder"):
        raise CatalogError(f"{label}: location.landing_override must be true or false, and only beside a "
                           "landing_folder")
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{label}: location.{kind} must be a non-empty string")
    if kind == "table":
        return None, _ident(value, label, "location.table", dotted=True), False
    if ".." in Path(value).parts:
        raise CatalogError(f"{label}: location.landing_folder {value!r} must not contain '..'")
    return value, None, override


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _ident(value: Any, label: str, fld: str, dotted: bool = False) -> str:
    parts = value.split(".") if isinstance(value, str) and dotted else [value]
    if not isinstance(value, str) or len(parts) > 3 or not all(isinstance(p, str) and _IDENT.match(p) for p in parts):
        raise CatalogError(f"{label}: {fld} {value!r} is not a table name (letters, digits, _; "
                           + ("db.schema.table allowed)" if dotted else "no schema)"))
    return value.lower() if not dotted else value


def _columns(raw: Any, label: str) -> tuple[ColumnSpec, ...]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: columns must map column name -> {{type, ...}}")
    out: list[ColumnSpec] = []
    sources: dict[str, str] = {}
    for name, body in raw.items():
        where = f"{label}: columns.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise CatalogError(f"{where}: the column name must be a lower-case snake_case identifier")
        if name in LINEAGE_COLUMNS:
            raise CatalogError(f"{where}: {name!r} is reserved (every raw table has {', '.join(LINEAGE_COLUMNS)})")
        body = {"type": body} if isinstance(body, str) else body
        if not isinstance(body, dict):
            raise CatalogError(f"{where}: expected a mapping like {{type: string}}")
        check_fields(body, where, _COLUMN_KEYS)
        ctype = body.get("type")
        if ctype not in TYPES:
            raise CatalogError(f"{where}: type {ctype!r} is not one of {', '.join(TYPES)}")
        src = body.get("from", name)
        if not isinstance(src, str) or not src.strip():
            raise CatalogError(f"{where}: from must be a landing column name")
        src = src.strip().lower()  # landing headers are read case-insensitively
        if not _NAME.match(src):
            raise CatalogError(f"{where}: from {src!r} is not a plain column name (letters, digits, _; "
                               "rename the landing column)")
        if src in sources:
            raise CatalogError(f"{where}: from {src!r} is already read by column {sources[src]!r}")
        sources[src] = name
        normalize = body.get("normalize", "trim")
        if normalize not in NORMALIZE:
            raise CatalogError(f"{where}: normalize {normalize!r} is not one of {', '.join(NORMALIZE)}")
        value_map = body.get("map") or {}
        accepted = body.get("accepted") or []
        if ctype != "string" and (value_map or accepted or "normalize" in body):
            raise CatalogError(f"{where}: map, accepted and normalize apply to string columns only")
        if not isinstance(value_map, dict) or not all(
                isinstance(k, (str, int)) and isinstance(v, (str, int)) for k, v in value_map.items()):
            raise CatalogError(f"{where}: map must map landing value -> value, e.g. {{app: mobile}}")
        if not isinstance(accepted, list) or not all(isinstance(v, (str, int)) and str(v) for v in accepted):
            raise CatalogError(f"{where}: accepted must be a list of values")
        accepted = [str(v) for v in accepted]
        if accepted:
            bad = sorted({str(v) for v in value_map.values()} - set(accepted))
            if bad:
                raise CatalogError(f"{where}: map maps onto {bad}, which accepted does not contain "
                                   f"({', '.join(accepted)})")
        bounds = {}
        for b in ("min", "max"):
            v = body.get(b)
            if v is not None and (ctype != "number" or isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v)):
                raise CatalogError(f"{where}: {b} must be a finite number on a number column, got {v!r}")
            bounds[b] = None if v is None else float(v)
        if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
            raise CatalogError(f"{where}: min {bounds['min']:g} is greater than max {bounds['max']:g}")
        reasons = body.get("reasons") or {}
        if not isinstance(reasons, dict) or set(reasons) - set(_REASON_RULES) or not all(
                isinstance(v, str) and _NAME.match(v) for v in reasons.values()):
            raise CatalogError(f"{where}: reasons must map a rule ({', '.join(_REASON_RULES)}) to a "
                               "snake_case reason code")
        default = None if body.get("default") is None else _default(body["default"], ctype, where)
        fmt = body.get("format")
        if fmt is not None and (ctype != "timestamp" or not isinstance(fmt, str) or "%" not in fmt):
            raise CatalogError(f"{where}: format must be a strftime-style format like '%Y%m%d' on a timestamp "
                               f"column, got {fmt!r}")
        required = body.get("required", False)
        if not isinstance(required, bool):
            raise CatalogError(f"{where}: required must be true or false")
        out.append(ColumnSpec(
            name=name, type=ctype, source=src, description=str(body.get("description") or "").strip(),
            required=required, normalize=normalize if ctype == "string" else "none",
            value_map=tuple((str(k), str(v)) for k, v in value_map.items()), accepted=tuple(accepted),
            min=bounds["min"], max=bounds["max"], reasons=tuple(reasons.items()), default=default, format=fmt,
        ))
    return tuple(out)
