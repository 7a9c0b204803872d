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


def test_online_reads_are_readers_and_keep_a_feature_from_retirement(warehouse, tmp_path):
    from feature_factory.serving.read_log import ReadLog, load

    log = ReadLog(tmp_path / "online_reads.sqlite")
    for _ in range(3):
        log.record("scoring", ["f_online"])
    log.record("anonymous", ["f_online", "f_once"])
    log.flush()
    online = load(log.path)
    uses = usage.uses(None, None, (), online)
    assert [(u.reader_kind, u.reader, u.status, u.reads) for u in usage.readers(uses, "f_online")] == [
        ("online", "anonymous", "online", 1), ("online", "scoring", "online", 3)]

    assert usage.write(warehouse, uses) == 3
    assert warehouse.fetch_all("SELECT reader, reads FROM feature_usage WHERE feature = 'f_online' "
                               "ORDER BY reader") == [("anonymous", 1), ("scoring", 3)]
    last = max(r.last_read for r in online)
    features = [_spec(n) for n in ("f_online", "f_once", "f_unread")]
    assert usage.retirement_candidates(features, uses, 30, last + dt.timedelta(days=1)) == ["f_unread"]
    assert usage.retirement_candidates(features, uses, 30, last + dt.timedelta(days=31)) == [
        "f_once", "f_online", "f_unread"]


def test_feature_usage_asset_reads_the_servers_read_log(duckdb_warehouse, tmp_path):
    import dagster as dg

    from feature_factory.catalog_resource import CatalogResource
    from feature_factory.governance.definitions import feature_usage
    from feature_factory.ml.resources import ModelRegistryResource
    from feature_factory.serving.read_log import ReadLog

    log = ReadLog(tmp_path / "online_reads.sqlite")
    log.record("scoring", ["revenue_7d"])
    log.record("scoring", ["revenue_7d"])
    log.flush()
    result = dg.materialize(
        [feature_usage], resources={"warehouse": duckdb_warehouse, "catalog": CatalogResource(),
                                    "model_registry": ModelRegistryResource(root=str(tmp_path / "models"))},
        run_config={"ops": {"feature_usage": {"config": {"online_reads_path": str(log.path)}}}})
    meta = result.asset_materializations_for_node("feature_usage")[0].metadata
    assert meta["online_reads"].value == 2
    assert duckdb_warehouse.fetch_all("SELECT feature, reader_kind, reader, reads FROM feature_usage "
                                      "WHERE reader_kind = 'online'") == [("revenue_7d", "online", "scoring", 2)]
    retire = meta["retirement_candidates"].value
    assert "revenue_7d" not in retire and "purchases_7d" in retire
