"""The patch layer: the one seam through which served, trained and monitored features are read.

`patched_expressions(warehouse, features)` maps each feature name to a SQL expression over its
unpatched `customer_features` column. With no applied remediation patch it is the bare column (the
identity); with patches it is rendered by `feature_factory.remediation.active` from the typed,
re-validated parameters of the active patches — never from SQL text stored in a table. Callers
select `{expr} AS {name} FROM customer_features` (or pass `qualifier="f"` to get `f.<column>`).
"""

from __future__ import annotations

from collections.abc import Sequence

from feature_factory.catalog import FeatureSpec
from feature_factory.warehouse.base import Warehouse


def patched_expressions(
    warehouse: Warehouse, features: Sequence[FeatureSpec], qualifier: str | None = None
) -> dict[str, str]:
    """Feature name -> SQL expression over the unpatched column, with the active patches applied.

    Raises `PatchValidationError` if an active patch no longer validates (unknown or retired
    feature, tampered or out-of-range parameters): better a failed build than a silently wrong one.
    """
    from feature_factory.remediation.active import patched_expressions as _active

    return _active(warehouse, features, qualifier)
