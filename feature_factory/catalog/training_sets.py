"""Training sets declared in the feature catalog: a spine of rows from a source, each joined point
in time with the features of one or more entities (no Dagster here; the asset factory is
`ml/joined_training_sets.py`, the SQL `features/point_in_time.py`).

    training_sets:
      - name: order_training_set
        description: "Each placed order line with its buyer's and its product's features."
        spine: {source: orders, columns: [order_line_id, customer_id, product_id, status]}
        time: placed_at                 # the spine's event time: features as of the day before
        joins:
          - {entity: customer, key: customer_id, features: [purchases_7d, revenue_7d]}
          - {entity: product, key: product_id, features: [orders_7d, revenue_7d], prefix: product_}
        ttl_days: 2                     # older snapshots give NULL features

Every problem is a `CatalogError` naming the file, the training set and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pathlib import Path

from feature_factory.catalog.loader import CatalogError, catalog_path, check_fields, load_catalog
from feature_factory.catalog.sources import load_sources
from feature_factory.catalog.spec import FeatureSpec

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_KEYS = {"name", "description", "owner", "spine", "time", "joins", "ttl_days"}
_SPINE_KEYS = {"source", "columns"}
_JOIN_KEYS = {"entity", "key", "features", "prefix"}  # not `on`: YAML reads an unquoted on as true


@dataclass(frozen=True)
class JoinSpec:
    entity: str
    on: str  # `key:` in the YAML, the spine column holding the entity's key
    features: tuple[str, ...]
    prefix: str = ""


@dataclass(frozen=True)
class TrainingSetSpec:
    name: str  # the table and asset name
    description: str
    owner: str
    source: str  # the spine's source
    spine_table: str  # its raw table
    columns: tuple[str, ...]  # spine columns kept (the time column included)
    time: str
    joins: tuple[JoinSpec, ...]
    ttl_days: int = 2

    @property
    def output_columns(self) -> tuple[str, ...]:
        return (*self.columns, *(j.prefix + f for j in self.joins for f in j.features))


def load_training_sets(path: str | Path | None = None) -> tuple[TrainingSetSpec, ...]:
    """The `training_sets:` of the catalog file (default `catalog_path()`), validated."""
    import yaml

    path = Path(path) if path is not None else catalog_path()
    catalog = load_catalog(path)  # a bad feature entry is reported first, as it is everywhere
    doc = yaml.safe_load(path.read_text())
    return parse_training_sets(doc.get("training_sets"), (*catalog.features, *catalog.others), None, str(path))


def parse_training_sets(raw: Any, features: tuple[FeatureSpec, ...], sources, path: str) -> tuple[TrainingSetSpec, ...]:
    """`training_sets:` of the catalog file at `path`, checked against its `features` (every
    entity's) and the sources catalog."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CatalogError(f"catalog {path}: 'training_sets' must be a list of entries")
    out, names = [], set()
    for i, entry in enumerate(raw, start=1):
        label = f"{path}: training set #{i}"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            label += f" ({entry['name']!r})"
        spec = _parse(entry, label, features, sources)
        if spec.name in names:
            raise CatalogError(f"{label}: name {spec.name!r} is used by another training set")
        names.add(spec.name)
        out.append(spec)
    return tuple(out)


def _parse(entry: Any, label: str, features: tuple[FeatureSpec, ...], sources) -> TrainingSetSpec:
    if not isinstance(entry, dict):
        raise CatalogError(f"{label}: expected a mapping with name, spine, time and joins")
    check_fields(entry, label, _KEYS, ("name", "spine", "time", "joins"), empty=(None, "", {}, []))
    name = entry["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise CatalogError(f"{label}: name {name!r} is not a lower-case snake_case table name")
    spine = entry["spine"]
    if not isinstance(spine, dict):
        raise CatalogError(f"{label}: spine must be a mapping {{source: <source>, columns: [...]}}")
    check_fields(spine, f"{label}: spine", _SPINE_KEYS, ("source",))
    sources = sources or load_sources()
    try:
        src = sources.get(spine["source"])
    except KeyError as exc:
        raise CatalogError(f"{label}: spine.source: {exc.args[0]}") from None
    known = [*src.column_names(), "event_date"]
    time = entry["time"]
    if time != src.event_time:
        raise CatalogError(f"{label}: time {time!r} is not the event_time of source {src.name!r} ({src.event_time})")
    columns = spine.get("columns") or list(src.key_columns)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise CatalogError(f"{label}: spine.columns must be a list of column names of source {src.name!r}")
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise CatalogError(f"{label}: spine.columns {unknown} are not columns of source {src.name!r}; "
                           f"known: {', '.join(known)}")
    columns = list(dict.fromkeys([*columns, time]))
    joins = entry["joins"]
    if not isinstance(joins, list):
        raise CatalogError(f"{label}: joins must be a list of {{entity, key, features}}")
    parsed = tuple(_join(j, f"{label}: joins[{k}]", columns, features, sources) for k, j in enumerate(joins))
    seen: dict[str, str] = {c: "the spine" for c in columns}
    for j in parsed:
        for f in j.features:
            out = j.prefix + f
            if out in seen:
                raise CatalogError(f"{label}: output column {out!r} of the {j.entity} join is also in {seen[out]}; "
                                   "give the join a prefix (e.g. prefix: product_)")
            seen[out] = f"the {j.entity} join"
    ttl = entry.get("ttl_days", 2)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise CatalogError(f"{label}: ttl_days must be a positive integer, got {ttl!r}")
    return TrainingSetSpec(name, str(entry.get("description") or "").strip(), str(entry.get("owner") or ""),
                           src.name, src.raw_table, tuple(columns), time, parsed, ttl)


def _join(raw: Any, label: str, columns: list[str], features: tuple[FeatureSpec, ...], sources) -> JoinSpec:
    if not isinstance(raw, dict):
        raise CatalogError(f"{label}: expected {{entity, key, features}}")
    check_fields(raw, label, _JOIN_KEYS, ("entity", "key", "features"), empty=(None, "", []))
    entity = raw["entity"]
    try:
        sources.entity(entity)
    except KeyError as exc:
        raise CatalogError(f"{label}: entity: {exc.args[0]}") from None
    if raw["key"] not in columns:
        raise CatalogError(f"{label}: key {raw['key']!r} is not a spine column ({', '.join(columns)})")
    names = raw["features"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CatalogError(f"{label}: features must be a list of feature names of entity {entity!r}")
    have = {f.name: f for f in features if f.entity == entity}
    missing = [n for n in names if n not in have or not have[n].computed]
    if missing:
        raise CatalogError(f"{label}: features {missing} are not computed features of entity {entity!r}; "
                           f"known: {', '.join(n for n, f in have.items() if f.computed)}")
    prefix = raw.get("prefix", "")
    if prefix and not _NAME.match(prefix + "x"):
        raise CatalogError(f"{label}: prefix {prefix!r} must make snake_case column names")
    return JoinSpec(entity, raw["key"], tuple(names), prefix)
