"""The catalog's error and its field check, shared by the feature catalog (loader.py), the sources
file (sources.py) and the entity spec (entity_spec.py) without importing one another."""

from __future__ import annotations

from typing import Any


class CatalogError(ValueError):
    """An invalid catalog entry; the message names the entry."""


def check_fields(raw: dict[str, Any], label: str, allowed: frozenset[str] | set[str],
                 required: tuple[str, ...] = (), empty: tuple[Any, ...] = (None, "")) -> None:
    """Refuse a YAML mapping with a field outside `allowed`, or a `required` field that is missing
    or `empty` (the catalog's and the sources file's entries, one message shape for all)."""
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise CatalogError(f"{label}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    for key in required:
        if raw.get(key) in empty:
            raise CatalogError(f"{label}: missing required field {key!r}")
