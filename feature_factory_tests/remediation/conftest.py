"""Remediation fixtures (helpers in `remediation_helpers.py`)."""

from __future__ import annotations

import pytest
from remediation_helpers import alert, make_catalog, seed_alerts, seed_baseline, seed_features

from feature_factory.catalog import Catalog


@pytest.fixture
def catalog() -> Catalog:
    return make_catalog()


@pytest.fixture
def seeded(warehouse, catalog):
    """A warehouse with features, a baseline and two alerts (outliers, null spike) on DAY."""
    seed_features(warehouse)
    seed_baseline(warehouse)
    seed_alerts(warehouse, [
        alert("revenue_7d", "MEAN_SHIFT,OUT_OF_RANGE", "high", out_of_range_share=0.1, mean_shift_std=2.1),
        alert("amount_stddev_7d", "NULL_SPIKE", "medium", null_rate_delta=0.5),
        alert("purchases_7d", "", "none"),
    ])
    return warehouse
