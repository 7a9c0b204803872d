"""The active patches, re-validated, as SQL expressions: the logic behind the patch layer.

Rows of `feature_patches_active` are data, not code: each is rebuilt into its typed patch class
(`patch_from_record`), its content must still hash to its id, and it is validated against the
catalog handed in (feature present, not retired, parameters in range) before SQL is rendered from
the typed values. A row that fails is refused loudly (`PatchValidationError`) instead of being
skipped, so serving never silently drops or alters a reviewed fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from feature_factory.catalog import Catalog, FeatureSpec
from feature_factory.remediation import patches as P
from feature_factory.remediation import store
from feature_factory.warehouse.base import Warehouse, quote_ident


def load_active(warehouse: Warehouse, catalog: Catalog, features: Sequence[str] | None = None) -> dict[str, list[P.Patch]]:
    """Validated active patches by feature (only `features`, when given).

    Every active row is rebuilt and checked against its id, not only the requested ones: a row
    whose feature name was altered would otherwise just drop out of the filter, silently.
    """
    with warehouse.session() as s:
        if not warehouse._session_columns(s, store.ACTIVE):
            return {}
        rows = store.fetch_active(s)
    wanted = None if features is None else set(features)
    out: dict[str, list[P.Patch]] = {}
    for row in rows:
        patch = P.patch_from_record(
            row["action"], row["feature"], row["baseline_version"], row["params"], patch_id=row["patch_id"]
        )
        if wanted is not None and patch.feature not in wanted:
            continue
        patch.validate(catalog)
        out.setdefault(patch.feature, []).append(patch)
    return out


def expressions_for(
    active: dict[str, list[P.Patch]], features: Sequence[FeatureSpec], catalog: Catalog, qualifier: str | None = None
) -> dict[str, str]:
    """Each feature's SQL expression over its unpatched column, with `active` patches applied."""
    prefix = f"{quote_ident(qualifier)}." if qualifier else ""
    return {
        f.name: P.compose(active.get(f.name, []), prefix + quote_ident(f.name), catalog, prefix) for f in features
    }


def patched_expressions(
    warehouse: Warehouse, features: Sequence[FeatureSpec], qualifier: str | None = None
) -> dict[str, str]:
    """See `feature_factory.features.patch_layer.patched_expressions`."""
    features = list(features)
    catalog = Catalog(tuple(features))
    active = load_active(warehouse, catalog, [f.name for f in features])
    return expressions_for(active, features, catalog, qualifier)
