"""The model registry as a Dagster resource: the deployment (definitions.py) chooses where models
live, and every asset, check and sensor that reads or writes models gets the same registry."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_factory.ml.registry import ModelRegistry


class ModelRegistryResource(dg.ConfigurableResource):
    """Versioned churn models with their status (champion, challenger, archived) and history."""

    root: str | None = Field(
        default=None, description="Directory of the registry (index + model files); default "
        "$FEATURE_FACTORY_HOME/models.")

    def open(self) -> ModelRegistry:
        return ModelRegistry(self.root)

    def champion_features(self) -> set[str]:
        """Features the current champion reads; empty without a champion (the drift sensor's hook)."""
        champ = self.open().champion()
        return set(champ.features) if champ else set()
