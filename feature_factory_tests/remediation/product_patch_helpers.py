"""Product patch fixtures shared by the remediation and serving tests: 300 products a day over
ten days whose last day has outliers in revenue_7d (a drift the loop answers with a clip), with
its baseline and alerts; the remediation resource serving the product features."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from feature_factory.catalog_resource import CatalogResource
from feature_factory.catalog import Catalog, DType, FeatureSpec, Lifecycle, load_sources
from feature_factory.features.entities import entity_tables
from feature_factory.features.online import build_online_table
from feature_factory.monitoring.report import alerts
from feature_factory.monitoring.detection import baseline
from feature_factory.remediation.resources import RemediationSettings
from feature_factory.remediation.scope import scope_for

SOURCES = Path(__file__).parents[2] / "docs" / "examples" / "sources_orders.yaml"
START = dt.date(2024, 1, 1)
DAYS = 10
LAST = START + dt.timedelta(days=DAYS - 1)


def _spec(name: str, dtype: DType = DType.FLOAT) -> FeatureSpec:
    return FeatureSpec(name=name, description=name, owner="tests", dtype=dtype, lifecycle=Lifecycle.ACTIVE,
                       aggregate=None, window_days=7, entity="product")


FEATURES = [_spec("revenue_7d"), _spec("orders_7d", DType.INT)]


def frame() -> pd.DataFrame:
    """300 products a day; on the last day 5 % of them have revenue_7d = 5000 (far above p99)."""
    rng = np.random.default_rng(11)
    frames = []
    for d in range(DAYS):
        revenue = rng.normal(100.0, 15.0, 300)
        if d == DAYS - 1:
            revenue[:15] = 5000.0
        frames.append(pd.DataFrame({"product_id": [f"p{i:04d}" for i in range(300)],
                                    "snapshot_date": str(START + dt.timedelta(days=d)),
                                    "revenue_7d": revenue, "orders_7d": rng.poisson(4, 300).astype("int64"),
                                    "computed_at": "2024-06-01 00:00:00"}))
    return pd.concat(frames, ignore_index=True)


def product_tables():
    return entity_tables("product", load_sources(SOURCES))


def online_max(warehouse) -> float:
    return float(warehouse.fetch_one("SELECT MAX(revenue_7d) FROM product_features_online")[0])


class ProductSettings(RemediationSettings):
    """The remediation resource of a product test; `catalog_resource()`: the product features as the
    catalog's `others`, with the orders sources, handed in."""

    def catalog_resource(self, features=None) -> CatalogResource:
        return CatalogResource.of(Catalog((), tuple(features or FEATURES)), load_sources(SOURCES))


def seed_product_drift(warehouse, product) -> float:
    """product_features with outliers on LAST, a baseline and that day's alerts; the baseline max."""
    warehouse.write_df("product_features_in", frame(), mode="replace")
    warehouse.replace_table("product_features", "SELECT product_id, CAST(snapshot_date AS DATE) AS snapshot_date, "
                            "revenue_7d, orders_7d, CAST(computed_at AS TIMESTAMP) AS computed_at FROM product_features_in")
    subject = scope_for(product).subject
    b = baseline.capture_baseline(warehouse, START, LAST - dt.timedelta(days=1), FEATURES, subject=subject)
    alerts.write_alerts(warehouse, LAST, alerts.alert_rows(alerts.evaluate_day(warehouse, LAST, FEATURES,
                                                                               subject=subject)), subject=subject)
    build_online_table(warehouse, Catalog(tuple(FEATURES)), entity=product)
    return b.features["revenue_7d"].max_value
