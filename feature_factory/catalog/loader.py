"""Load and validate the catalog. (Skeleton: the features issue fills in validation and the YAML.)"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from feature_factory.catalog.spec import FeatureSpec

DEFAULT_PATH = Path(__file__).with_name("features.yaml")


class CatalogError(ValueError):
    """An invalid catalog entry; the message names the entry."""


@dataclass(frozen=True)
class Catalog:
    features: tuple[FeatureSpec, ...]

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


def load_catalog(path: str | Path | None = None) -> Catalog:
    raise NotImplementedError("catalog loader is built by the features issue")
