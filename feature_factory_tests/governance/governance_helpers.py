"""A small project for the governance tests: two days of landed events ingested for real, and the
feature, online, label, training, inference tables and stores written from their contracts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from feature_factory import tables
from feature_factory.events.config import IngestionConfig
from feature_factory.events.contract import CONTRACT_COLUMNS
from feature_factory.events.ingestion import ingest_range
from feature_factory.ml.registry import ModelRegistry
from feature_factory.serving.sqlite_store import SQLiteOnlineStore
from feature_factory.serving.store import StoreMeta
from feature_factory.settings import Homes

NOW = dt.datetime(2024, 3, 1, 12, 0, 0)
START = dt.date(2024, 1, 1)
GONE, KEPT = "CX-ERASE-4711", "CX-KEEP-0815"  # distinctive bytes for the byte scans


def ev(event_id: str, customer: str, day: int, amount: str = "10.0") -> tuple:
    return (event_id, customer, "purchase", "web", amount, f"2024-01-{day:02d}T10:00:00Z")


def write_csv(path: Path, rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([",".join(CONTRACT_COLUMNS)] + [",".join(r) for r in rows]) + "\n")
    return path


def ingest(warehouse, landing: Path, start: dt.date = dt.date(2024, 1, 1), end: dt.date = dt.date(2024, 1, 4)):
    return ingest_range(warehouse, start, end, IngestionConfig(landing_dir=str(landing)), now=NOW, start_date=START)


def build_project(warehouse, tmp_path: Path) -> dict:
    """Landed and ingested events of GONE and KEPT (one GONE row with a bad amount, quarantined),
    the model tables from their contracts, a table no contract names, a view, two online store
    versions and two registered models (one fit on GONE's label date). Returns the pieces."""
    landing = Homes().landing_dir()  # the project's landing folder (the test's home), as a user's
    write_csv(landing / "day1.csv", [ev("e1", f" {GONE} ", 1), ev("e2", KEPT, 1), ev("e3", GONE, 1, "-5")])
    write_csv(landing / "day2.csv", [ev("e4", KEPT, 2), ev("e5", KEPT, 2)])
    ingest(warehouse, landing)
    both = f"(VALUES ('{GONE}'), ('{KEPT}')) AS v(id)"
    with warehouse.session() as s:
        s.execute("CREATE TABLE customer_features (customer_id VARCHAR, snapshot_date DATE, computed_at TIMESTAMP, "
                  "revenue_7d DOUBLE)")
        for day in ("2024-01-01", "2024-01-02"):
            s.execute(f"INSERT INTO customer_features SELECT id, DATE '{day}', TIMESTAMP '{day} 23:00:00', 1.0 FROM {both}")
        s.execute(f"CREATE TABLE customer_features_online AS SELECT id AS customer_id, DATE '2024-01-02' AS snapshot_date "
                  f"FROM {both}")
        for t in (tables.CHURN_LABELS, tables.TRAINING_SET, tables.INFERENCE_RESULTS):
            s.execute(f"CREATE TABLE {t.name} ({t.ddl()})")
        s.execute(f"INSERT INTO churn_labels (customer_id, label_date, churned) SELECT id, DATE '2024-01-02', 0 FROM {both}")
        s.execute(f"INSERT INTO training_set (customer_id, label_date, churned) SELECT id, DATE '2024-01-02', 0 FROM {both}")
        s.execute(f"INSERT INTO inference_results (customer_id, churn_probability) SELECT id, 0.5 FROM {both}")
        s.execute(f"CREATE TABLE customer_backup AS SELECT id AS customer_id, 1 AS n FROM {both}")  # no contract
        s.execute("CREATE VIEW recent_customers AS SELECT customer_id FROM raw_events")  # a view: never DELETEd from
    store = SQLiteOnlineStore(tmp_path / "online.sqlite")
    for version in ("20240101T000000000000", "20240102T000000000000"):  # current + the kept previous one
        store.write(StoreMeta(version, "2024-01-02T00:00:00", "2024-01-02", 2, 0),
                    [[(GONE, "2024-01-02", 0, b'{"revenue_7d": 1.0}'), (KEPT, "2024-01-02", 0, b'{"revenue_7d": 2.0}')]])
    registry = ModelRegistry(tmp_path / "models")
    fit = registry.register({"m": 1}, model_type="lr", features=["revenue_7d"], data_version="a",
                            training_window={"first_label_date": "2024-01-01", "train_last_label_date": "2024-01-03"})
    other = registry.register({"m": 2}, model_type="rf", features=["revenue_7d"], data_version="b",
                              training_window={"first_label_date": "2024-02-01", "train_last_label_date": "2024-02-10"})
    return {"landing": landing, "store": store, "registry": registry, "fit": fit, "other": other}


def count(warehouse, table: str, customer: str) -> int:
    return int(warehouse.fetch_one(f"SELECT COUNT(*) FROM {table} WHERE TRIM(customer_id) = ?", [customer])[0])
