"""training_set: no leakage, no dropped label, TTL, patch layer, and equality with a plain pandas
as-of join, on both backends."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from ml_helpers import d, make_features, make_labels

from feature_factory.ml.training_set import TrainingSetError, build_training_set

SENTINEL = 9999.0


def _fetch(warehouse) -> pd.DataFrame:
    df = warehouse.fetch_df("SELECT * FROM training_set ORDER BY customer_id, label_date")
    for c in ("label_date", "feature_snapshot_date"):
        df[c] = pd.to_datetime(df[c]).dt.date
    return df


def test_no_leakage_no_drop_and_ttl(warehouse, specs):
    make_labels(warehouse, [("a", "2024-03-10", 1), ("b", "2024-03-10", 0), ("c", "2024-03-10", 1),
                            ("a", "2024-03-20", 0)])
    make_features(warehouse, pd.DataFrame([
        ("a", "2024-03-05", 1, 1.0),
        ("a", "2024-03-09", 2, 2.0),            # newest usable for 03-10 (end of the day before)
        ("a", "2024-03-10", 99, SENTINEL),      # end of the label day itself: future, must not leak
        ("a", "2024-03-15", 15, 15.0),          # future for 03-10, the newest usable for 03-20
        ("a", "2024-03-20", 98, SENTINEL),      # end of the second label day: must not leak
        ("b", "2024-03-02", 5, 5.0),            # 8 days old: outside ttl 7 -> missing
        ("b", "2024-03-11", 97, SENTINEL),      # future
        # c has no snapshot at all
    ], columns=["customer_id", "snapshot_date", "f_count", "f_amount"]))
    s = build_training_set(warehouse, specs, ttl_days=7)
    df = _fetch(warehouse)
    assert len(df) == 4 and s.rows == 4 and s.labels == 4
    assert SENTINEL not in df["f_amount"].tolist()
    a10 = df[(df.customer_id == "a") & (df.label_date == d("2024-03-10"))].iloc[0]
    assert (a10.f_count, a10.f_amount, a10.feature_snapshot_date, a10.feature_age_days) == (
        2, 2.0, d("2024-03-09"), 1)
    # a @ 03-20: 03-15 is 5 days old and before the label time, so it is used.
    a20 = df[(df.customer_id == "a") & (df.label_date == d("2024-03-20"))].iloc[0]
    assert (a20.f_count, a20.f_amount, a20.feature_age_days) == (15, 15.0, 5)
    for cust in ("b", "c"):
        row = df[df.customer_id == cust].iloc[0]
        assert pd.isna(row.f_count) and pd.isna(row.f_amount) and pd.isna(row.feature_snapshot_date)
    assert s.missing_features == 2
    assert (s.age_min, s.age_max) == (1.0, 5.0) and s.age_mean == 3.0
    assert s.null_counts == {"f_count": 2, "f_amount": 2} and s.churned == 2


def _reference(labels: pd.DataFrame, feats: pd.DataFrame, ttl: int) -> pd.DataFrame:
    m = labels.merge(feats, on="customer_id", how="left")
    ok = (m.snapshot_date <= m.label_date - dt.timedelta(days=1)) & (
        m.snapshot_date >= m.label_date - dt.timedelta(days=ttl))
    best = m[ok].sort_values("snapshot_date").groupby(["customer_id", "label_date"]).tail(1)
    out = labels.merge(best[["customer_id", "label_date", "snapshot_date", "f_count", "f_amount"]],
                       on=["customer_id", "label_date"], how="left")
    return out.rename(columns={"snapshot_date": "feature_snapshot_date"})


def test_matches_pandas_reference_asof_join(warehouse, specs):
    rng = np.random.default_rng(3)
    start = d("2024-02-01")
    label_rows = sorted({(f"c{rng.integers(0, 15):02d}", (start + dt.timedelta(days=int(rng.integers(10, 40)))).isoformat(),
                          int(rng.integers(0, 2))) for _ in range(60)}, key=lambda r: r[:2])
    label_rows = list({(c, ld): (c, ld, y) for c, ld, y in label_rows}.values())
    feat_rows = {(f"c{rng.integers(0, 15):02d}", (start + dt.timedelta(days=int(rng.integers(0, 45)))).isoformat())
                 for _ in range(200)}
    feats = pd.DataFrame([(c, s, int(rng.integers(0, 50)), None if rng.uniform() < 0.2 else float(rng.normal()))
                          for c, s in sorted(feat_rows)], columns=["customer_id", "snapshot_date", "f_count", "f_amount"])
    make_labels(warehouse, label_rows)
    make_features(warehouse, feats)
    s = build_training_set(warehouse, specs, ttl_days=6)

    labels = pd.DataFrame(label_rows, columns=["customer_id", "label_date", "churned"])
    labels["label_date"] = pd.to_datetime(labels["label_date"]).dt.date
    feats["snapshot_date"] = pd.to_datetime(feats["snapshot_date"]).dt.date
    expected = _reference(labels, feats, 6).sort_values(["customer_id", "label_date"]).reset_index(drop=True)
    got = _fetch(warehouse)[["customer_id", "label_date", "churned", "feature_snapshot_date", "f_count", "f_amount"]]
    expected = expected[got.columns]
    assert len(got) == len(labels) == s.rows
    assert 0 < s.missing_features < len(labels)  # the random case exercises both branches
    for frame in (got, expected):
        frame["feature_snapshot_date"] = frame["feature_snapshot_date"].map(lambda v: None if pd.isna(v) else v)
        frame["f_count"] = frame["f_count"].astype(float)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_features_are_read_through_the_patch_layer(warehouse, specs, monkeypatch):
    monkeypatch.setattr("feature_factory.features.patch_layer.patched_expressions",
                        lambda wh, features, qualifier=None: {
                            f.name: (f"COALESCE({f.name}, -1.0)" if f.name == "f_amount" else f.name)
                            for f in features})
    make_labels(warehouse, [("a", "2024-03-10", 1)])
    make_features(warehouse, pd.DataFrame([("a", "2024-03-09", 3, None)],
                                          columns=["customer_id", "snapshot_date", "f_count", "f_amount"]))
    build_training_set(warehouse, specs)
    assert warehouse.fetch_all("SELECT f_count, f_amount FROM training_set") == [(3, -1.0)]


def test_clear_errors(duckdb_warehouse, specs):
    with pytest.raises(TrainingSetError, match="churn_labels does not exist"):
        build_training_set(duckdb_warehouse, specs)
    make_labels(duckdb_warehouse, [("a", "2024-03-10", 1)])
    make_features(duckdb_warehouse, pd.DataFrame([("a", "2024-03-09", 3, 1.0)],
                                                 columns=["customer_id", "snapshot_date", "f_count", "f_amount"]))
    from ml_helpers import spec
    with pytest.raises(TrainingSetError, match=r"no column\(s\) \['f_new'\]"):
        build_training_set(duckdb_warehouse, [*specs, spec("f_new")])
    with pytest.raises(TrainingSetError, match="ttl_days"):
        build_training_set(duckdb_warehouse, specs, ttl_days=0)
    make_labels(duckdb_warehouse, [("a", "2024-03-10", 1), ("a", "2024-03-10", 0)])
    with pytest.raises(TrainingSetError, match=r"duplicate labels, e.g. customer 'a' on 2024-03-10 \(2 rows\)"):
        build_training_set(duckdb_warehouse, specs)
    assert not duckdb_warehouse.table_exists("training_set")
    duckdb_warehouse.execute("DELETE FROM churn_labels")
    with pytest.raises(TrainingSetError, match="churn_labels is empty"):
        build_training_set(duckdb_warehouse, specs)
