"""Fixtures for the ingestion tests: a landing folder in tmp_path, file writers, a pinned run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from ingest_helpers import NOW, START, csv_text

from feature_factory.events.config import IngestionConfig
from feature_factory.events.contract import CONTRACT_COLUMNS
from feature_factory.events.ingestion import ingest_range


@pytest.fixture
def landing(tmp_path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def write_csv(landing):
    def write(name: str, rows: list[tuple], header: tuple[str, ...] = CONTRACT_COLUMNS) -> Path:
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(csv_text(rows, header))
        return path

    return write


@pytest.fixture
def write_parquet(landing):
    def write(name: str, frame: pd.DataFrame) -> Path:
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        return path

    return write


@pytest.fixture
def ingest(landing):
    """ingest(warehouse, start, end=None, **config) -> IngestionResult, at the fixed NOW."""

    def run(warehouse, start: dt.date, end: dt.date | None = None, now: dt.datetime = NOW, **config):
        cfg = IngestionConfig(landing_dir=str(landing), **config)
        return ingest_range(warehouse, start, end or start + dt.timedelta(days=1), cfg,
                            now=now, start_date=START)

    return run
