"""Entities: what features are computed per, declared under `entities:` in the sources file.

An entity names its key column, the source whose rows make its population, the names of its
tables (features, online table and store, statistics, baseline, drift alerts, Evidently report,
patch tables) and of its jobs and sensor, the population columns its drift is attributed by, and
its model when it has one. Every domain builds the same assets from this record, whatever the
entity: the customer of the churn example is its first entry (declared in the shipped
`sources.yaml`, with the data-contract names `customer_features`, `drift_alerts`, ...); a table or
job an entity does not name is named after it (`product_features`, `product_drift_alerts`,
`product_refresh_job`, ...).

A sources file that declares no `customer` (one written before the customer was declared) gets the
built-in `CUSTOMER` below, the same record the shipped file declares.

Pure and Dagster-free; a bad declaration raises `CatalogError` naming the file, entity and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from feature_factory import tables
from feature_factory.catalog.errors import CatalogError, check_fields
from feature_factory.tables import CUSTOMER_NAMES, EntityNames

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Columns of every feature table: a key column must not be one of them.
_FEATURE_TABLE_COLUMNS = ("snapshot_date", "computed_at", "found")
# The monitoring and patch tables each entity gets besides its feature tables, as the customer
# names them: another entity's are <entity>_feature_stats, ...
ENTITY_TABLE_SUFFIXES = ("feature_stats", "feature_stats_baseline", "drift_alerts", "patch_candidates",
                         "feature_patch_log", "feature_patches_active")
_ENTITY_KEYS = {"key", "source", "description", "tables", "jobs", "attribute_by", "model", "drift_key_prefix",
                "keep_inactive_days"}
# The population rule of a feature table: an entity keeps its snapshot rows this many days after
# its last event (the 90 of the churn example), or `forever`.
DEFAULT_KEEP_INACTIVE_DAYS = 90
FOREVER = "forever"
_MODEL_KEYS = {"asset", "label", "retrain_job"}


@dataclass(frozen=True)
class EntityJobs:
    """The names of an entity's jobs and drift sensor."""

    refresh: str  # ingestion -> features -> online table and store -> statistics -> drift alerts
    capture_baseline: str
    remediation: str  # propose patches from the latest alerts (the drift sensor requests it)
    apply_patches: str
    drift_sensor: str

    @classmethod
    def derived(cls, entity: str, **declared: str) -> EntityJobs:
        return cls(**{"refresh": f"{entity}_refresh_job", "capture_baseline": f"capture_{entity}_baseline_job",
                      "remediation": f"{entity}_remediation_job", "apply_patches": f"{entity}_apply_patches_job",
                      "drift_sensor": f"{entity}_drift_sensor", **declared})

    def all(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class EntityModel:
    """The model trained on an entity's features: drift of a feature it uses requests `retrain_job`."""

    asset: str  # the model asset (churn_model)
    label: str  # its label asset (churn_labels)
    retrain_job: str


@dataclass(frozen=True)
class EntitySpec:
    """One entity: its feature table's key column, the source whose rows make its population (an
    entity value seen there within the lookback gets a snapshot row) and everything named after it."""

    name: str
    key: str  # the key column of its feature and online tables
    source: str  # the population source (its entity_keys[name] column holds the key)
    description: str = ""
    tables: EntityNames = field(default_factory=EntityNames)
    jobs: EntityJobs | None = None  # None: derived from the name (see `job_names`)
    # Population columns a drift is attributed by (segments), besides the cohort, first-seen week and
    # landing file every entity's drift is attributed by.
    attribute_by: tuple[str, ...] = ()
    model: EntityModel | None = None
    # Namespace of the drift keys the drift sensor tags its runs with ("product:2024-03-02:1").
    drift_key_prefix: str | None = None  # None: "<entity>:"
    # The population rule: days an entity keeps its snapshot rows after its last event (None:
    # forever, e.g. to score customers long gone quiet). Lifetime features need no change to it.
    keep_inactive_days: int | None = DEFAULT_KEEP_INACTIVE_DAYS

    @property
    def features_table(self) -> str:
        return self.tables.features

    @property
    def online_table(self) -> str:
        return self.tables.online

    @property
    def job_names(self) -> EntityJobs:
        return self.jobs or EntityJobs.derived(self.name)

    @property
    def key_prefix(self) -> str:
        return f"{self.name}:" if self.drift_key_prefix is None else self.drift_key_prefix


# The churn example's customer, exactly as the shipped sources.yaml declares it (a test holds the
# two equal): what a sources file without a `customer` entry gets.
CUSTOMER = EntitySpec(
    "customer", "customer_id", "events", "Customer (the churn example).", CUSTOMER_NAMES,
    EntityJobs("daily_refresh_job", "capture_baseline_job", "remediation_job", "apply_patches_job", "drift_sensor"),
    ("event_type", "channel"), EntityModel("churn_model", "churn_labels", "retrain_job"), "")


def parse_entities(raw: Any, catalog, source: str = "sources") -> tuple[EntitySpec, ...]:
    """`entities: {<name>: {key, source, description, tables, jobs, attribute_by, model}}` of
    `catalog` (a SourceCatalog); the built-in `CUSTOMER` first when the file declares no customer."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise CatalogError(f"{source}: entities must map entity name -> {{key: <column>, source: <source>}}")
    taken = _claimed_tables(catalog)
    out: list[EntitySpec] = [] if CUSTOMER.name in raw else [CUSTOMER]
    for spec in out:
        _claim(spec.tables, taken, f"{source}: entity {spec.name!r}")
    for name, body in raw.items():
        label = f"{source}: entity {name!r}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise CatalogError(f"{label}: the entity name must be a lower-case snake_case identifier")
        out.append(parse_entity(name, body, catalog, label, taken))
    return tuple(out)


def parse_entity(name: str, body: Any, catalog, label: str, taken: dict[str, str]) -> EntitySpec:
    """One entity's declaration; its tables are added to `taken` (refused when already there)."""
    if not isinstance(body, dict):
        raise CatalogError(f"{label}: expected a mapping like {{key: {name}_id, source: <source>}}")
    check_fields(body, label, _ENTITY_KEYS, ("key", "source"))
    names = EntityNames.derived(name, **_names(body.get("tables"), EntityNames.ROLES, f"{label}: tables"))
    _claim(names, taken, label)
    key = body["key"]
    if not isinstance(key, str) or not _NAME.match(key) or key in _FEATURE_TABLE_COLUMNS:
        raise CatalogError(f"{label}: key {key!r} is not a snake_case column name for {name}_features")
    try:
        src = catalog.get(body["source"])
    except KeyError as exc:
        raise CatalogError(f"{label}: source: {exc.args[0]}") from None
    if name not in dict(src.entity_keys):
        raise CatalogError(f"{label}: source {src.name!r} has no key column for {name!r} (entity_keys: "
                           f"{', '.join(dict(src.entity_keys))}); add entity_keys.{name} to the source")
    jobs = _names(body.get("jobs"), tuple(f.name for f in fields(EntityJobs)), f"{label}: jobs")
    prefix = body.get("drift_key_prefix")
    if prefix is not None and not isinstance(prefix, str):
        raise CatalogError(f"{label}: drift_key_prefix must be a string, e.g. '{name}:'")
    return EntitySpec(
        name, key, src.name, str(body.get("description") or "").strip(), names,
        EntityJobs.derived(name, **jobs) if jobs else None,
        _attribute_by(body.get("attribute_by"), src, label), _model(body.get("model"), label), prefix,
        keep_inactive_days(body.get("keep_inactive_days", DEFAULT_KEEP_INACTIVE_DAYS), label))


def keep_inactive_days(raw: Any, label: str) -> int | None:
    """`keep_inactive_days: <days> | forever` (None: forever)."""
    if raw == FOREVER:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise CatalogError(f"{label}: keep_inactive_days must be a positive number of days or {FOREVER!r}, "
                           f"got {raw!r}")
    return raw


def _names(raw: Any, roles: tuple[str, ...], label: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: expected a mapping of {', '.join(roles)} -> name")
    check_fields(raw, label, set(roles))
    for role, value in raw.items():
        if not isinstance(value, str) or not _NAME.match(value):
            raise CatalogError(f"{label}.{role}: {value!r} is not a lower-case snake_case name")
    return dict(raw)


def _attribute_by(raw: Any, src, label: str) -> tuple[str, ...]:
    """Population columns (strings, besides the keys) whose values make a drift's segments."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise CatalogError(f"{label}: attribute_by must be a list of {src.name} columns, e.g. [channel]")
    for col in raw:
        try:
            spec = src.column(col)
        except KeyError:
            raise CatalogError(f"{label}: attribute_by {col!r} is not a column of source {src.name!r} "
                               f"(columns: {', '.join(src.column_names())})") from None
        if spec.type != "string" or col in src.key_columns:
            raise CatalogError(f"{label}: attribute_by {col!r} must be a string column that is not a key "
                               "(its values are the segments a drift is attributed to)")
    return tuple(dict.fromkeys(raw))


def _model(raw: Any, label: str) -> EntityModel | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: model must be a mapping like {{asset: churn_model, label: churn_labels, "
                           "retrain_job: retrain_job}")
    check_fields(raw, f"{label}: model", _MODEL_KEYS, tuple(sorted(_MODEL_KEYS)))
    return EntityModel(str(raw["asset"]), str(raw["label"]), str(raw["retrain_job"]))


def _claimed_tables(catalog) -> dict[str, str]:
    """Table name -> who has it: every source's tables and the pipeline's own tables (entity
    tables are claimed by their entity, as they are parsed)."""
    mine = set(CUSTOMER_NAMES.all())
    taken = {t.name: "a table of the pipeline (feature_factory/tables.py)" for t in tables.ALL if t.name not in mine}
    for s in catalog.sources:
        for fld, t in (("tables.raw", s.raw_table), ("tables.quarantine", s.quarantine_table),
                       ("location.table", s.table)):
            if t:
                taken[t.lower()] = f"claimed by source {s.name!r} ({fld})"
    return taken


def _claim(names: EntityNames, taken: dict[str, str], label: str) -> None:
    """Add the entity's tables to `taken`, refusing one already there."""
    for role in EntityNames.ROLES:
        table = getattr(names, role)
        what = {"features": "features", "online": "online"}.get(role, getattr(CUSTOMER_NAMES, role))
        if table in taken:
            raise CatalogError(f"{label}: its {what} table {table!r} is already {taken[table]}; rename the entity"
                               " (or name the table under tables:)")
        taken[table] = f"claimed by entity {names.entity!r} (tables.{role})"
