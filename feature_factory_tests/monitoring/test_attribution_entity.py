"""Attribution of another entity (both backends): a product over an orders-like raw table (the
lineage columns of every source, the dimensions its source declares), attributed by the same code
as the customer through an `AttributionSource`; its caches are named after it."""

from __future__ import annotations

import datetime as dt

import pytest

from feature_factory import tables
from feature_factory.catalog import DType, FeatureSpec, Lifecycle
from feature_factory.monitoring.explain import attribution as A

from .test_attribution import _insert

START = dt.date(2024, 1, 1)
DAY = dt.date(2024, 1, 21)  # window 01-15..01-21; baseline event days 01-01..01-14
BASE = (START, dt.date(2024, 1, 14))
ORDER_COLUMNS = {"order_line_id": "VARCHAR", "product_id": "VARCHAR", "customer_id": "VARCHAR",
                 "placed_at": "TIMESTAMP", "order_total": "DOUBLE", "status": "VARCHAR", "country": "VARCHAR",
                 "event_date": "DATE", "source_file": "VARCHAR", "source_row": "BIGINT", "ingested_at": "TIMESTAMP"}
PRODUCT = A.AttributionSource.for_entity("product", "raw_orders", "product_id", "product_features", "product_id",
                                         ("status", "country"), source="orders")
BARE = A.AttributionSource.for_entity("product", "raw_orders", "product_id", "product_features", "product_id")
REVENUE = FeatureSpec(name="revenue_7d", description="placed order totals", owner="t", dtype=DType.FLOAT,
                      lifecycle=Lifecycle.ACTIVE, aggregate="x", window_days=7, agg="sum", value_sql="order_total",
                      filter_sql="status = 'placed'", source_columns=("order_total", "status"), entity="product",
                      source="orders", source_table="raw_orders", source_key="product_id")


def _orders(fr_from: dt.date | None = None, bad_file: bool = False) -> list[dict]:
    """30 products, each ordered once a day in DE and once in FR at 10.0 (placed), every 5th also
    returned once a day in DE; optional causes: FR lines cost 30.0 from `fr_from`; a second file on
    01-20 with 1000.0 lines for p00..p04."""
    rows = []
    for d in range(21):
        day = START + dt.timedelta(days=d)
        lines = []
        for p in range(30):
            fr = 30.0 if fr_from is not None and day >= fr_from else 10.0
            lines += [(p, "DE", 10.0, "placed"), (p, "FR", fr, "placed")]
            if p % 5 == 0:
                lines.append((p, "DE", 10.0, "returned"))
        rows += [{"order_line_id": f"l{d}_{i}", "product_id": f"p{p:02d}", "customer_id": f"c{i % 7}",
                  "placed_at": dt.datetime.combine(day, dt.time(12)), "order_total": total, "status": status,
                  "country": country, "event_date": day, "source_file": f"orders_{day}.csv", "source_row": i + 1,
                  "ingested_at": dt.datetime(2024, 2, 1)} for i, (p, country, total, status) in enumerate(lines)]
    if bad_file:
        day = dt.date(2024, 1, 20)
        rows += [{"order_line_id": f"x{p}", "product_id": f"p{p:02d}", "customer_id": "c0",
                  "placed_at": dt.datetime.combine(day, dt.time(13)), "order_total": 1000.0, "status": "placed",
                  "country": "DE", "event_date": day, "source_file": "orders_2024-01-20_b.csv", "source_row": p + 1,
                  "ingested_at": dt.datetime(2024, 2, 1)} for p in range(5)]
    return rows


def _load(warehouse, rows):
    _insert(warehouse, "raw_orders", ORDER_COLUMNS, rows)
    warehouse.execute(
        "CREATE TABLE product_features AS SELECT product_id, CAST('2024-01-21' AS DATE) AS snapshot_date, "
        "SUM(CASE WHEN status = 'placed' THEN COALESCE(order_total, 0) ELSE 0 END) AS revenue_7d FROM raw_orders "
        "WHERE event_date >= CAST('2024-01-15' AS DATE) GROUP BY product_id")


