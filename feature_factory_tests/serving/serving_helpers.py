"""A small customer_features table (three features of each kind, one stale customer) and the
online table built from it by the features module."""

from __future__ import annotations

import datetime as dt
import socket

from feature_factory.catalog import Catalog, DType, Expectations, FeatureSpec, Lifecycle
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
