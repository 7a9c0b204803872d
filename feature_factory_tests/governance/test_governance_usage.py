"""The usage ledger: who reads a feature (model versions, snapshots, declared training sets), the
feature_usage table on both backends, and retirement candidates."""

from __future__ import annotations

import datetime as dt

from feature_factory.catalog import DType, FeatureSpec, Lifecycle
from feature_factory.catalog.training_sets import JoinSpec, TrainingSetSpec
from feature_factory.governance import usage
from feature_factory.ml.registry import ModelRegistry


def _spec(name):
    return FeatureSpec(name=name, description=name, owner="t", dtype=DType.FLOAT, lifecycle=Lifecycle.ACTIVE,
                       aggregate=None, window_days=7)


def test_who_reads_and_what_to_retire(warehouse, tmp_path):
    reg = ModelRegistry(tmp_path / "models")
    old = reg.register({"m": 1}, model_type="lr", features=["f_old", "f_both"], data_version="1")
    live = reg.register({"m": 2}, model_type="rf", features=["f_both"], data_version="2")
    reg.mark_challenger(live.version, {"passed": True, "champion_version": None})
    declared = TrainingSetSpec("orders_ts", "", "", "orders", "raw_orders", ("id",), "ts",
                               (JoinSpec("customer", "customer_id", ("f_joined",)),))
    uses = usage.uses(reg, warehouse, [declared])
    assert [(u.reader_kind, u.reader, u.status) for u in usage.readers(uses, "f_both")] == [
        ("model_version", "v1 lr", "archived"), ("model_version", "v2 rf", "challenger")]

    assert usage.write(warehouse, uses) == 4
    assert warehouse.fetch_all("SELECT reader_kind, reader FROM feature_usage WHERE feature = 'f_joined'") == [
        ("training_set", "orders_ts")]

    features = [_spec(n) for n in ("f_old", "f_both", "f_joined", "f_unread")]
    registered = dt.datetime.fromisoformat(old.created_at).replace(tzinfo=None)
    soon, later = registered + dt.timedelta(days=10), registered + dt.timedelta(days=100)
    assert usage.retirement_candidates(features, uses, 90, soon) == ["f_unread"]
    # 100 days on: the archived model's read is too old; the challenger and the declared set still count.
    assert usage.retirement_candidates(features, uses, 90, later) == ["f_old", "f_unread"]
