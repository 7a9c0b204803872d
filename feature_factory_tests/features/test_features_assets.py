"""The features domain in Dagster: materialize raw_events (fixture) -> customer_features -> online,
with checks, metadata, lifecycle rules and a catalog-added feature."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml
from features_helpers import D, events_frame, random_events, reference_features, write_raw_events

from feature_factory.catalog_resource import CatalogResource
from feature_factory import markdown as md
from feature_factory import partitions
from feature_factory.catalog import load_catalog
from feature_factory.catalog.loader import CATALOG_ENV, DEFAULT_PATH
from feature_factory.features import assets, checks, online
from feature_factory.warehouse.base import Warehouse

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def events_asset(events):
    @dg.asset(name="raw_events", partitions_def=partitions.daily_partitions, group_name="events")
    def raw_events(warehouse: Warehouse) -> None:  # stands in for ingestion: the fixture's rows, written once
        if not warehouse.table_exists("raw_events"):
            write_raw_events(warehouse, events)

    return raw_events


def materialize(warehouse, events, selection=None, partition_key=None, tags=None, run_config=None):
    defs = [events_asset(events), assets.customer_features, assets.customer_features_online, *checks.all_checks()]
    return dg.materialize(defs, resources={"warehouse": warehouse, "catalog": CatalogResource()}, partition_key=partition_key, tags=tags,
                          selection=selection, run_config=run_config, raise_on_error=False)


def metadata(result, key):
    mats = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key.to_user_string() == key]
    return {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}


def check_results(result):
    return {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_materialize_range_then_online_with_checks_and_metadata(duckdb_warehouse):
    events = random_events(seed=5, start="2024-01-01", days=100, n=700)
    tags = {RANGE_START: "2024-03-20", RANGE_END: "2024-04-09"}
    result = materialize(duckdb_warehouse, events, tags=tags)
    assert result.success
    expected = reference_features(events, [D("2024-03-20") + dt.timedelta(days=i) for i in range(21)])
    meta = metadata(result, "customer_features")
    assert meta["dagster/row_count"] == len(expected) == duckdb_warehouse.row_count("customer_features")
    assert meta["customers"] == expected["customer_id"].nunique()
    assert meta["sql_plan"] == "window" and meta["snapshot_range"] == "2024-03-20 .. 2024-04-09"
    assert meta["events_read_from"] == "2023-12-22"
    schema = {c.name: c for c in meta["dagster/column_schema"].columns}
    assert "Sum of purchase amounts" in schema["revenue_7d"].description
    lineage = meta["dagster/column_lineage"].deps_by_column
    assert {d.column_name for d in lineage["revenue_7d"]} == {"amount", "event_type", "event_date"}
    assert all(d.asset_key == dg.AssetKey("raw_events") for d in lineage["revenue_7d"])
    # The preview: one line per feature, a column per customer (first 5 of the last day), rounded.
    last = expected[expected["snapshot_date"] == expected["snapshot_date"].max()].sort_values("customer_id")
    header = meta["preview"].splitlines()[0]
    assert header == "| feature | " + " | ".join(str(c) for c in last["customer_id"][:5]) + " |"
    revenue = next(line for line in meta["preview"].splitlines() if line.startswith("| revenue_7d |"))
    assert revenue.split(" | ")[1] == md.fmt(float(last["revenue_7d"].iloc[0]))

    # The online table: each customer's newest snapshot; last-day customers are fresh.
    latest = expected.sort_values("snapshot_date").groupby("customer_id").tail(1)
    on = duckdb_warehouse.fetch_df("SELECT * FROM customer_features_online ORDER BY customer_id")
    assert on["customer_id"].tolist() == sorted(latest["customer_id"])
    assert metadata(result, "customer_features_online")["dagster/row_count"] == len(latest)
    stale = set(on.loc[on["is_stale"], "customer_id"])
    assert stale == set(latest.loc[latest["snapshot_date"] < D("2024-04-07"), "customer_id"])

    evals = check_results(result)
    assert evals[checks.NO_DUPLICATES].passed
    assert evals["revenue_7d_expectations"].passed and len(evals) == 1 + len(load_catalog().computed())
    # Expectations look at the latest partition of the run; the duplicate gate at the whole range.
    last_day = evals["revenue_7d_expectations"].metadata
    assert last_day["snapshot_date"].value == "2024-04-09"
    assert last_day["rows"].value == (expected["snapshot_date"] == D("2024-04-09")).sum()
    assert evals[checks.NO_DUPLICATES].metadata["snapshot_range"].value == "2024-03-20 .. 2024-04-09"


def test_checks_catch_planted_range_violation(duckdb_warehouse):
    events = events_frame([
        ("a", "purchase", "web", 91234.5, "2024-02-10"),  # far above max_amount_7d's max 5000
        ("b", "purchase", "web", 20.0, "2024-02-10"),
    ])
    result = materialize(duckdb_warehouse, events, partition_key="2024-02-10",
                         selection=["raw_events", "customer_features"])
    assert result.success  # expectation checks warn; they do not block
    ev = check_results(result)["max_amount_7d_expectations"]
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN
    assert ev.description == "max_amount_7d: 1 rows above max 5000 (max seen 91234.5)"
    assert ev.metadata["rows_above_max"].value == 1
    # Null-rate expectation: every row here has a stddev of NULL (one amount each).
    nulls = check_results(result)["amount_stddev_7d_expectations"]
    assert not nulls.passed and "null rate 1.000 above max_null_rate 0.8 (2 of 2 rows NULL)" in nulls.description


def test_duplicate_check_blocks_downstream(duckdb_warehouse):
    events = events_frame([("a", "purchase", "web", 10.0, "2024-02-10")])
    assert materialize(duckdb_warehouse, events, partition_key="2024-02-10",
                       selection=["raw_events", "customer_features"]).success
    # Plant a duplicate row, then re-run only the check and the online table after it.
    duckdb_warehouse.execute("INSERT INTO customer_features SELECT * FROM customer_features")
    defs = [assets.customer_features_online, checks.no_duplicate_keys, assets.customer_features]
    result = dg.materialize(defs, resources={"warehouse": duckdb_warehouse, "catalog": CatalogResource()}, raise_on_error=False,
                            selection=dg.AssetSelection.checks(checks.no_duplicate_keys) | dg.AssetSelection.assets("customer_features_online"))
    ev = check_results(result)[checks.NO_DUPLICATES]
    assert not ev.passed and "1 duplicated (customer_id, snapshot_date) keys" in ev.description
    assert not duckdb_warehouse.table_exists("customer_features_online")  # blocked


def write_catalog(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load(DEFAULT_PATH.read_text())
    mutate(doc["features"])
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_adding_a_catalog_entry_adds_a_computed_and_served_column(duckdb_warehouse, tmp_path, monkeypatch):
    def add(features):
        features.append({
            "name": "mobile_revenue_30d", "description": "Purchase amounts on mobile, 30 days.",
            "dtype": "float", "window_days": 30,
            "aggregate": {"agg": "sum", "value": "amount", "where": "event_type = 'purchase' AND channel = 'mobile'"},
            "expectations": {"min": 0, "max": 100000},
        })

    monkeypatch.setenv(CATALOG_ENV, str(write_catalog(tmp_path, add)))
    events = random_events(seed=3, start="2024-01-01", days=60, n=300)
    assert materialize(duckdb_warehouse, events, partition_key="2024-02-20").success
    got = duckdb_warehouse.fetch_df("SELECT customer_id, mobile_revenue_30d FROM customer_features ORDER BY customer_id")
    ev = events.copy()
    window = ev[(ev["event_date"] > D("2024-01-21")) & (ev["event_date"] <= D("2024-02-20"))
                & (ev["event_type"] == "purchase") & (ev["channel"] == "mobile")]
    expected = window.groupby("customer_id")["amount"].apply(lambda s: s.dropna().astype(float).sum())
    for cid, value in zip(got["customer_id"], got["mobile_revenue_30d"]):
        assert value == pytest.approx(expected.get(cid, 0.0))
    served = online.get_online_features(duckdb_warehouse, list(got["customer_id"][:3]))
    assert served["mobile_revenue_30d"].tolist() == pytest.approx(got["mobile_revenue_30d"][:3].tolist())


def test_lifecycle_retired_absent_draft_not_served_deprecated_marked(duckdb_warehouse, tmp_path, monkeypatch):
    states = {"web_events_7d": "retired", "browse_events_7d": "draft", "mobile_events_7d": "deprecated"}

    def set_states(features):
        for f in features:
            f["lifecycle"] = states.get(f["name"], f.get("lifecycle", "active"))

    monkeypatch.setenv(CATALOG_ENV, str(write_catalog(tmp_path, set_states)))
    catalog = load_catalog()
    assert "browse_events_7d" not in [f.name for f in catalog.trainable()]
    events = events_frame([("a", "browse", "web", 0.0, "2024-02-10"), ("a", "purchase", "mobile", 5.0, "2024-02-10")])
    result = materialize(duckdb_warehouse, events, partition_key="2024-02-10")
    assert result.success
    cols = {c for c, _ in duckdb_warehouse.columns("customer_features")}
    assert "web_events_7d" not in cols and {"browse_events_7d", "mobile_events_7d"} <= cols
    online_cols = {c for c, _ in duckdb_warehouse.columns("customer_features_online")}
    assert "browse_events_7d" not in online_cols and "web_events_7d" not in online_cols
    assert "mobile_events_7d" in online_cols
    schema = {c.name: c for c in metadata(result, "customer_features")["dagster/column_schema"].columns}
    assert schema["mobile_events_7d"].description.startswith("DEPRECATED")
    assert schema["browse_events_7d"].description.startswith("DRAFT")
    assert "web_events_7d" not in schema
    assert "web_events_7d_expectations" not in check_results(result)


def test_online_table_follows_new_snapshots_by_automation(duckdb_warehouse):
    events = events_frame([("a", "purchase", "web", 10.0, "2024-02-10")])
    defs = dg.Definitions(assets=[events_asset(events), assets.customer_features, assets.customer_features_online],
                          resources={"warehouse": duckdb_warehouse, "catalog": CatalogResource()})
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0
    dg.materialize([events_asset(events), assets.customer_features], instance=instance, partition_key="2024-02-10",
                   resources={"warehouse": duckdb_warehouse, "catalog": CatalogResource()})
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert after.total_requested == 1
    assert after.get_num_requested(dg.AssetKey("customer_features_online")) == 1


def test_code_location_has_the_features_domain():
    from feature_factory.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"customer_features", "customer_features_online"} <= keys
    node = graph.get(dg.AssetKey("customer_features"))
    assert node.group_name == "features" and node.partitions_def == partitions.daily_partitions
    assert node.backfill_policy == partitions.single_run_backfill
    checks_on = {c.name for c in graph.asset_check_keys if c.asset_key == dg.AssetKey("customer_features")}
    assert checks.NO_DUPLICATES in checks_on and "max_amount_7d_expectations" in checks_on
