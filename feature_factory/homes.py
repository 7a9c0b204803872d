"""The `homes` resource: the project's folders as the code location's resource, so every asset and
sensor that reads the landing folder, writes a report or links one reads the folders the
deployment (or the demo) chose, instead of the process environment.

`HomesResource()` (what `deployment.resources_for` builds) reads the environment when a run uses
it, as before; the demo passes `HomesResource(home=..., landing=...)` for its own folders.
"""

from __future__ import annotations

import dagster as dg

from feature_factory.settings import Homes


class HomesResource(dg.ConfigurableResource, Homes):
    """Project home, landing folder, Dagster instance folder and reports URL (fields: `Homes`)."""

    def homes(self) -> Homes:
        """The plain settings model, for the Dagster-free logic."""
        return Homes(**{name: getattr(self, name) for name in Homes.model_fields})
