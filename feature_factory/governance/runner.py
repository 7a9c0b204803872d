"""Erase and export with a code location's resources (the job and the commands share this).

`resources` is the mapping `deployment.resources_for()` returns (or a run's resources): the
warehouse, the catalog (sources and training sets), the homes (the erasure salt, landing folders),
the online store and the model registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from feature_factory.catalog.loader import catalog_path
from feature_factory.catalog.training_sets import TrainingSetSpec, load_training_sets
from feature_factory.governance.erase import ErasureRequest, ErasureResult, erase_entity
from feature_factory.governance.export import ExportManifest, export_entity


def training_sets(catalog: Any) -> tuple[TrainingSetSpec, ...]:
    """The catalog's declared training sets (a catalog resource handed in without a file has none)."""
    path = getattr(catalog, "catalog_path", None) or catalog_path()
    return load_training_sets(path) if Path(path).exists() else ()


def _homes(resources: Mapping[str, Any]):
    homes = resources["homes"]
    return homes.homes() if hasattr(homes, "homes") else homes


def erase_with(resources: Mapping[str, Any], request: ErasureRequest) -> ErasureResult:
    catalog = resources["catalog"]
    return erase_entity(resources["warehouse"], request, sources=catalog.sources(),
                        training_sets=training_sets(catalog), homes=_homes(resources),
                        store=resources["online_store"].store(request.entity),
                        registry=resources["model_registry"].open())


def export_with(resources: Mapping[str, Any], entity: str, ids: Sequence[str], out: Path,
                fmt: str = "parquet") -> ExportManifest:
    catalog = resources["catalog"]
    return export_entity(resources["warehouse"], entity, ids, out, sources=catalog.sources(),
                         training_sets=training_sets(catalog), store=resources["online_store"].store(entity),
                         fmt=fmt)
