"""The patch layer: the one seam through which served, trained and monitored features are read.

`patched_expressions(warehouse, features)` maps each feature name to a SQL expression over its
unpatched `customer_features` column (or another entity's: its own active patches, `table`).
With no applied remediation patch it is the bare column (the
identity); with patches it is rendered from the typed, re-validated parameters of the active
patches (`feature_factory.features.patches`) — never from SQL text stored in a table. Callers
select `{expr} AS {name} FROM customer_features` (or pass `qualifier="f"` to get `f.<column>`).

The active patches live in `feature_patches_active`. Remediation writes it (apply inserts, rollback
deletes); this module only reads it, so features never import remediation. Rows are data, not
code: each is rebuilt into its typed patch class (`patch_from_record`), its content must still hash
to its id, and it is validated against the catalog handed in (feature present, not retired,
parameters in range) before SQL is rendered. A row that fails is refused loudly
(`PatchValidationError`) instead of being skipped, so serving never silently drops or alters a
reviewed fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from feature_factory import tables
from feature_factory.catalog import Catalog, FeatureSpec
from feature_factory.features import patches
from feature_factory.warehouse.interface import Session, clean_row
from feature_factory.warehouse.sql import quote_ident

if TYPE_CHECKING:  # the resource class is Dagster's; only its type is needed here
    from feature_factory.warehouse.base import Warehouse


def fetch_active(session: Session, features: Sequence[str] | None = None,
                 table: tables.Table = tables.FEATURE_PATCHES_ACTIVE) -> list[dict[str, Any]]:
    """Rows of `feature_patches_active` (or another entity's `table`; only `features`, when given),
    oldest applied first."""
    where, params = "", []
    if features is not None:
        if not features:
            return []
        where = f" WHERE feature IN ({', '.join('?' for _ in features)})"
        params = list(features)
    df = session.fetch_df(f"SELECT * FROM {table}{where} ORDER BY applied_at, patch_id", params)
    return [clean_row(r) for r in df.to_dict("records")]


def load_active(
    warehouse: Warehouse, catalog: Catalog, features: Sequence[str] | None = None,
    table: tables.Table = tables.FEATURE_PATCHES_ACTIVE,
) -> dict[str, list[patches.Patch]]:
    """Validated active patches by feature (only `features`, when given), from `table` (another
    entity's active patches: `Entity.patch_tables`).

    Every active row is rebuilt and checked against its id, not only the requested ones: a row
    whose feature name was altered would otherwise just drop out of the filter, silently.
    """
    with warehouse.session() as s:
        if not warehouse.session_columns(s, table.name):
            return {}
        rows = fetch_active(s, table=table)
    wanted = None if features is None else set(features)
    out: dict[str, list[patches.Patch]] = {}
    for row in rows:
        patch = patches.patch_from_record(
            row["action"], row["feature"], row["baseline_version"], row["params"], patch_id=row["patch_id"]
        )
        if wanted is not None and patch.feature not in wanted:
            continue
        patch.validate(catalog)
        out.setdefault(patch.feature, []).append(patch)
    return out


def expressions_for(
    active: dict[str, list[patches.Patch]], features: Sequence[FeatureSpec], catalog: Catalog,
    qualifier: str | None = None,
) -> dict[str, str]:
    """Each feature's SQL expression over its unpatched column, with `active` patches applied."""
    prefix = f"{quote_ident(qualifier)}." if qualifier else ""
    return {
        f.name: patches.compose(active.get(f.name, []), prefix + quote_ident(f.name), catalog, prefix)
        for f in features
    }


def patched_expressions(
    warehouse: Warehouse, features: Sequence[FeatureSpec], qualifier: str | None = None,
    table: tables.Table = tables.FEATURE_PATCHES_ACTIVE,
) -> dict[str, str]:
    """Feature name -> SQL expression over the unpatched column, with the active patches applied.

    Raises `PatchValidationError` if an active patch no longer validates (unknown or retired
    feature, tampered or out-of-range parameters): better a failed build than a silently wrong one.
    """
    features = list(features)
    catalog = Catalog(tuple(features))
    active = load_active(warehouse, catalog, [f.name for f in features], table)
    return expressions_for(active, features, catalog, qualifier)
