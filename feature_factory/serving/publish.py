"""Copy `customer_features_online` (or another entity's `<entity>_features_online`) from the
warehouse into an online store as a new version.

The online table has one row per customer (its size grows with customers, never with events); it
is read in keyset pages ordered by its key (customer_id, product_id, ...) so memory stays bounded on any warehouse, and
written to the store as one version that becomes current atomically. If the online table is rebuilt
while the pages are read (its `built_at` changes), the publish fails instead of mixing two builds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

from feature_factory.catalog import Catalog
from feature_factory.dates import as_date
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.features.online import DEFAULT_TTL_DAYS, STATUS_COLUMNS
from feature_factory.precision import plain_double
from feature_factory.serving.store import FeatureField, OnlineStore, StoreError, StoreMeta, new_version, store_asset
from feature_factory.warehouse.sql import quote_ident

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse

PAGE_ROWS = 50_000


def _dtype(sql_type: str) -> str:
    t = sql_type.upper()
    if t.startswith(("BIGINT", "INT", "SMALLINT", "TINYINT", "HUGEINT")) or t.startswith("NUMBER(38,0)"):
        return "BIGINT"
    if t.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMBER", "NUMERIC")):
        return "DOUBLE"
    if t.startswith("BOOL"):
        return "BOOLEAN"
    return "VARCHAR"


def _plain(value, dtype: str):
    """A JSON- and SQLite-friendly Python value (no NaN, no Decimal, no numpy scalars)."""
    if value is None:
        return None
    if dtype == "DOUBLE":
        # The declared precision: 2977.88, not the 2977.8799999999997 a SUM of cents leaves behind.
        return plain_double(value)
    if dtype == "BIGINT":
        return int(value)
    if dtype == "BOOLEAN":
        return bool(value)
    return str(value)


def online_fields(warehouse: Warehouse, catalog: Catalog | None = None,
                  entity: Entity = CUSTOMER_TABLES) -> tuple[FeatureField, ...]:
    """The served features of the entity's online table (descriptions from `catalog`: the entity's)."""
    table = entity.online_table
    types = warehouse.columns(table)
    if not types:
        raise StoreError(f"table {table} does not exist: materialize {table} first")
    described = {f.name: f for f in catalog.features} if catalog else {}
    return tuple(FeatureField(c, _dtype(t), described[c].description if c in described else "",
                              pii=described[c].pii if c in described else False)
                 for c, t in types if c.lower() not in (entity.key, *STATUS_COLUMNS))


def publish(warehouse: Warehouse, store: OnlineStore, catalog: Catalog | None = None,
            ttl_days: int = DEFAULT_TTL_DAYS, page_rows: int = PAGE_ROWS,
            now: dt.datetime | None = None, entity: Entity = CUSTOMER_TABLES) -> StoreMeta:
    """Write the entity's online table (customer_features_online by default) as a new version of
    `store` (the entity's store) and make it current. Returns its meta."""
    fields = online_fields(warehouse, catalog, entity)
    table, key = quote_ident(entity.online_table), quote_ident(entity.key)
    have = {c.lower() for c, _ in warehouse.columns(entity.online_table)}
    now = (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None, microsecond=0)
    newest = as_date(warehouse.fetch_one(f"SELECT MAX(snapshot_date) FROM {table}")[0])
    # Ages as the online table measured them (from its reference day); else from the newest snapshot.
    age = "snapshot_age_days" if "snapshot_age_days" in have else (
        warehouse.date_diff_days("snapshot_date", f"(SELECT MAX(snapshot_date) FROM {table})"))
    stamp = "built_at" if "built_at" in have else "NULL"
    cols = ", ".join(quote_ident(f.name) for f in fields)
    select = f"SELECT {key}, snapshot_date, CAST({age} AS BIGINT), {stamp}{', ' if cols else ''}{cols} FROM {table}"
    first = warehouse.fetch_one(f"SELECT snapshot_date, CAST({age} AS BIGINT) FROM {table} "
                                "WHERE snapshot_date IS NOT NULL LIMIT 1")
    reference = (as_date(first[0]) + dt.timedelta(days=int(first[1] or 0))) if first else newest
    dtypes = [f.dtype for f in fields]
    names = [f.name for f in fields]

    def pages() -> Iterator[list[tuple]]:
        last, built = None, ...
        while True:
            where = f" WHERE {key} > ?" if last is not None else ""
            got = warehouse.fetch_all(f"{select}{where} ORDER BY {key} LIMIT {int(page_rows)}",
                                      [last] if last is not None else None)
            if not got:
                return
            for r in (got[0], got[-1]):
                if built is ...:
                    built = r[3]
                elif r[3] != built:
                    raise StoreError(f"{entity.online_table} was rebuilt while it was being published; "
                                     f"materialize {store_asset(entity.name)} again")
            # orjson leaves each result in its over-sized output buffer (~8 KB for ~300 bytes of JSON):
            # a 50,000-row page held ~0.4 GB and was a one-day refresh's peak RSS. A copy is exact.
            yield [(str(r[0]), None if r[1] is None else as_date(r[1]).isoformat(),
                    None if r[2] is None else int(r[2]),
                    memoryview(orjson.dumps({n: _plain(v, d) for n, v, d in zip(names, r[4:], dtypes)})).tobytes())
                   for r in got]
            last = got[-1][0]

    meta = StoreMeta(version=new_version(), built_at=now.isoformat(),
                     reference_date=reference.isoformat() if reference else None,
                     ttl_days=int(ttl_days), rows=0, features=fields, source=entity.online_table)
    return store.write(meta, pages())
