"""Feast's `get_historical_features` on the PIT workload's Parquet snapshots and labels.

Feast is a benchmark-only extra (installed into `.venv-bench` by `make bench`); without it these
contenders report themselves skipped. The feature view mirrors our semantics: entity `customer`,
TTL `ttl_days`, a snapshot's `event_timestamp` is the end of its day (when it becomes known); the
labels frame carries `event_timestamp` = the label time plus its `label_id` for verification.
Registry creation (`apply`) is setup; the measured block reads the labels and runs the retrieval
to a DataFrame, which is what a Feast user does to get a training set.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
from pathlib import Path

from bench import pit, synth

STORES = {"feast_file": "file", "feast_duckdb": "duckdb"}


def available() -> bool:
    return importlib.util.find_spec("feast") is not None


def _store(params: dict, kind: str):
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.types import Float64, Int64

    root = Path(params["dir"]) / f"feast_repo_{kind}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = RepoConfig(
        project="bench", provider="local", repo_path=root, entity_key_serialization_version=3,
        registry=str(root / "registry.db"),
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        offline_store={"type": kind},
    )
    store = FeatureStore(config=config)
    customer = Entity(name="customer", join_keys=["customer_id"])
    source = FileSource(path=str(pit._paths(params)["snapshots"]), timestamp_field="event_timestamp")
    specs = synth.features()
    view = FeatureView(
        name="customer_features", entities=[customer], ttl=dt.timedelta(days=int(params["ttl_days"])),
        schema=[Field(name=s.name, dtype=Int64 if s.dtype.sql_type == "BIGINT" else Float64) for s in specs],
        source=source, online=False,
    )
    store.apply([customer, view])
    return store, [f"customer_features:{s.name}" for s in specs]


def _run(params: dict, meter, name: str) -> dict:
    if not available():
        return {"skipped": "feast is not installed here (a benchmark-only extra: run `make bench`)"}
    os.environ.setdefault("FEAST_USAGE", "False")
    import feast
    import pandas as pd

    store, refs = _store(params, STORES[name])
    with meter.measure():
        labels = pd.read_parquet(pit._paths(params)["labels"])
        df = store.get_historical_features(entity_df=labels, features=refs).to_df()
    names = [r.split(":")[1] for r in refs]
    out = Path(params["dir"]) / f"out_{name}.parquet"
    df[["label_id", "customer_id", *names]].to_parquet(out, index=False)
    return {"rows_out": len(df), "feast_version": feast.__version__}


def feast_file(params: dict, meter) -> dict:
    return _run(params, meter, "feast_file")


def feast_duckdb(params: dict, meter) -> dict:
    return _run(params, meter, "feast_duckdb")
