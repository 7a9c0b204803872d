"""Load and validate the catalog (`features.yaml`, or any YAML file of the same shape).

Each entry declares its aggregate declaratively, e.g.

    aggregate: {agg: sum, value: amount, where: "event_type = 'purchase'"}

which the loader checks (columns of the entry's `source:` only, default `events` = raw_events, no subqueries/aggregates/window functions inside
`value`/`where`, only allow-listed scalar functions, parsed with sqlglot) and renders to the SQL aggregate stored in
`FeatureSpec.aggregate`. Any problem raises `CatalogError` naming the entry and the field.

A feature over another source of `sources.yaml` names it (`source: support_tickets`); its value/where
are then over that source's columns. `agg: ratio` combines two sources of the same entity:

    aggregate: {agg: ratio, numerator: {agg: count, source: support_tickets},
                denominator: {agg: count, source: events, where: "event_type = 'purchase'"}}
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feature_factory import tables
from feature_factory.catalog.errors import CatalogError, check_fields  # noqa: F401 (re-exported)
from feature_factory.catalog.spec import DType, Expectations, FeatureSpec, Lifecycle, Part

DEFAULT_PATH = Path(__file__).with_name("features.yaml")
CATALOG_ENV = "FEATURE_FACTORY_CATALOG"

# The default population rule of an entity's feature table (a customer gets a row while seen within
# this many days; `keep_inactive_days` of the entity changes it) and the lookback of a catalog
# without longer windows: what a one-day refresh reads.
MAX_WINDOW_DAYS = 90
# The longest finite window (ten years): a refresh reads this many days of events. Longer: `all`.
MAX_FINITE_WINDOW_DAYS = 3660
LIFETIME = "all"  # window_days: all (the whole relationship)

RAW_EVENTS_COLUMNS = (
    "event_id", "customer_id", "event_type", "channel", "amount", "event_ts", "event_date",
    "source_file", "source_row", "ingested_at",
)
# Columns of customer_features / the online table that a feature must not shadow.
RESERVED_NAMES = frozenset({"customer_id", "snapshot_date", "computed_at", "is_stale", "found"})
AGGS = ("count", "sum", "avg", "stddev", "min", "max", "days_since_last_event", "ratio", "count_days",
        "days_since_first", "days_since_last")
# Aggregates over the whole relationship only (window_days: all): they read the per-entity state.
LIFETIME_AGGS = ("count_days", "days_since_first", "days_since_last")
_PER_DAYS_AGGS = ("count", "sum", "count_days")
RATIO_PART_AGGS = ("count", "sum")
DEFAULT_SOURCE = "events"
_SQL_AGG = {"sum": "SUM", "avg": "AVG", "stddev": "STDDEV_SAMP", "min": "MIN", "max": "MAX"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CUSTOMER_ENTITY = re.compile(r"entity:\s*['\"]?customer['\"]?\s*[,}]?\s*$")
# The only functions a value/where expression may call: deterministic scalar functions that DuckDB
# and Snowflake both have (sqlglot expression classes). Everything else is refused, above all table
# functions (read_csv, read_parquet, glob, ...) that would read files, and unknown functions, which
# would otherwise fail only when the run binds the SQL, naming neither the entry nor the field.
_SCALAR_FUNCTIONS = {  # sqlglot class -> the name users write
    "Abs": "abs", "Ceil": "ceil", "Floor": "floor", "Round": "round", "Sign": "sign", "Sqrt": "sqrt",
    "Ln": "ln", "Log": "log", "Exp": "exp", "Pow": "power", "Greatest": "greatest", "Least": "least",
    "Coalesce": "coalesce", "Nullif": "nullif", "If": "CASE", "Case": "CASE", "Cast": "cast",
    "TryCast": "try_cast", "Lower": "lower", "Upper": "upper", "Trim": "trim", "Length": "length",
    "Substring": "substring", "Concat": "concat", "Extract": "extract",
}
_ENTRY_KEYS = {
    "name", "description", "owner", "entity", "dtype", "lifecycle", "window_days", "aggregate",
    "expectations", "tags", "source", "pii", "drift_exclude",
}


@dataclass(frozen=True)
class Catalog:
    # The customer entity's features (customer_features: the churn example; every reader of the
    # catalog that predates entities sees exactly these).
    features: tuple[FeatureSpec, ...]
    # Features of other entities (`entity: product`), each built into its own <entity>_features.
    others: tuple[FeatureSpec, ...] = ()

    def entities(self) -> list[str]:
        """Entities other than customer that have features, in the order first declared."""
        return list(dict.fromkeys(f.entity for f in self.others))

    def for_entity(self, entity: str) -> "Catalog":
        """The features of one entity, as a catalog (customer: this catalog's `features`)."""
        if entity == "customer":
            return Catalog(self.features)
        return Catalog(tuple(f for f in self.others if f.entity == entity))

    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def get(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"unknown feature {name!r}: not in the catalog")

    def computed(self) -> list[FeatureSpec]:
        return [f for f in self.features if f.computed]

    def served(self) -> list[FeatureSpec]:
        return [f for f in self.features if f.served]

    def trainable(self) -> list[FeatureSpec]:
        return [f for f in self.features if f.trainable]

    def with_features(self, extra: Iterable[FeatureSpec]) -> "Catalog":
        return Catalog(self.features + tuple(extra))


def catalog_path() -> Path:
    """`FEATURE_FACTORY_CATALOG` if set (one catalog for every domain), else the shipped file."""
    override = os.environ.get(CATALOG_ENV)
    return Path(override).resolve() if override else DEFAULT_PATH


def load_catalog(path: str | Path | None = None, sources=None) -> Catalog:
    """Read and validate a catalog file (default: `catalog_path()`). Features over a source other
    than `events` are checked against `sources` (a SourceCatalog; default `load_sources()`:
    FEATURE_FACTORY_SOURCES or the shipped file)."""
    path = Path(path) if path is not None else catalog_path()
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc}") from exc
    if sources is None:
        sources = _sources_if_needed(text)
    return _parse_text(text, str(path), sources)


