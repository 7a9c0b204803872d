"""The model versions trained on rows of some ids: what an erasure must name (no Dagster here).

A registry version records the label dates it was fit on (`training_window`: first_label_date ..
train_last_label_date). An id's rows are in a version's fit when one of the id's label dates
(its rows of the entity model's label table, e.g. churn_labels, else training_set) falls in that
window. The model's pickle holds coefficients or trees, not rows; the honest consequence of an
erasure is still to retrain, which the erasure can request (the ledger's `retrain_request` row,
turned into a run of the model's retrain job by `governance/definitions.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.features.entities import Entity
from feature_factory.governance.targets import chunks
from feature_factory.ml.registry import ModelRegistry, ModelVersion
from feature_factory.warehouse.base import Warehouse, quote_ident


@dataclass(frozen=True)
class TrainedOn:
    version: int
    status: str
    model_type: str
    window: str  # the version's fit window, e.g. 2024-01-15..2024-03-01
    label_dates: int  # label dates of the ids inside it


def label_dates(warehouse: Warehouse, entity: Entity, ids: Sequence[str]) -> set[dt.date]:
    """The label dates of the ids' rows in the entity model's label table (else the training set)."""
    if entity.spec.model is None:
        return set()
    key = quote_ident(entity.key)
    for table in (entity.spec.model.label, tables.TRAINING_SET.name):
        have = {c for c, _ in warehouse.columns(table)}
        if {entity.key, "label_date"} <= have:
            out: set[dt.date] = set()
            for part in chunks(list(ids)):
                out |= {_day(r[0]) for r in warehouse.fetch_all(
                    f"SELECT DISTINCT label_date FROM {quote_ident(table)} WHERE {key} IN "
                    f"({', '.join('?' for _ in part)})", list(part))}
            return out
    return set()


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else \
        (value.date() if isinstance(value, dt.datetime) else dt.date.fromisoformat(str(value)[:10]))


def fit_window(v: ModelVersion) -> tuple[dt.date, dt.date] | None:
    w = v.training_window or {}
    first, last = w.get("first_label_date"), w.get("train_last_label_date") or w.get("last_label_date")
    if not first or not last:
        return None
    return dt.date.fromisoformat(str(first)[:10]), dt.date.fromisoformat(str(last)[:10])


def trained_on(registry: ModelRegistry, days: set[dt.date]) -> list[TrainedOn]:
    """Every registered version whose fit window holds one of `days`, newest first."""
    out = []
    for v in registry.versions():
        window = fit_window(v)
        if window is None:
            continue
        inside = sum(window[0] <= d <= window[1] for d in days)
        if inside:
            out.append(TrainedOn(v.version, v.status, v.model_type, f"{window[0]}..{window[1]}", inside))
    return sorted(out, key=lambda t: -t.version)
