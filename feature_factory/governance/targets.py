"""Where one entity's ids live: every warehouse table the project writes that holds them, derived
from the contracts, never a hand list (no Dagster here).

For entity `E` (the sources file's `entities:`), the tables are, in this order:

| from | tables | key column |
|---|---|---|
| each source keyed by E (`entity_keys: {E: col}`, events/layout.py) | its raw table, its quarantine, its staged landing rows | `col` (landed text: normalized as ingestion normalizes it) |
| E's resolved record (features/entities.py) | `<E>_features` (every snapshot day), `<E>_features_online`, the first-seen cache | E's key |
| every other contract of `tables.ALL` with E's key column | churn_labels, training_set, inference_results (the customer's model) | E's key |
| the catalog's `training_sets:` | each set joining E (its `key:` column) or keeping a spine column keyed by E | that column |
| the warehouse itself | any other base table with a column named like one of E's key columns (a snapshot, a copy, a table a later issue adds) | that column |

The last row is the safety net that keeps the list from rotting: what the contracts do not name
yet is still found, and said to be found (`Target.why`). A source read in place from a user's
own table (`location: {table: ...}`) is not the project's to change: it is reported, not erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.catalog.sources import SourceCatalog
from feature_factory.catalog.training_sets import TrainingSetSpec
from feature_factory.events import layout
from feature_factory.events import validation as rules
from feature_factory.features.entities import entity_tables
from feature_factory.warehouse.base import Warehouse, quote_ident

_CHUNK = 1000  # ids per IN list


@dataclass(frozen=True)
class Target:
    """A table holding an entity's ids in `column`; `normalized` is the SQL giving the id as the
    pipeline stores it (landed text is trimmed, cased, mapped as the source's rules say)."""

    table: str
    column: str
    normalized: str
    why: str

    def where(self, count: int) -> str:
        """`<normalized> IN (?, ...)` for `count` ids (bound as parameters, never spliced)."""
        return f"{self.normalized} IN ({', '.join('?' for _ in range(count))})"


def chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def declared_targets(entity: str, sources: SourceCatalog,
                     training_sets: Sequence[TrainingSetSpec] = ()) -> list[Target]:
    """The tables the contracts say hold `entity`'s ids (whether or not they exist yet)."""
    e = entity_tables(entity, sources)  # a KeyError naming the sources file for an unknown entity
    out: dict[str, Target] = {}

    def add(t: Target) -> None:
        out.setdefault(t.table, t)

    for src in sources.sources:
        keys = dict(src.entity_keys)
        if entity not in keys:
            continue
        col = keys[entity]
        t = layout.source_tables(src)
        landed = rules.value_sql(src.column(col), quote_ident(col))
        add(Target(t.raw, col, quote_ident(col), f"raw table of source {src.name}"))
        add(Target(t.quarantine, col, landed, f"quarantine of source {src.name} (landed text)"))
        add(Target(t.landing_rows, col, landed, f"staged landing rows of source {src.name} (landed text)"))
    key = quote_ident(e.key)
    for contract in e.contracts:
        add(Target(contract.name, e.key, key, f"{entity}'s {'online table' if contract is e.contracts[1] else 'feature snapshots, every day'}"))
    add(Target(e.names.first_seen, e.key, key, "root-cause attribution's first-seen cache"))
    for contract in tables.ALL:
        if e.key in contract.names:
            add(Target(contract.name, e.key, key, f"table contract {contract.name} ({contract.owner})"))
    for ts in training_sets:
        spine_key = dict(_spine_keys(ts, sources)).get(entity)
        columns = {j.on for j in ts.joins if j.entity == entity} | ({spine_key} if spine_key in ts.columns else set())
        for col in sorted(columns):
            add(Target(ts.name, col, quote_ident(col), f"catalog training set {ts.name}"))
    return list(out.values())


def _spine_keys(ts: TrainingSetSpec, sources: SourceCatalog) -> tuple[tuple[str, str], ...]:
    try:
        return sources.get(ts.source).entity_keys
    except KeyError:
        return ()


def key_columns(entity: str, sources: SourceCatalog) -> set[str]:
    """Every column name that holds `entity`'s key somewhere: its key and each source's key column."""
    e = entity_tables(entity, sources)
    return {e.key, *(dict(s.entity_keys)[entity] for s in sources.sources if entity in dict(s.entity_keys))}


def user_tables(sources: SourceCatalog) -> set[str]:
    """Sources read in place from a user's table: not the project's to erase from (reported)."""
    return {s.table.lower() for s in sources.sources if s.table}


def base_tables(warehouse: Warehouse) -> dict[str, list[str]]:
    """Base tables of the warehouse's current schema (views excluded) -> their lower-case columns."""
    rows = warehouse.fetch_all(
        "SELECT lower(c.table_name), lower(c.column_name) FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position")
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def plan(warehouse: Warehouse, entity: str, sources: SourceCatalog,
         training_sets: Sequence[TrainingSetSpec] = ()) -> tuple[list[Target], list[str]]:
    """(targets that exist in the warehouse, the user tables holding a key column: reported only).
    Declared targets first, then every other base table with one of the entity's key columns."""
    existing = base_tables(warehouse)
    mine = user_tables(sources)
    keys = key_columns(entity, sources)
    found = [t for t in declared_targets(entity, sources, training_sets)
             if t.column in existing.get(t.table.lower(), ()) and t.table.lower() not in mine]
    named = {t.table.lower() for t in found}
    for table, columns in existing.items():
        if table in named or table in mine:
            continue
        col = next((c for c in columns if c in keys), None)
        if col is None:
            continue
        try:
            quote_ident(table)
        except ValueError:  # a name the project never makes: someone else's table, reported
            mine.add(table)
            continue
        found.append(Target(table, col, quote_ident(col),
                            f"found in the warehouse: a table with column {col} no contract names"))
    reported = sorted(t for t in mine if set(existing.get(t, ())) & keys)
    return found, reported
