"""The code location `feature_factory.definitions`: each domain's Definitions, merged, with the
deployment's resources and executor attached."""

import dagster as dg

from feature_factory import deployment
from feature_factory.events import definitions as events

# Modules, not their `defs` objects: Dagster allows one Definitions at module scope.
DOMAINS = [events]

defs = dg.Definitions.merge(
    *(domain.defs for domain in DOMAINS),
    dg.Definitions(resources=deployment.resources_for(), executor=deployment.executor_for()),
)