def _sources_if_needed(text: str):
    """The sources catalog when the file may name a source (a textual pre-check outside comments),
    else None. It is part of the parse cache's key: a changed sources file re-checks the features."""
    code = [line.split("#", 1)[0] for line in text.splitlines()]
    if not any("source:" in line or ("entity:" in line and not _CUSTOMER_ENTITY.search(line)) for line in code):
        return None
    from feature_factory.catalog.sources import load_sources

    return load_sources()


@functools.lru_cache(maxsize=16)
def _parse_text(text: str, source: str, sources=None) -> Catalog:
    """Parsing validates every SQL fragment with sqlglot (~0.2 s); a run reads the catalog once per
    day it judges, so parsed catalogs are kept per (content, path). Catalogs are immutable."""
    import yaml

    path = source
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalog {path} is not valid YAML: {exc}") from exc
    entries = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise CatalogError(f"catalog {path}: expected a top-level 'features:' list")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise CatalogError(f"catalog {path}: 'defaults' must be a mapping")
    return parse_entries(entries, defaults, source=str(path), sources=sources)


def parse_entries(entries: list[Any], defaults: dict[str, Any] | None = None, source: str = "catalog",
                  sources=None) -> Catalog:
    specs: list[FeatureSpec] = []
    seen: dict[tuple[str, str], int] = {}  # (entity, name): names are columns of their entity's table
    for i, raw in enumerate(entries, start=1):
        label = f"{source}: entry #{i}"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label += f" ({raw['name']!r})"
        if not isinstance(raw, dict):
            raise CatalogError(f"{label}: expected a mapping, got {type(raw).__name__}")
        spec = parse_entry({**(defaults or {}), **raw}, label, sources)
        if (spec.entity, spec.name) in seen:
            raise CatalogError(f"{label}: duplicate feature name {spec.name!r} (first declared in entry "
                               f"#{seen[spec.entity, spec.name]})" + ("" if spec.entity == "customer" else
                                                                     f" of entity {spec.entity!r}"))
        seen[spec.entity, spec.name] = i
        specs.append(spec)
    return Catalog(tuple(s for s in specs if s.entity == "customer"),
                   tuple(s for s in specs if s.entity != "customer"))


