"""Reproducible training sets on both backends: a training set rebuilt from its snapshot equals the
original row for row; snapshots are listed, exported with a manifest, refused when changed."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "ml"))

from ml_helpers import default_specs, make_features, make_labels  # noqa: E402

from feature_factory.ml import training_snapshots as snaps  # noqa: E402
from feature_factory.ml.training_set import build_training_set  # noqa: E402

LABELS = [("a", "2024-03-10", 1), ("b", "2024-03-10", 0), ("c", "2024-03-10", 1), ("a", "2024-03-20", 0)]


def _features(scale: float) -> pd.DataFrame:
    return pd.DataFrame([("a", "2024-03-09", 2, 2.0 * scale), ("a", "2024-03-15", 15, 15.0 * scale),
                         ("b", "2024-03-08", 5, None)], columns=["customer_id", "snapshot_date", "f_count", "f_amount"])


def test_a_training_set_rebuilt_from_its_snapshot_equals_the_original(warehouse, tmp_path):
    make_labels(warehouse, LABELS)
    make_features(warehouse, _features(1.0))
    build_training_set(warehouse, default_specs(), ttl_days=7)
    original = snaps.read_rows(warehouse, "training_set")
    snap = snaps.create(warehouse, "q1_churn", features=default_specs(), created_by="analyst")
    assert (snap.rows, snap.row_fingerprint, snap.label_window) == (
        4, snaps.row_fingerprint(original), "2024-03-10..2024-03-20")
    assert snap.features == ("f_count", "f_amount")
    assert snap.definitions_fingerprint == snaps.definitions_fingerprint(default_specs())

    make_features(warehouse, _features(3.0))  # the features moved on: a rebuild now differs
    build_training_set(warehouse, default_specs(), ttl_days=7)
    assert snaps.row_fingerprint(snaps.read_rows(warehouse, "training_set")) != snap.row_fingerprint

    snaps.restore(warehouse, "q1_churn")
    rebuilt = snaps.read_rows(warehouse, "training_set")
    pd.testing.assert_frame_equal(rebuilt, original)  # row for row, value for value, column for column
    assert [s.name for s in snaps.list_snapshots(warehouse)] == ["q1_churn"]
    assert snaps.create(warehouse, "q1_churn").row_fingerprint == snap.row_fingerprint  # same rows: the same one


def test_snapshot_export_and_refusals(duckdb_warehouse, tmp_path):
    w = duckdb_warehouse
    make_labels(w, LABELS)
    make_features(w, _features(1.0))
    build_training_set(w, default_specs(), ttl_days=7)
    snap = snaps.create(w)  # named after its rows
    assert snap.name == snaps.auto_name(snap.row_fingerprint)
    manifest = snaps.export(w, snap.name, tmp_path / "out")
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["rows_exported"] == 4 and on_disk["fingerprint_now"] == snap.row_fingerprint
    assert on_disk["file_sha256"] == hashlib.sha256((tmp_path / "out" / manifest["file"]).read_bytes()).hexdigest()
    assert len(pd.read_parquet(tmp_path / "out" / manifest["file"])) == 4

    make_features(w, _features(2.0))
    build_training_set(w, default_specs(), ttl_days=7)
    with pytest.raises(snaps.SnapshotError, match=f"snapshot {snap.name!r} already exists with other rows"):
        snaps.create(w, snap.name)
    w.execute(f"DELETE FROM {snap.snapshot_table} WHERE customer_id = 'a'")  # what an erasure of 'a' does
    with pytest.raises(snaps.SnapshotError, match=r"no longer holds the rows .*\(2 rows now, 4 then\)"):
        snaps.restore(w, snap.name)
    with pytest.raises(snaps.SnapshotError, match="'nope' does not exist"):
        snaps.restore(w, "nope")
