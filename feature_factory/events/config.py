"""The ingestion run config (Dagster `Config`s the Launchpad shows): per source, and the churn
example's schema-drift policy. Kept apart from the landing contract (contract.py) so the pure
ingestion logic does not load Dagster to learn the contract."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from feature_factory.events.contract import CONTRACT_COLUMNS, DriftAction
from feature_factory.warehouse.sql import quote_ident


class SchemaDriftPolicy(dg.Config):
    """Per case of schema drift, what the ingestion does."""

    extra_column: DriftAction = Field(
        default=DriftAction.auto_adapt, description="A column the contract does not know."
    )
    missing_column: DriftAction = Field(
        default=DriftAction.fail, description="A contract column absent from the file."
    )
    changed_type: DriftAction = Field(
        default=DriftAction.alert,
        description="Values no longer parse as the contract type (e.g. amount '12.50 USD', epoch "
        "event_ts). Non-fail actions cast when the cast is lossless; otherwise rows are quarantined.",
    )
    changed_type_min_share: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Share of non-blank values failing the contract type above which a column "
        "counts as retyped (below it, the failing rows are just bad rows).",
    )
    column_aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Landing column name -> contract column, for known renames (e.g. "
        "{'amount_usd': 'amount'}).",
    )

    def validated_aliases(self) -> dict[str, str]:
        for source, target in self.column_aliases.items():
            quote_ident(source)
            if target not in CONTRACT_COLUMNS:
                raise ValueError(
                    f"schema_drift.column_aliases maps {source!r} to {target!r}, which is not a "
                    f"contract column ({', '.join(CONTRACT_COLUMNS)})"
                )
        return dict(self.column_aliases)


class SourceIngestionConfig(dg.Config):
    """Settings for ingesting one source (run config of its ingestion asset)."""

    landing_dir: str | None = Field(
        default=None, description="Landing folder; default the source's location.landing_folder under "
        "$FEATURE_FACTORY_HOME/landing (ignored for a table source).")
    max_quarantine_rate: float = Field(
        default=0.05, ge=0.0, le=1.0,
        description="The quarantine-rate check fails (and blocks downstream) above this share of "
        "rows read.",
    )
    freshness_lag_hours: float = Field(
        default=6.0, gt=0.0,
        description="Each day's newest event must be at most this many hours before the day's end.",
    )
    future_tolerance_minutes: float = Field(
        default=5.0, ge=0.0,
        description="Clock skew allowed before an event time counts as in the future (relative to "
        "when its file was staged).",
    )


class IngestionConfig(SourceIngestionConfig):
    """Settings for turning landing files into `raw_events` and `quarantined_events`: a source's,
    plus the churn example's schema-drift policy (the sources file has none for it)."""

    landing_dir: str | None = Field(
        default=None,
        description="Landing folder; default $FEATURE_FACTORY_LANDING, else the events source's "
        "location.landing_folder under $FEATURE_FACTORY_HOME/landing (shipped: events).",
    )
    schema_drift: SchemaDriftPolicy = Field(
        default_factory=SchemaDriftPolicy, description="Schema-drift policy per case."
    )
