"""The code location `feature_factory.definitions`: each domain's Definitions, merged, with the
deployment's resources and executor attached."""

import dagster as dg

from feature_factory import deployment, wiring
from feature_factory.events import definitions as events
from feature_factory.features import definitions as features
from feature_factory.ml import definitions as ml
from feature_factory.monitoring import definitions as monitoring
from feature_factory.remediation import definitions as remediation
from feature_factory.serving import definitions as serving

# Modules, not their `defs` objects: Dagster allows one Definitions at module scope.
DOMAINS = [events, features, ml, remediation, monitoring, serving]


def build_defs() -> dg.Definitions:
    """The merged Definitions with resources read from the environment now (the demo builds its
    own after choosing its remediation mode)."""
    return dg.Definitions.merge(
        *(domain.defs for domain in DOMAINS),
        wiring.defs,  # the cross-domain sensors
        dg.Definitions(resources=deployment.resources_for(), executor=deployment.executor_for()),
    )


defs = build_defs()
