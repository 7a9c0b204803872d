"""The code location `feature_factory.definitions`: each domain's Definitions, merged, with the
deployment's resources and executor attached."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from feature_factory import deployment, wiring
from feature_factory.events import definitions as events
from feature_factory.features import definitions as features
from feature_factory.governance import definitions as governance
from feature_factory.health import definitions as health
from feature_factory.health import freshness
from feature_factory.ml import definitions as ml
from feature_factory.monitoring import definitions as monitoring
from feature_factory.remediation import definitions as remediation
from feature_factory.serving import definitions as serving

# Modules, not their `defs` objects: Dagster allows one Definitions at module scope.
DOMAINS = [events, features, ml, remediation, monitoring, serving, health, governance]


def build_defs(resources: Mapping[str, Any] | None = None,
               executor: dg.ExecutorDefinition | None = None) -> dg.Definitions:
    """The merged Definitions with `resources` (default: the deployment's, read from the
    environment now) and `executor` (default: the deployment's). The demo passes its own choices
    (its folders as `homes`, remediation mode and policy) instead of changing the environment; the
    deployment's resources follow a given `homes` (warehouse file, model registry, online store)."""
    resources = {**deployment.resources_for(homes=(resources or {}).get("homes")), **(resources or {})}
    return freshness.declare(dg.Definitions.merge(  # freshness policies on the key assets (issue 31)
        *(domain.defs for domain in DOMAINS),
        wiring.build(resources["model_registry"]),  # the cross-domain sensors
        dg.Definitions(resources=resources, executor=executor or deployment.executor_for()),
    ))


defs = build_defs()
