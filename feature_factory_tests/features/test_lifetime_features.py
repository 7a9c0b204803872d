"""Features over the whole relationship (issue 26 item 1): lifetime aggregates, tenure, windows
beyond 90 days and the population rule, on a hand-computed history, on DuckDB and Snowflake
(fakesnow); the state carried from day to day gives the values a rebuild from history gives."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from features_helpers import D, events_frame, write_raw_events

from feature_factory.catalog import CatalogError, load_catalog
from feature_factory.catalog.loader import parse_entries
from feature_factory.catalog.sources import DEFAULT_SOURCES_PATH as SHIPPED_SOURCES
from feature_factory.catalog.sources import load_sources
from feature_factory.features.entities import CUSTOMER_TABLES, resolve
from feature_factory.features.snapshot_sql import needs_state
from feature_factory.features.snapshots import state_table, write_snapshots

NOW = dt.datetime(2024, 6, 2)
SHIPPED = load_catalog()
LIFETIME = [f for f in SHIPPED.features if f.lifetime]
PURCHASES_120D = parse_entries([{
    "name": "purchases_120d", "description": "d", "owner": "me", "dtype": "int", "lifecycle": "active",
    "window_days": 120, "aggregate": {"agg": "count", "where": "event_type = 'purchase'"}}]).features[0]
FEATURES = [SHIPPED.get("days_since_last_event"), SHIPPED.get("purchases_90d"), PURCHASES_120D, *LIFETIME]

HISTORY = [
    ("x", "purchase", "web", 10.0, "2024-01-01"),
    ("x", "purchase", "web", 20.0, "2024-01-01"),  # same day: 2 purchases, 1 purchase day
    ("x", "browse", "web", 0.0, "2024-01-15"),
    ("x", "purchase", "web", 30.0, "2024-03-01"),
    ("x", "purchase", "web", 100.0, "2024-06-01"),  # after every snapshot day: never read
    ("y", "purchase", "web", 5.0, "2024-02-10"),
    ("z", "browse", "web", 0.0, "2024-05-20"),  # never purchased
]
# As of 2024-05-31 (2024 is a leap year), by hand.
X_0531 = {"days_since_last_event": 91, "purchases_90d": 0, "purchases_120d": 1, "tenure_days": 151,
          "days_since_last_purchase": 91, "purchases_lifetime": 3, "purchase_days_lifetime": 2,
          "purchase_days_per_30d": 2 * 30 / 152, "revenue_lifetime": 60.0, "avg_purchase_amount_lifetime": 20.0}
Y_0531 = {"days_since_last_event": 111, "purchases_90d": 0, "purchases_120d": 1, "tenure_days": 111,
          "days_since_last_purchase": 111, "purchases_lifetime": 1, "purchase_days_lifetime": 1,
          "purchase_days_per_30d": 30 / 112, "revenue_lifetime": 5.0, "avg_purchase_amount_lifetime": 5.0}
Z_0531 = {"days_since_last_event": 11, "tenure_days": 11, "days_since_last_purchase": None, "purchases_lifetime": 0,
          "purchase_days_lifetime": 0, "purchase_days_per_30d": 0.0, "revenue_lifetime": 0.0,
          "avg_purchase_amount_lifetime": None}


def entity(keep: int | None):
    spec = dataclasses.replace(CUSTOMER_TABLES.spec, keep_inactive_days=keep)
    return resolve(spec, CUSTOMER_TABLES.population_table, CUSTOMER_TABLES.population_key)


def rows(warehouse, day: str) -> dict[str, dict]:
    df = warehouse.fetch_df(f"SELECT * FROM customer_features WHERE snapshot_date = DATE '{day}' ORDER BY customer_id")
    return {r["customer_id"]: r for r in df.to_dict("records")}


def check(row: dict, expected: dict) -> None:
    for name, want in expected.items():
        got = row[name]
        if want is None:
            assert got is None or got != got, f"{name}: got {got!r}, expected NULL"
        else:
            assert got == pytest.approx(want), f"{name}: got {got!r}, expected {want!r}"


@pytest.mark.parametrize("strategy", ["direct", "window"])
def test_lifetime_values_by_hand_day_by_day_from_the_state(warehouse, strategy):
    write_raw_events(warehouse, events_frame(HISTORY))
    forever = entity(None)
    first = write_snapshots(warehouse, FEATURES, D("2024-05-30"), D("2024-05-30"), NOW, strategy, entity=forever)
    second = write_snapshots(warehouse, FEATURES, D("2024-05-31"), D("2024-05-31"), NOW, strategy, entity=forever)
    # The first day rebuilt the state from history; the next read it (one row per customer).
    assert first.plan.reads_history and not second.plan.reads_history
    assert second.plan.read_from == D("2024-05-31") - dt.timedelta(days=119)  # the longest window
    got = rows(warehouse, "2024-05-31")
    assert sorted(got) == ["x", "y", "z"]  # forever: x and y are kept long after their last event
    check(got["x"], X_0531)
    check(got["y"], Y_0531)
    check(got["z"], Z_0531)
    check(rows(warehouse, "2024-05-30")["x"], {**X_0531, "days_since_last_event": 90, "tenure_days": 150,
                                                "days_since_last_purchase": 90, "purchase_days_per_30d": 60 / 151})
    # One state per run's last day, every customer seen so far (z included, who never purchased).
    state = warehouse.fetch_df(f"SELECT * FROM {state_table(forever)} ORDER BY state_date, customer_id")
    assert [(str(d)[:10], c) for d, c in zip(state["state_date"], state["customer_id"])] == [
        (day, c) for day in ("2024-05-30", "2024-05-31") for c in "xyz"]


def test_range_rebuild_equals_the_state_carried_day_by_day(duckdb_warehouse):
    write_raw_events(duckdb_warehouse, events_frame(HISTORY))
    keep = entity(100)
    for day in ("2024-05-20", "2024-05-21", "2024-05-22"):
        write_snapshots(duckdb_warehouse, FEATURES, D(day), D(day), NOW, entity=keep)
    daily = duckdb_warehouse.fetch_df("SELECT * EXCLUDE (computed_at) FROM customer_features ORDER BY ALL")
    duckdb_warehouse.execute(f"DROP TABLE {state_table(keep)}")
    duckdb_warehouse.execute("DROP TABLE customer_features")
    once = write_snapshots(duckdb_warehouse, FEATURES, D("2024-05-20"), D("2024-05-22"), NOW, entity=keep)
    assert once.plan.reads_history
    ranged = duckdb_warehouse.fetch_df("SELECT * EXCLUDE (computed_at) FROM customer_features ORDER BY ALL")
    assert len(daily) == 6 and daily.equals(ranged)  # y (last seen 100+ days before) is out


def test_the_state_is_what_a_refresh_reads_not_history(duckdb_warehouse):
    write_raw_events(duckdb_warehouse, events_frame(HISTORY))
    forever = entity(None)
    write_snapshots(duckdb_warehouse, LIFETIME, D("2024-05-30"), D("2024-05-30"), NOW, entity=forever)
    # An old row landing later is not in the state: the next day does not rescan history ...
    write_raw_events(duckdb_warehouse, events_frame([*HISTORY, ("y", "purchase", "web", 7.0, "2024-01-02")]))
    write_snapshots(duckdb_warehouse, LIFETIME, D("2024-05-31"), D("2024-05-31"), NOW, entity=forever)
    assert rows(duckdb_warehouse, "2024-05-31")["y"]["purchases_lifetime"] == 1
    # ... re-running the range from the changed day rebuilds it (the documented remedy).
    write_snapshots(duckdb_warehouse, LIFETIME, D("2024-01-02"), D("2024-05-31"), NOW, entity=forever)
    assert rows(duckdb_warehouse, "2024-05-31")["y"]["purchases_lifetime"] == 2
    assert rows(duckdb_warehouse, "2024-05-31")["y"]["tenure_days"] == (D("2024-05-31") - D("2024-01-02")).days
    # Re-running an earlier day drops the states after it: the next day rebuilds from history.
    write_snapshots(duckdb_warehouse, LIFETIME, D("2024-05-30"), D("2024-05-30"), NOW, entity=forever)
    again = write_snapshots(duckdb_warehouse, LIFETIME, D("2024-06-01"), D("2024-06-01"), NOW, entity=forever)
    assert again.plan.reads_history and rows(duckdb_warehouse, "2024-06-01")["x"]["purchases_lifetime"] == 4


def test_a_feature_added_later_rebuilds_its_state_once(duckdb_warehouse):
    write_raw_events(duckdb_warehouse, events_frame(HISTORY))
    write_snapshots(duckdb_warehouse, LIFETIME[:1], D("2024-05-30"), D("2024-05-30"), NOW, entity=entity(None))
    added = write_snapshots(duckdb_warehouse, LIFETIME, D("2024-05-31"), D("2024-05-31"), NOW, entity=entity(None))
    assert added.plan.reads_history  # revenue_lifetime etc. were not in the state: read history once
    check(rows(duckdb_warehouse, "2024-05-31")["x"], {k: X_0531[k] for k in ("tenure_days", "revenue_lifetime")})


@pytest.mark.parametrize("keep, present", [(90, {"z"}), (92, {"x", "z"}), (112, {"x", "y", "z"})])
def test_population_rule(duckdb_warehouse, keep, present):
    write_raw_events(duckdb_warehouse, events_frame(HISTORY))
    write_snapshots(duckdb_warehouse, FEATURES, D("2024-05-31"), D("2024-05-31"), NOW, entity=entity(keep))
    got = rows(duckdb_warehouse, "2024-05-31")
    assert set(got) == present  # x last seen 91 days ago, y 111, z 11
    check(got["z"], Z_0531)


def test_default_rule_and_windows_keep_the_classic_plan():
    assert not needs_state([SHIPPED.get("purchases_90d")])
    assert needs_state([SHIPPED.get("purchases_90d")], keep_inactive_days=None)
    assert needs_state([PURCHASES_120D]) and needs_state(LIFETIME)


def sources_with(tmp_path, value):
    """The shipped sources file with the customer's `keep_inactive_days` set to `value`."""
    text = SHIPPED_SOURCES.read_text()
    assert text.count("    keep_inactive_days: 90\n") == 1  # the shipped customer spells the default out
    text = text.replace("    keep_inactive_days: 90\n", "" if value is None else f"    keep_inactive_days: {value}\n")
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return load_sources(path)


@pytest.mark.parametrize("value, expected", [("forever", None), (30, 30), (None, 90)])
def test_keep_inactive_days_in_the_sources_file(tmp_path, value, expected):
    assert sources_with(tmp_path, value).entity("customer").keep_inactive_days == expected


@pytest.mark.parametrize("bad", [0, "always", "true"])
def test_bad_keep_inactive_days_names_the_entity(tmp_path, bad):
    with pytest.raises(CatalogError, match=r"entity 'customer'.*keep_inactive_days must be a positive number of "
                                           r"days or 'forever'"):
        sources_with(tmp_path, bad)
