"""Approval policy: a YAML allowlist of feature x action (optionally capped by severity and limited
to diagnoses, e.g. auto-approve `clip` only for `tail_contamination`).

See `policy.example.yaml` for the format. A malformed file is refused as a whole, with an error
naming the file and the rule, rather than half-applied: a policy decides what changes without a
human, so it must mean exactly what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from feature_factory.catalog import Catalog
from feature_factory.features.patches import ACTIONS
from feature_factory.monitoring.kinds import Diagnosis
from feature_factory.remediation.rules import SEVERITIES, severity_rank
from feature_factory.warehouse.sql import quote_ident

EXAMPLE_PATH = Path(__file__).with_name("policy.example.yaml")
_RULE_KEYS = {"feature", "actions", "max_severity", "diagnoses", "entity"}
# The diagnoses a rule may name: the stored values of monitoring's enum (one list, not a copy).
DIAGNOSES = tuple(str(d) for d in Diagnosis)


class PolicyError(ValueError):
    """An invalid policy file; the message names the file and the rule."""


@dataclass(frozen=True)
class PolicyRule:
    feature: str  # a feature name or "*"
    actions: frozenset[str]
    max_severity: str | None = None
    diagnoses: frozenset[str] | None = None  # None: any (also patches proposed without a diagnosis)
    entity: str | None = None  # None: the patches of every entity (customer, product, ...)

    def allows(self, feature: str, action: str, severity: str, diagnosis: str | None = None,
               entity: str | None = None) -> bool:
        if self.feature not in ("*", feature) or action not in self.actions:
            return False
        if self.entity is not None and entity != self.entity:
            return False
        if self.diagnoses is not None and diagnosis not in self.diagnoses:
            return False
        return self.max_severity is None or severity_rank(severity) <= severity_rank(self.max_severity)


@dataclass(frozen=True)
class Policy:
    path: str
    rules: tuple[PolicyRule, ...]

    @property
    def approver(self) -> str:
        return f"policy:{self.path}"

    def allows(self, feature: str, action: str, severity: str, diagnosis: str | None = None,
               entity: str | None = None) -> bool:
        """Whether a rule approves the patch (of `entity`'s features; None: a rule for any entity)."""
        return any(rule.allows(feature, action, severity, diagnosis, entity) for rule in self.rules)


def load_policy(path: str | Path, catalog: Catalog | None = None) -> Policy:
    """Parse and validate a policy file; with `catalog`, named features must exist in it (a rule
    with `entity:` among that entity's features, one without among any entity's)."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read remediation policy {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise PolicyError(f"{path}: a policy is a mapping with a 'rules' list")
    unknown_top = set(doc) - {"version", "rules"}
    if unknown_top:
        raise PolicyError(f"{path}: unknown top-level key(s) {sorted(unknown_top)}")
    rules = [_rule(path, i, raw, catalog) for i, raw in enumerate(doc["rules"], start=1)]
    return Policy(path=str(path), rules=tuple(rules))


def _rule(path: Path, index: int, raw: object, catalog: Catalog | None) -> PolicyRule:
    where = f"{path}: rule {index}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a mapping with feature and actions")
    extra = set(raw) - _RULE_KEYS
    if extra:
        raise PolicyError(f"{where}: unknown key(s) {sorted(extra)}")
    feature = raw.get("feature")
    if feature != "*":
        try:
            quote_ident(feature)
        except ValueError:
            raise PolicyError(f"{where}: feature {feature!r} is not a feature name or '*'") from None
        if catalog is not None and feature not in _names(catalog, raw.get("entity")):
            raise PolicyError(f"{where}: feature {feature!r} is not in the catalog"
                              + (f" (entity {raw['entity']!r})" if raw.get("entity") else ""))
    actions = raw.get("actions")
    if not isinstance(actions, list) or not actions:
        raise PolicyError(f"{where}: actions must be a non-empty list")
    bad = [a for a in actions if a not in ACTIONS]
    if bad:
        raise PolicyError(f"{where}: unknown action(s) {bad}; known: {', '.join(ACTIONS)}")
    max_severity = raw.get("max_severity")
    if max_severity is not None and max_severity not in SEVERITIES:
        raise PolicyError(f"{where}: max_severity {max_severity!r} is not one of {', '.join(SEVERITIES)}")
    diagnoses = raw.get("diagnoses")
    if diagnoses is not None:
        if not isinstance(diagnoses, list) or not diagnoses:
            raise PolicyError(f"{where}: diagnoses must be a non-empty list")
        bad = [d for d in diagnoses if d not in DIAGNOSES]
        if bad:
            raise PolicyError(f"{where}: unknown diagnosis(es) {bad}; known: {', '.join(DIAGNOSES)}")
        diagnoses = frozenset(diagnoses)
    entity = raw.get("entity")
    if entity is not None and not isinstance(entity, str):
        raise PolicyError(f"{where}: entity must be an entity name (customer, product, ...)")
    return PolicyRule(feature=feature, actions=frozenset(actions), max_severity=max_severity, diagnoses=diagnoses,
                      entity=entity)


def _names(catalog: Catalog, entity: str | None) -> set[str]:
    """The feature names a rule may name: `entity`'s, or every entity's."""
    if entity is not None:
        return set(catalog.for_entity(entity).names())
    return {*catalog.names(), *(f.name for f in catalog.others)}