def parse_entry(raw: dict[str, Any], label: str, sources=None) -> FeatureSpec:
    check_fields(raw, label, _ENTRY_KEYS,
                 ("name", "description", "owner", "dtype", "lifecycle", "window_days", "aggregate"))
    name = raw["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(f"{label}: name {name!r} is not a lower-case snake_case identifier")
    if name in RESERVED_NAMES:
        raise CatalogError(f"{label}: name {name!r} is reserved for a table column")
    dtype = _enum(DType, raw["dtype"], label, "dtype")
    lifecycle = _enum(Lifecycle, raw["lifecycle"], label, "lifecycle")
    window = _window(raw["window_days"], label)
    entity, population, entity_key = _entity(raw.get("entity", "customer"), label, sources)
    if name == entity_key:
        raise CatalogError(f"{label}: name {name!r} is the key column of {entity}_features")
    if entity != "customer" and sources is None:
        from feature_factory.catalog.sources import load_sources

        sources = load_sources()
    src = raw.get("source", population)
    table, known, key = _source_columns(src, label, "source", sources, entity)
    agg, value, where, columns, parts, per_days = _parse_aggregate(raw["aggregate"], label, src, known, sources,
                                                                   entity, population)
    if not per_days:  # a rate is a float whatever it counts (_check_lifetime)
        _check_dtype(agg, dtype, label)
    _check_lifetime(agg, window, per_days, dtype, label)
    drift_exclude = raw.get("drift_exclude")
    if drift_exclude is not None and (not isinstance(drift_exclude, str) or not drift_exclude.strip()):
        raise CatalogError(f"{label}: drift_exclude must be the reason drift monitoring skips the feature "
                           f"(a sentence), got {drift_exclude!r}")
    tags = raw.get("tags") or ()
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise CatalogError(f"{label}: tags must be a list of strings")
    if not isinstance(raw.get("pii", False), bool):
        raise CatalogError(f"{label}: pii must be true or false, got {raw['pii']!r}")
    return FeatureSpec(
        name=name,
        description=str(raw["description"]).strip(),
        owner=str(raw["owner"]),
        dtype=dtype,
        lifecycle=lifecycle,
        aggregate=render_aggregate(agg, value, where) if agg != "ratio" else None,
        window_days=window,
        empty_value=0 if agg in ("count", "sum", "count_days") and not per_days else None,
        entity=entity,
        expectations=_parse_expectations(raw.get("expectations"), label),
        tags=tuple(tags),
        pii=raw.get("pii", False),
        source_columns=columns,
        agg=agg,
        value_sql=value,
        filter_sql=where,
        source=src,
        source_table=table,
        source_key=key,
        numerator=parts[0] if parts else None,
        denominator=parts[1] if parts else None,
        per_days=per_days,
        drift_exclude=drift_exclude.strip() if drift_exclude else None,
    )


def _window(window: Any, label: str) -> int | None:
    """window_days: a positive number of days, or `all` (None: the whole relationship)."""
    if window == LIFETIME:
        return None
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise CatalogError(f"{label}: window_days must be a positive integer, got {window!r} (or {LIFETIME!r}: "
                           "the whole relationship)")
    if window > MAX_FINITE_WINDOW_DAYS:
        raise CatalogError(f"{label}: window_days {window} is longer than {MAX_FINITE_WINDOW_DAYS} days (a refresh "
                           f"would read that much history); use window_days: {LIFETIME} (kept incrementally)")
    return window


def _check_lifetime(agg: str, window: int | None, per_days: int | None, dtype: DType, label: str) -> None:
    if agg in LIFETIME_AGGS and window is not None:
        raise CatalogError(f"{label}: {agg} is over the whole relationship: set window_days: {LIFETIME}")
    if window is None and agg == "ratio":
        raise CatalogError(f"{label}: a ratio has no lifetime form yet; use a finite window_days")
    if per_days is not None:
        if window is not None or agg not in _PER_DAYS_AGGS:
            raise CatalogError(f"{label}: aggregate.per_days applies to a lifetime (window_days: {LIFETIME}) "
                               f"{', '.join(_PER_DAYS_AGGS)} only")
        if dtype is not DType.FLOAT:
            raise CatalogError(f"{label}: a rate (aggregate.per_days) must have dtype float")


def _entity(name: Any, label: str, sources) -> tuple[str, str, str]:
    """(entity, its population source, its feature table's key column); customer is built in."""
    if name == "customer":
        return "customer", DEFAULT_SOURCE, "customer_id"
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(f"{label}: entity {name!r} is not an entity name (snake_case, see sources.yaml entities:)")
    if sources is None:
        from feature_factory.catalog.sources import load_sources

        sources = load_sources()
    try:
        e = sources.entity(name)
    except KeyError as exc:
        raise CatalogError(f"{label}: {exc.args[0]}") from None
    return e.name, e.source, e.key


def _source_columns(name: Any, label: str, field: str, sources, entity: str = "customer"
                    ) -> tuple[str, tuple[str, ...], str]:
    """(raw table, columns a feature may read, the entity's key column) of source `name`; `events`
    is the raw_events contract."""
    if name == DEFAULT_SOURCE and entity == "customer":
        return tables.RAW_EVENTS.name, RAW_EVENTS_COLUMNS, "customer_id"  # event_id first
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(f"{label}: {field} {name!r} is not a source name (snake_case, see sources.yaml)")
    if sources is None:
        from feature_factory.catalog.sources import load_sources

        sources = load_sources()
    try:
        spec = sources.get(name)
    except KeyError:
        raise CatalogError(f"{label}: {field} {name!r} is not declared in {sources.path or 'the sources file'} "
                           f"(known: {', '.join(sources.names())}); add the source or set FEATURE_FACTORY_SOURCES"
                           ) from None
    if entity not in dict(spec.entity_keys):
        raise CatalogError(f"{label}: {field} {name!r} has no {entity} key (entity_keys: "
                           f"{', '.join(dict(spec.entity_keys))}); {entity} features need entity_keys.{entity}")
    # The row id first: a count of rows reads it (lineage), as a count of events reads event_id.
    return (spec.raw_table, (spec.row_id, *(c for c in spec.raw_columns if c != spec.row_id)),
            spec.entity_column(entity))


def render_aggregate(agg: str, value: str | None, where: str | None) -> str | None:
    """The SQL aggregate over the rows of the window (None for days_since_last_event)."""
    if agg in ("days_since_last_event", *LIFETIME_AGGS):
        return None
    if agg == "count":
        if value is None and where is None:
            return "COUNT(*)"
        return f"COUNT(CASE WHEN {where or 'TRUE'} THEN {value or '1'} END)"
    inner = f"CASE WHEN {where} THEN {value} END" if where else value
    return f"{_SQL_AGG[agg]}({inner})"


def _enum(kind, value: Any, label: str, field: str):
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise CatalogError(f"{label}: {field} {value!r} is not one of {allowed}") from None


def _check_dtype(agg: str, dtype: DType, label: str) -> None:
    if agg in ("count", "days_since_last_event", *LIFETIME_AGGS) and dtype is not DType.INT:
        raise CatalogError(f"{label}: a {agg} feature must have dtype int")
    if agg in ("avg", "stddev", "ratio") and dtype is not DType.FLOAT:
        raise CatalogError(f"{label}: {'a' if agg == 'ratio' else 'an'} {agg} feature must have dtype float")


def _parse_aggregate(raw: Any, label: str, src: str = DEFAULT_SOURCE, known: tuple[str, ...] = RAW_EVENTS_COLUMNS,
                     sources=None, entity: str = "customer", population: str = DEFAULT_SOURCE):
    """(agg, value, where, columns, ratio parts) of an aggregate over source `src` (columns `known`)."""
    if isinstance(raw, dict) and raw.get("agg") == "ratio":
        return ("ratio", None, None, (), _parse_ratio(raw, label, src, sources, entity), None)
    per_days = None
    if isinstance(raw, dict) and "per_days" in raw:
        raw = dict(raw)
        per_days = raw.pop("per_days")
        if isinstance(per_days, bool) or not isinstance(per_days, int) or per_days < 1:
            raise CatalogError(f"{label}: aggregate.per_days must be a positive number of days, got {per_days!r}")
    return (*_parse_simple(raw, label, src, known, population=population), (), per_days)


def _parse_ratio(raw: dict[str, Any], label: str, src: str, sources, entity: str = "customer") -> tuple[Part, Part]:
    unknown = sorted(set(raw) - {"agg", "numerator", "denominator"})
    if unknown:
        raise CatalogError(f"{label}: a ratio aggregate has unknown field(s) {unknown}; allowed: agg, numerator, "
                           "denominator")
    parts = []
    for side in ("numerator", "denominator"):
        body = raw.get(side)
        fld = f"aggregate.{side}"
        if not isinstance(body, dict):
            raise CatalogError(f"{label}: {fld} must be a mapping like {{agg: count, source: <source>, where: ...}}")
        body = dict(body)
        part_src = body.pop("source", src)
        if body.get("agg") not in RATIO_PART_AGGS:
            raise CatalogError(f"{label}: {fld}.agg {body.get('agg')!r} is not one of {', '.join(RATIO_PART_AGGS)}")
        table, known, key = _source_columns(part_src, label, f"{fld}.source", sources, entity)
        agg, value, where, columns = _parse_simple(body, label, part_src, known, prefix=f"{fld}.")
        parts.append(Part(part_src, table, key, agg, value, where, columns))
    return parts[0], parts[1]


def _parse_simple(raw: Any, label: str, src: str = DEFAULT_SOURCE, known: tuple[str, ...] = RAW_EVENTS_COLUMNS,
                  prefix: str = "aggregate.", population: str = DEFAULT_SOURCE
                  ) -> tuple[str, str | None, str | None, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: aggregate must be a mapping like {{agg: sum, value: amount, where: ...}}")
    unknown = sorted(set(raw) - {"agg", "value", "where"})
    if unknown:
        raise CatalogError(f"{label}: {prefix.rstrip('.')} has unknown field(s) {unknown}; allowed: agg, value, where")
    agg = raw.get("agg")
    if agg not in AGGS:
        raise CatalogError(f"{label}: {prefix}agg {agg!r} is not one of {', '.join(AGGS)}")
    if agg == "days_since_last_event" and src != population:
        raise CatalogError(f"{label}: days_since_last_event is over the entity's population source "
                           f"{population!r} only (it is the population rule), not {src!r}")
    value, where = raw.get("value"), raw.get("where")
    if agg == "days_since_last_event" and (value is not None or where is not None):
        raise CatalogError(f"{label}: days_since_last_event takes no value or where")
    if agg in LIFETIME_AGGS and value is not None:
        raise CatalogError(f"{label}: {agg} takes no value (only where: which rows count)")
    if agg not in ("count", "days_since_last_event", *LIFETIME_AGGS) and value is None:
        raise CatalogError(f"{label}: {prefix.rstrip('.')} {agg} needs a value expression")
    columns: set[str] = set()
    if value is not None:
        value = _check_expression(value, label, f"{prefix}value", columns, src, known)
    if where is not None:
        where = _check_expression(where, label, f"{prefix}where", columns, src, known)
    if agg in ("days_since_last_event", *LIFETIME_AGGS):
        columns.add("event_date")
    if agg == "count" and value is None:
        columns.add(known[0])  # it counts rows: lineage names the row id (event_id for events)
    return agg, value, where, tuple(sorted(columns))


def _check_expression(text: Any, label: str, field: str, columns: set[str], src: str = DEFAULT_SOURCE,
                      known: tuple[str, ...] = RAW_EVENTS_COLUMNS) -> str:
    """Parse `text` with sqlglot; allow scalar expressions over the columns of source `src` only."""
    import sqlglot
    from sqlglot import exp

    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise CatalogError(f"{label}: {field} must be a SQL expression string, got {text!r}")
    text = str(text).strip()
    if ";" in text or "--" in text or "/*" in text:
        raise CatalogError(f"{label}: {field} {text!r} must be a single expression without ';' or comments")
    try:
        tree = sqlglot.parse_one(text)
    except sqlglot.errors.ParseError as exc:
        raise CatalogError(f"{label}: {field} {text!r} is not valid SQL: {str(exc).splitlines()[0]}") from None
    forbidden = (exp.Query, exp.Subquery, exp.AggFunc, exp.Window, exp.Star, exp.Placeholder)
    if isinstance(tree, (exp.Query, exp.Command, exp.DDL, exp.DML)) or any(
        isinstance(node, forbidden) for node in tree.walk()
    ):
        raise CatalogError(
            f"{label}: {field} {text!r} must be a scalar row expression (no subquery, aggregate, "
            "window function or *)"
        )
    for node in tree.walk():
        if (isinstance(node, exp.Func) and not isinstance(node, exp.Connector)  # AND/OR are operators
                and type(node).__name__ not in _SCALAR_FUNCTIONS):
            called = node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this)
            raise CatalogError(
                f"{label}: {field} {text!r} calls {called.lower()}(), which is not an allowed scalar "
                f"function; allowed: {', '.join(sorted(set(_SCALAR_FUNCTIONS.values())))}"
            )
    for col in tree.find_all(exp.Column):
        name = col.name.lower()
        if col.table or name not in known:
            what = "raw_events column" if src == DEFAULT_SOURCE else f"column of source {src!r}"
            raise CatalogError(
                f"{label}: {field} {text!r} references unknown {what} {col.sql()!r}; known: {', '.join(known)}"
            )
        columns.add(name)
    return f"({text})" if not isinstance(tree, (exp.Column, exp.Literal)) else text


def _parse_expectations(raw: Any, label: str) -> Expectations:
    if raw is None:
        return Expectations()
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: expectations must be a mapping of min, max, max_null_rate")
    unknown = sorted(set(raw) - {"min", "max", "max_null_rate"})
    if unknown:
        raise CatalogError(f"{label}: expectations has unknown field(s) {unknown}; allowed: min, max, max_null_rate")
    vals: dict[str, float | None] = {}
    for key in ("min", "max", "max_null_rate"):
        v = raw.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise CatalogError(f"{label}: expectations.{key} must be a finite number, got {v!r}")
        vals[key] = None if v is None else float(v)
    if vals["min"] is not None and vals["max"] is not None and vals["min"] > vals["max"]:
        raise CatalogError(f"{label}: expectations.min {vals['min']:g} is greater than max {vals['max']:g}")
    rate = vals["max_null_rate"]
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise CatalogError(f"{label}: expectations.max_null_rate {rate:g} must be between 0 and 1")
    return Expectations(**vals)
