"""`customer_features_online`: the latest snapshot per customer, as served.

Built in the warehouse (one statement, swapped in atomically): each customer's newest
`customer_features` row, served features only (active + deprecated), read through the patch layer,
with the snapshot date, its age and `is_stale` (age above a TTL, measured from the newest snapshot
or a given "as of" day). `get_online_features` fetches rows for a list of customer ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from feature_factory.catalog import Catalog
from feature_factory.features import patch_layer
from feature_factory.features.entities import CUSTOMER_TABLES, Entity
from feature_factory.warehouse.sql import quote_ident, sql_literal

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse

DEFAULT_TTL_DAYS = 2
_CHUNK = 1000  # ids per IN list (well under every engine's limit)
STATUS_COLUMNS = ("snapshot_date", "snapshot_age_days", "is_stale", "computed_at", "built_at")


class OnlineTableError(RuntimeError):
    """The online table cannot be built or read; the message says what is missing."""


@dataclass(frozen=True)
class OnlineResult:
    rows: int
    stale: int
    reference_date: dt.date | None
    features: tuple[str, ...]


def build_online_table(
    warehouse: Warehouse,
    catalog: Catalog,
    ttl_days: int = DEFAULT_TTL_DAYS,
    as_of: dt.date | None = None,
    built_at: dt.datetime | None = None,
    entity: Entity = CUSTOMER_TABLES,
) -> OnlineResult:
    """Rebuild the online table from `customer_features` (the remediation domain calls this too), or
    another entity's `<entity>_online` from its `<entity>_features`, each through its own active
    patches (the remediation domain's)."""
    if ttl_days < 0:
        raise ValueError(f"ttl_days must be >= 0, got {ttl_days}")
    served = catalog.served()
    source, key = entity.features_table, quote_ident(entity.key)
    have = {c for c, _ in warehouse.columns(source)}
    if not have:
        raise OnlineTableError(f"table {source} does not exist: materialize {source} first")
    missing = [f.name for f in served if f.name not in have]
    if missing:
        raise OnlineTableError(
            f"{source} has no column(s) {missing} for served feature(s): materialize "
            f"{source} after adding them to the catalog"
        )
    built_at = built_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    exprs = patch_layer.patched_expressions(warehouse, served, qualifier="l", table=entity.patch_tables[2])
    upto = f" WHERE snapshot_date <= {sql_literal(as_of)}" if as_of else ""
    ref = sql_literal(as_of) if as_of else "(SELECT MAX(snapshot_date) FROM ff_latest)"
    age = warehouse.date_diff_days("l.snapshot_date", ref)
    feature_cols = "".join(
        f"CAST({exprs[f.name]} AS {f.dtype.sql_type}) AS {quote_ident(f.name)}, " for f in served
    )
    sql = (
        f"WITH ff_ranked AS (SELECT f.*, ROW_NUMBER() OVER (PARTITION BY {key} "
        f"ORDER BY snapshot_date DESC) AS ff_rn FROM {quote_ident(source)} f{upto}), "
        "ff_latest AS (SELECT * FROM ff_ranked WHERE ff_rn = 1) "
        f"SELECT l.{key}, l.snapshot_date, {feature_cols}"
        f"CAST({age} AS BIGINT) AS snapshot_age_days, "
        f"CASE WHEN {age} > {int(ttl_days)} THEN TRUE ELSE FALSE END AS is_stale, "
        f"l.computed_at, {sql_literal(built_at)} AS built_at FROM ff_latest l"
    )
    rows = warehouse.replace_table(entity.online_table, sql)
    stats = warehouse.fetch_one(
        f"SELECT COUNT(CASE WHEN is_stale THEN 1 END), MAX(snapshot_date) FROM {quote_ident(entity.online_table)}"
    )
    reference = as_of or (stats[1] if stats else None)
    if isinstance(reference, dt.datetime):
        reference = reference.date()
    return OnlineResult(rows, int(stats[0] or 0) if stats else 0, reference, tuple(f.name for f in served))


def online_ids(warehouse: Warehouse, limit: int, entity: Entity = CUSTOMER_TABLES) -> list[str]:
    """The first `limit` ids of the entity's online table in key order (none before it is built)."""
    if not warehouse.table_exists(entity.online_table):
        return []
    key = quote_ident(entity.key)
    return [str(r[0]) for r in warehouse.fetch_all(
        f"SELECT {key} FROM {quote_ident(entity.online_table)} ORDER BY {key} LIMIT {int(limit)}")]


def get_online_features(
    warehouse: Warehouse, customer_ids: Sequence[str], features: Sequence[str] | None = None,
    entity: Entity = CUSTOMER_TABLES,
) -> pd.DataFrame:
    """One row per requested id, in request order (duplicates repeated): `customer_id` (another
    entity: its key column), `found`, the status columns and the features. Unknown ids come back
    with found=False and NULLs."""
    if isinstance(customer_ids, (str, bytes)) or not isinstance(customer_ids, Sequence):
        raise TypeError(f"ids must be a list of {entity.name} id strings, not a single value")
    table, key = entity.online_table, entity.key
    types = dict(warehouse.columns(table))
    if not types:
        raise OnlineTableError(f"table {table} does not exist: materialize {table} first")
    feature_cols = [c for c in types if c not in (key, *STATUS_COLUMNS)]
    if features is not None:
        unknown = [f for f in features if f not in feature_cols]
        if unknown:
            raise KeyError(f"not served in {table}: {unknown}; served: {feature_cols}")
        feature_cols = list(features)
    cols = [key, *[c for c in STATUS_COLUMNS if c in types], *feature_cols]
    wanted = list(dict.fromkeys(str(c) for c in customer_ids if c is not None))
    parts = [
        warehouse.fetch_df(
            f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM {quote_ident(table)} "
            f"WHERE {quote_ident(key)} IN ({', '.join('?' for _ in chunk)})",
            chunk,
        )
        for chunk in (wanted[i:i + _CHUNK] for i in range(0, len(wanted), _CHUNK))
    ]
    rows = {r[key]: r for part in parts for r in part.to_dict("records")}
    records = []
    for cid in customer_ids:
        sid = None if cid is None else str(cid)
        hit = rows.get(sid)
        records.append({**dict.fromkeys(cols), **(hit or {}), key: sid, "found": hit is not None})
    out = pd.DataFrame.from_records(records, columns=[key, "found", *cols[1:]])
    for c in cols[1:]:
        out[c] = _as_dtype(out[c], types[c])
    return out


def _as_dtype(values: pd.Series, sql_type: str) -> pd.Series:
    """Stable dtypes whether or not ids were found (NULL-able integers and booleans)."""
    t = sql_type.upper()
    if t in ("BIGINT", "INTEGER", "NUMBER"):
        return pd.to_numeric(values).astype("Int64")
    if t in ("DOUBLE", "FLOAT"):
        return pd.to_numeric(values).astype("float64")
    if t == "BOOLEAN":
        return values.astype("boolean")
    if t == "DATE":
        return values.map(lambda v: None if pd.isna(v) else pd.Timestamp(v).date())
    return values
