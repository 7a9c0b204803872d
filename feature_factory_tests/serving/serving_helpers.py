"""A small customer_features table (three features of each kind, one stale customer) and the
online table built from it by the features module; the same for a `product` entity."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from feature_factory.catalog import Catalog, DType, Expectations, FeatureSpec, Lifecycle, load_sources
from feature_factory.features.entities import Entity, entity_tables
from feature_factory.features.online import build_online_table

DAY = dt.date(2024, 3, 10)
COLUMNS = {"customer_id": "VARCHAR", "snapshot_date": "DATE", "revenue_7d": "DOUBLE",
           "purchases_7d": "BIGINT", "draft_feature": "DOUBLE", "computed_at": "TIMESTAMP"}


def catalog() -> Catalog:
    def spec(name, dtype=DType.FLOAT, lifecycle=Lifecycle.ACTIVE):
        return FeatureSpec(name=name, description=f"about {name}", owner="tests", dtype=dtype,
                           lifecycle=lifecycle, aggregate=None, window_days=7, expectations=Expectations())
    return Catalog((spec("revenue_7d"), spec("purchases_7d", DType.INT),
                    spec("draft_feature", lifecycle=Lifecycle.DRAFT)))


def seed(warehouse, customers: int = 6, offset: float = 0.0) -> None:
    """c00..: latest snapshot on DAY; c05 only 5 days earlier (stale at TTL 2); c01 has a NULL."""
    rows = []
    for i in range(customers):
        day = DAY - dt.timedelta(days=5) if i == customers - 1 else DAY
        rows.append((f"c{i:02d}", day, None if i == 1 else 10.0 * i + offset, i, 0.5,
                     dt.datetime.combine(day, dt.time(1))))
    warehouse.execute("DROP TABLE IF EXISTS customer_features")
    with warehouse.session() as s:
        s.execute(f"CREATE TABLE customer_features ({', '.join(f'{c} {t}' for c, t in COLUMNS.items())})")
        for r in rows:
            s.execute("INSERT INTO customer_features VALUES (?, ?, ?, ?, ?, ?)", list(r))


def seed_online(warehouse, **kwargs) -> None:
    seed(warehouse, **kwargs)
    build_online_table(warehouse, catalog(), ttl_days=2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- another entity: product (docs/examples/sources_orders.yaml), served from its own store ------------
EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
ORDERS_SOURCES = EXAMPLES / "sources_orders.yaml"
ORDERS_CATALOG = EXAMPLES / "features_orders.yaml"
PRODUCT_COLUMNS = {"product_id": "VARCHAR", "snapshot_date": "DATE", "revenue_7d": "DOUBLE",
                   "orders_7d": "BIGINT", "computed_at": "TIMESTAMP"}
# P1, P2 fresh on DAY; P3 5 days old (stale at TTL 2); c00 is also a customer id: the stores must not mix.
PRODUCT_ROWS = {"P1": (DAY, 70.0, 7), "P2": (DAY, 40.0, 1), "P3": (DAY - dt.timedelta(days=5), 5.0, 1),
                "c00": (DAY, 999.0, 99)}


def product() -> Entity:
    return entity_tables("product", load_sources(ORDERS_SOURCES))


def product_catalog() -> Catalog:
    def spec(name, dtype):
        return FeatureSpec(name=name, description=f"product {name}", owner="tests", dtype=dtype,
                           lifecycle=Lifecycle.ACTIVE, aggregate=None, window_days=7, expectations=Expectations(),
                           entity="product")
    return Catalog((spec("revenue_7d", DType.FLOAT), spec("orders_7d", DType.INT)))


def seed_product_online(warehouse) -> Entity:
    """product_features with PRODUCT_ROWS, and product_features_online built from it."""
    warehouse.execute("DROP TABLE IF EXISTS product_features")
    with warehouse.session() as s:
        s.execute(f"CREATE TABLE product_features ({', '.join(f'{c} {t}' for c, t in PRODUCT_COLUMNS.items())})")
        for key, (day, revenue, orders) in PRODUCT_ROWS.items():
            s.execute("INSERT INTO product_features VALUES (?, ?, ?, ?, ?)",
                      [key, day, revenue, orders, dt.datetime.combine(day, dt.time(1))])
    entity = product()
    build_online_table(warehouse, product_catalog(), ttl_days=2, entity=entity)
    return entity
