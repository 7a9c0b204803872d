"""The `remediation` resource: how much the loop may do without a human.

Modes:
- `propose_only` (default): the remediation run proposes; people approve (approve_patches_job) and
  apply (apply_patches_job).
- `auto_approve`: proposals the policy file allows are approved (approver `policy:<file>`);
  applying is still a human's run.
- `auto_apply`: policy-approved patches are also applied, with no human.

`FEATURE_FACTORY_REMEDIATION_MODE` and `FEATURE_FACTORY_REMEDIATION_POLICY` set these for a
deployment (`from_env`).
"""

from __future__ import annotations

import os
from typing import Literal

import dagster as dg
from pydantic import Field

from feature_factory.catalog import Catalog
from feature_factory.remediation.policy import load_policy

Mode = Literal["propose_only", "auto_approve", "auto_apply"]
MODES = ("propose_only", "auto_approve", "auto_apply")
# Dagster pool shared by every step that changes remediation state; set its limit to 1
# (`dagster instance concurrency set remediation 1`). The warehouse lock is the guarantee; the pool
# makes competing runs queue instead of failing on the lock.
POOL = "remediation"
RUN_TAGS = {"feature_factory/concurrency": "remediation"}


class RemediationSettings(dg.ConfigurableResource):
    """Remediation mode and approval policy file (the catalog is the run's `catalog` resource, the
    one its features were built from)."""

    mode: Mode = Field(
        default="propose_only",
        description="propose_only (default) | auto_approve (policy approves) | auto_apply (policy approves, then applied).",
    )
    policy_path: str | None = Field(
        default=None,
        description="Approval policy YAML (see remediation/policy.example.yaml); none = nothing auto-approved.",
    )
    lock_ttl_s: float = Field(
        default=900.0, description="Seconds after which a crashed run's remediation lock may be taken over."
    )

    @classmethod
    def from_env(cls) -> "RemediationSettings":
        mode = (os.environ.get("FEATURE_FACTORY_REMEDIATION_MODE") or "propose_only").strip().lower()
        if mode not in MODES:
            raise ValueError(
                f"FEATURE_FACTORY_REMEDIATION_MODE={mode!r} is not a mode; choose one of {', '.join(MODES)}"
            )
        return cls(mode=mode, policy_path=os.environ.get("FEATURE_FACTORY_REMEDIATION_POLICY") or None)

    def load_policy(self, catalog: Catalog):
        """The validated policy, or None when no policy file is configured."""
        return load_policy(self.policy_path, catalog) if self.policy_path else None
