"""Where an entity's ids live, derived from the contracts (pure: no warehouse), plus the pure helpers
of landing rewrites and of the models fit on the ids."""

from __future__ import annotations

import datetime as dt
import textwrap

from feature_factory.catalog.sources import DEFAULT_SOURCES_PATH, load_sources
from feature_factory.catalog.sources import ColumnSpec
from feature_factory.governance import landing, models, targets
from feature_factory.ml.registry import ModelRegistry

ORDERS = textwrap.dedent("""
  orders:
    location: {landing_folder: orders}
    row_id: line_id
    entity_keys: {product: sku, customer: buyer}
    event_time: ts
    columns:
      line_id: string
      sku: {type: string, normalize: upper}
      buyer: string
      ts: timestamp
""")


def _sources(tmp_path):
    text = DEFAULT_SOURCES_PATH.read_text()
    text = text.replace("entities:\n", "entities:\n  product: {key: product_id, source: orders}\n", 1)
    path = tmp_path / "sources.yaml"
    path.write_text(text + textwrap.indent(ORDERS, "  "))
    return load_sources(path)


def test_the_customer_tables_come_from_the_contracts(tmp_path):
    found = {t.table: (t.column, t.normalized) for t in targets.declared_targets("customer", _sources(tmp_path))}
    assert found == {
        "raw_events": ("customer_id", "customer_id"),
        "quarantined_events": ("customer_id", "TRIM(customer_id)"),  # landed text: compared as stored
        "landing_rows": ("customer_id", "TRIM(customer_id)"),
        "raw_orders": ("buyer", "buyer"),  # another source keyed by the customer
        "orders_quarantine": ("buyer", "TRIM(buyer)"),
        "orders_landing_rows": ("buyer", "TRIM(buyer)"),
        "customer_features": ("customer_id", "customer_id"),
        "customer_features_online": ("customer_id", "customer_id"),
        "customer_first_seen": ("customer_id", "customer_id"),
        "churn_labels": ("customer_id", "customer_id"),
        "training_set": ("customer_id", "customer_id"),
        "inference_results": ("customer_id", "customer_id"),
    }


def test_another_entity_gets_its_own_tables(tmp_path):
    found = {t.table: (t.column, t.normalized) for t in targets.declared_targets("product", _sources(tmp_path))}
    assert found == {
        "raw_orders": ("sku", "sku"), "orders_quarantine": ("sku", "UPPER(TRIM(sku))"),
        "orders_landing_rows": ("sku", "UPPER(TRIM(sku))"),
        "product_features": ("product_id", "product_id"), "product_features_online": ("product_id", "product_id"),
        "product_first_seen": ("product_id", "product_id"),
    }
    assert targets.key_columns("product", _sources(tmp_path)) == {"product_id", "sku"}


def test_landing_values_are_compared_as_ingestion_stores_them():
    col = ColumnSpec("sku", "string", "SKU", normalize="upper", value_map=(("OLD-1", "NEW-1"),))
    assert [landing.normalized(col, v) for v in (" ab ", "old-1", None)] == ["AB", "NEW-1", None]


def test_parquet_landing_file_rewritten_without_the_ids(tmp_path):
    import pandas as pd

    path = tmp_path / "events.parquet"
    pd.DataFrame({"event_id": ["e1", "e2", "e3"], "customer_id": [" c1", "c2", "c1 "]}).to_parquet(path)
    sources = load_sources()
    out = landing.rewrite(landing.LandingFile("events", path, "events.parquet", 2), "customer", ["c1"], sources)
    assert (out.rewritten, out.rows_removed) == (True, 2)
    assert pd.read_parquet(path).to_dict("list") == {"event_id": ["e2"], "customer_id": ["c2"]}


def test_models_fit_on_the_ids_are_those_whose_window_holds_their_label_dates(tmp_path):
    reg = ModelRegistry(tmp_path)
    windows = [("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-28"), ("2024-01-15", "2024-02-15")]
    for i, (first, last) in enumerate(windows):
        reg.register({"m": i}, model_type="lr", features=["f"], data_version=str(i),
                     training_window={"first_label_date": first, "train_last_label_date": last})
    reg.register({"m": 9}, model_type="lr", features=["f"], data_version="9")  # no window recorded: not named
    got = models.trained_on(reg, {dt.date(2024, 1, 20), dt.date(2024, 1, 25)})
    assert [(m.version, m.label_dates, m.window) for m in got] == [(3, 2, "2024-01-15..2024-02-15"),
                                                                  (1, 2, "2024-01-01..2024-01-31")]