def test_a_product_drift_in_one_country_names_that_country_first(warehouse):
    _load(warehouse, _orders(fr_from=dt.date(2024, 1, 18)))
    result = A.attribute(warehouse, DAY, [A.Target(REVENUE, "shift")], BASE, PRODUCT)
    got = result.by_feature["revenue_7d"]
    # Per day FR went from 30 x 10 to (3 x 300 + 4 x 900) / 7 in the window; DE did not move: FR
    # carries the whole change, against its half of the baseline's mass (a total summed without
    # any event_type dimension: with no baseline total the size would be FR's 68% of the mass now).
    assert (got[0]["dimension"], got[0]["value"], got[0]["share"], got[0]["expected"]) == ("country", "FR", 1.0, 0.5)
    assert got[0]["delta"] == round(30 * (3 * 10 + 4 * 30) / 7 - 30 * 10, 4)
    # Every product is placed, first seen on 01-01 (new within 28 days): those values explain nothing.
    assert sorted(result.covering["revenue_7d"]) == ["cohort=new", "first_seen_week=2024-01-01", "status=placed"]
    assert "100% of the change from country=FR (its size 50%)" in A.headline("revenue_7d", "shift", got)
    # Its caches are its own; the customer's are not touched.
    assert [warehouse.row_count(t) for t in ("product_first_seen", "product_attribution_baseline")] == [30, 1]
    assert not any(warehouse.table_exists(t) for t in (A.FIRST_SEEN_TABLE, A.BASELINE_CACHE_TABLE))


def test_a_source_without_dimensions_is_attributed_by_cohort_week_and_file(warehouse):
    _load(warehouse, _orders(bad_file=True))
    result = A.attribute(warehouse, DAY, [A.Target(REVENUE, "tail", upper=200.0)], BASE, BARE)
    got = result.by_feature["revenue_7d"]
    assert (got[0]["dimension"], got[0]["value"]) == ("source_file", "orders_2024-01-20_b.csv")
    # Out of range: p00..p04 (5 x 1000 from that file, 5 x 7 x 20 from the daily files); its size:
    # 5 of the window's 425 placed lines.
    assert got[0]["share"] == round(5000 / 5700, 4) and got[0]["expected"] == round(5 / 425, 4)
    assert {c["dimension"] for c in got} <= set(A.DERIVED)
    assert result.file_days["orders_2024-01-20_b.csv"] == "2024-01-20" and len(result.file_days) == 8
    # The segments read are the derived ones only (the grouped statement has no status or country).
    segments = A._rows(warehouse, A.current_sql(warehouse.dialect, DAY, [A.Target(REVENUE, "tail", upper=200.0)], BARE))
    assert {d for d, _ in segments} == set(A.DERIVED)
    assert segments[("cohort", "new")].of("revenue_7d")["rows"] == 30 * 2 * 7 + 5


def test_the_product_caches_have_the_columns_their_contracts_describe(warehouse):
    _load(warehouse, _orders())
    assert A.refresh_first_seen(warehouse, PRODUCT) == "rebuilt"
    assert A.refresh_first_seen(warehouse, PRODUCT) == "current"
    A.attribute(warehouse, DAY, [A.Target(REVENUE, "missing")], BASE, PRODUCT)
    contracts = tables.attribution_caches("product", "product_id", "raw_orders", "product_features")
    assert [t.name for t in contracts] == ["product_first_seen", "product_first_seen_days",
                                           "product_attribution_baseline"]
    assert (PRODUCT.first_seen_table, PRODUCT.first_seen_days_table, PRODUCT.baseline_table) == \
        tuple(t.name for t in contracts)
    for table in contracts:
        assert [c.lower() for c, _ in warehouse.columns(table.name)] == list(table.names), table.name
    assert contracts[2].descriptions["feature"] == "The product_features column."
    assert "customer" not in " ".join(t.description + " ".join(t.descriptions.values()) for t in contracts)


def test_the_customer_record_is_the_shipped_names():
    assert (A.CUSTOMER.raw_table, A.CUSTOMER.raw_key, A.CUSTOMER.features_table, A.CUSTOMER.dimensions) == (
        "raw_events", "customer_id", "customer_features", ("event_type", "channel"))
    assert (A.CUSTOMER.first_seen_table, A.CUSTOMER.first_seen_days_table, A.CUSTOMER.baseline_table) == (
        "customer_first_seen", "customer_first_seen_days", "attribution_baseline")
    assert A.DIMENSIONS == ("event_type", "channel", "cohort", "first_seen_week", "source_file")


@pytest.mark.parametrize("dims, what", [(("cohort",), "clashes"), (("rows__x",), "clashes"), (("events",), "clashes"), (("Country",), "identifier"),
                                        (("country", "country"), "repeat")])
def test_a_dimension_attribution_cannot_read_is_refused_by_name(dims, what):
    with pytest.raises(ValueError, match=f"entity 'product'.*{what}"):
        A.AttributionSource.for_entity("product", "raw_orders", "product_id", "product_features", "product_id", dims)


def test_a_declared_dimension_missing_from_the_raw_table_is_named(duckdb_warehouse):
    _load(duckdb_warehouse, _orders())
    source = A.AttributionSource.for_entity("product", "raw_orders", "product_id", "product_features",
                                            "product_id", ("country", "payment"))
    with pytest.raises(ValueError, match="raw_orders has no column.s. payment"):
        A.attribute(duckdb_warehouse, DAY, [A.Target(REVENUE, "shift")], BASE, source)
