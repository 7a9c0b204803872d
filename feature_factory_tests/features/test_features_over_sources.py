"""Features over another source (support_tickets) and over two sources (a ratio), from YAML only:
the loader checks them against the source's columns; the snapshot computes them in the same one
statement as the churn features (whose values do not change), on DuckDB and Snowflake (fakesnow);
and tickets landed as CSV go through quarantine, customer_features, the online table, statistics
and drift with no code change."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from features_helpers import D, events_frame, write_raw_events

from feature_factory.catalog import Catalog, CatalogError, load_catalog, load_sources
from feature_factory.catalog.loader import parse_entries
from feature_factory.events.ingestion import ingest_source_range
from feature_factory.features import assets as feature_assets
from feature_factory.features.online import build_online_table
from feature_factory.features.snapshot_sql import snapshot_plan
from feature_factory.features.snapshots import FeatureBuildError, write_snapshots

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
SOURCES = EXAMPLES / "sources_support_tickets.yaml"
CATALOG = EXAMPLES / "features_support_tickets.yaml"
TICKET_FEATURES = ["tickets_30d", "high_priority_tickets_30d", "avg_minutes_to_resolve_30d",
                   "tickets_per_purchase_30d"]
NOW = dt.datetime(2024, 6, 1, 12, 0, 0)


@pytest.fixture
def catalog(monkeypatch):
    monkeypatch.setenv("FEATURE_FACTORY_SOURCES", str(SOURCES))
    return load_catalog(CATALOG)


# -- the catalog ---------------------------------------------------------------------------------------
def test_example_catalog_is_the_shipped_one_plus_ticket_features(catalog):
    shipped = load_catalog()
    assert catalog.features[:len(shipped.features)] == shipped.features  # the churn example unchanged
    assert catalog.names()[len(shipped.features):] == TICKET_FEATURES
    t = catalog.get("high_priority_tickets_30d")
    assert (t.source, t.source_table, t.source_key, t.filter_sql) == (
        "support_tickets", "raw_support_tickets", "customer_id", "(priority = 'high')")
    assert not t.over_raw_events and catalog.get("purchases_7d").over_raw_events
    ratio = catalog.get("tickets_per_purchase_30d")
    assert (ratio.numerator.table, ratio.numerator.agg, ratio.denominator.table, ratio.denominator.filter_sql) == (
        "raw_support_tickets", "count", "raw_events", "(event_type = 'purchase')")
    assert ratio.reads == (("raw_events", "event_date"), ("raw_events", "event_id"), ("raw_events", "event_type"),
                           ("raw_support_tickets", "event_date"), ("raw_support_tickets", "ticket_id"))


def test_customer_features_deps_and_lineage_name_each_source_table(catalog):
    assert [k.path[-1] for k in feature_assets.source_deps(catalog)] == ["raw_events", "raw_support_tickets"]
    assert [k.path[-1] for k in feature_assets.source_deps(load_catalog())] == ["raw_events"]
    lineage = feature_assets.column_lineage(catalog.computed()).deps_by_column
    as_pairs = lambda col: [(d.asset_key.path[-1], d.column_name) for d in lineage[col]]  # noqa: E731
    assert as_pairs("avg_minutes_to_resolve_30d") == [("raw_support_tickets", "event_date"),
                                                      ("raw_support_tickets", "minutes_to_resolve")]
    assert as_pairs("purchases_7d") == [("raw_events", "event_date"), ("raw_events", "event_id"),
                                        ("raw_events", "event_type")]
    assert ("raw_support_tickets", "ticket_id") in as_pairs("tickets_per_purchase_30d")


def _entry(**kw):
    return {"name": "x", "description": "d", "owner": "o", "dtype": "int", "lifecycle": "active",
            "window_days": 7, "source": "support_tickets", "aggregate": {"agg": "count"}, **kw}


@pytest.mark.parametrize("entry, message", [
    (_entry(aggregate={"agg": "count", "where": "event_type = 'purchase'"}),
     "aggregate.where \"event_type = 'purchase'\" references unknown column of source 'support_tickets' "
     "'event_type'; known: ticket_id, customer_id, opened_at"),
    (_entry(aggregate={"agg": "sum", "value": "amount"}), "references unknown column of source 'support_tickets'"),
    (_entry(source="tickets"), "source 'tickets' is not declared in "),
    (_entry(aggregate={"agg": "days_since_last_event"}), "days_since_last_event is over the entity's population source 'events' only"),
    (_entry(dtype="float", aggregate={"agg": "ratio", "numerator": {"agg": "avg", "value": "minutes_to_resolve"},
                                      "denominator": {"agg": "count", "source": "events"}}),
     "aggregate.numerator.agg 'avg' is not one of count, sum"),
    (_entry(dtype="float", aggregate={"agg": "ratio", "numerator": {"agg": "count"},
                                      "denominator": {"agg": "count", "source": "events", "where": "priority = 'high'"}}),
     "aggregate.denominator.where \"priority = 'high'\" references unknown raw_events column 'priority'"),
    (_entry(aggregate={"agg": "ratio", "numerator": {"agg": "count"}, "denominator": {"agg": "count"}}),
     "a ratio feature must have dtype float"),
])
def test_bad_feature_over_a_source_names_file_entry_and_field(entry, message):
    with pytest.raises(CatalogError) as err:
        parse_entries([entry], source="my_features.yaml", sources=load_sources(SOURCES))
    assert f"my_features.yaml: entry #1 ('x'): " in str(err.value) and message in str(err.value)


def test_catalog_file_naming_an_undeclared_source_stops_with_the_sources_file(tmp_path, monkeypatch):
    monkeypatch.delenv("FEATURE_FACTORY_SOURCES", raising=False)  # the shipped sources: events only
    path = tmp_path / "features.yaml"
    path.write_text("features:\n  - {name: t7, description: d, owner: o, dtype: int, lifecycle: active, "
                    "window_days: 7, source: support_tickets, aggregate: {agg: count}}\n")
    with pytest.raises(CatalogError, match=r"features.yaml: entry #1 \('t7'\): source 'support_tickets' is not "
                                           r"declared in .*sources.yaml \(known: events\)"):
        load_catalog(path)


# -- values ----------------------------------------------------------------------------------------------
EVENTS = [
    ("a", "purchase", "web", 10.0, "2024-04-30"),
    ("a", "purchase", "web", 20.0, "2024-04-10"),
    ("a", "browse", "web", 0.0, "2024-03-20"),
    ("b", "browse", "mobile", 0.0, "2024-04-29"),  # no purchase: ratio NULL
    ("c", "purchase", "web", 5.0, "2024-02-15"),   # seen in 90 days, nothing in 30
]
# (ticket_id, customer_id, priority, minutes_to_resolve, day)
TICKETS = [
    ("t1", "a", "high", 30.0, "2024-04-30"),
    ("t2", "a", "low", 10.0, "2024-04-01"),   # first day of a 30-day window ending 04-30
    ("t3", "a", "high", 99.0, "2024-03-31"),  # just outside it
    ("t4", "b", "normal", None, "2024-04-29"),  # still open: counted, no minutes
    ("t5", "z", "high", 5.0, "2024-04-30"),   # no events: not in the population
]


def write_raw_tickets(warehouse, rows) -> None:
    values = ", ".join(
        f"('{t}', '{c}', '{p}', {'NULL' if m is None else m}, '{d}')" for t, c, p, m, d in rows)
    warehouse.replace_table("raw_support_tickets", f"""
        SELECT CAST(t AS VARCHAR) AS ticket_id, CAST(c AS VARCHAR) AS customer_id,
               CAST(CAST(d AS DATE) AS TIMESTAMP) AS opened_at, CAST(p AS VARCHAR) AS priority,
               CAST(m AS DOUBLE) AS minutes_to_resolve, CAST('chat' AS VARCHAR) AS channel,
               CAST(d AS DATE) AS event_date, CAST('t.csv' AS VARCHAR) AS source_file,
               CAST(1 AS BIGINT) AS source_row, CAST('2024-06-01 00:00:00' AS TIMESTAMP) AS ingested_at
        FROM (VALUES {values}) AS v(t, c, p, m, d)""")


def _compute(warehouse, features, first, last, strategy):
    plan = snapshot_plan(warehouse.dialect, features, first, last, NOW, strategy=strategy)
    return warehouse.fetch_df(f"SELECT * FROM ({plan.sql}) AS q ORDER BY customer_id, snapshot_date")


@pytest.mark.parametrize("strategy", ["direct", "window"])
def test_ticket_and_ratio_features_in_one_statement(warehouse, catalog, strategy):
    write_raw_events(warehouse, events_frame(EVENTS))
    write_raw_tickets(warehouse, TICKETS)
    got = _compute(warehouse, catalog.computed(), D("2024-04-29"), D("2024-04-30"), strategy)
    day30 = got[got["snapshot_date"].astype(str) == "2024-04-30"].set_index("customer_id")
    assert sorted(day30.index) == ["a", "b", "c"]  # z (tickets only) is no customer of the population
    cols = ["tickets_30d", "high_priority_tickets_30d", "avg_minutes_to_resolve_30d", "tickets_per_purchase_30d"]
    assert day30.loc["a", cols].tolist() == [2, 1, 20.0, 1.0]  # t1 + t2 over 2 purchases
    assert day30.loc["b", cols[:2]].tolist() == [1, 0]
    assert pd.isna(day30.loc["b", "avg_minutes_to_resolve_30d"]) and pd.isna(day30.loc["b", "tickets_per_purchase_30d"])
    assert day30.loc["c", cols[:2]].tolist() == [0, 0] and pd.isna(day30.loc["c", "tickets_per_purchase_30d"])
    day29 = got[got["snapshot_date"].astype(str) == "2024-04-29"].set_index("customer_id")
    # 04-29: t1 not yet, t3 (03-31) inside the window ending 04-29
    assert day29.loc["a", cols].tolist() == [2, 1, pytest.approx(54.5), 2.0]
    # The churn features are the same as computed by the events-only statement.
    churn = [f.name for f in load_catalog().computed()]
    alone = _compute(warehouse, load_catalog().computed(), D("2024-04-29"), D("2024-04-30"), strategy)
    pd.testing.assert_frame_equal(got[["customer_id", "snapshot_date", *churn]].reset_index(drop=True),
                                  alone[["customer_id", "snapshot_date", *churn]].reset_index(drop=True))


def test_missing_source_table_is_a_clear_build_error(duckdb_warehouse, catalog):
    write_raw_events(duckdb_warehouse, events_frame(EVENTS))
    with pytest.raises(FeatureBuildError, match=r"table raw_support_tickets \(read by avg_minutes_to_resolve_30d, "
                                                r"high_priority_tickets_30d, tickets_30d, tickets_per_purchase_30d\) "
                                                "does not exist"):
        write_snapshots(duckdb_warehouse, catalog.features, D("2024-04-30"), D("2024-04-30"))


# -- end to end: landed tickets -> quarantine -> customer_features -> online -> stats -> drift ---------------
CUSTOMERS = 40


def _land_tickets(folder: Path) -> None:
    """40 customers (drift judges >= 30 values), one ticket every 10 days from early January, then a
    surge of 6 on 02-19/20."""
    header = "ticket_id,account_id,created,priority,minutes_to_resolve,channel"
    by_day: dict[dt.date, list[str]] = {}
    n = 0
    for c in range(CUSTOMERS):
        days = [D("2024-01-01") + dt.timedelta(days=d) for d in range(c % 8, 48, 10)]
        days += [D("2024-02-19")] * 3 + [D("2024-02-20")] * 3
        for day in days:
            n += 1
            prio = "P1" if n % 3 == 0 else "p3"
            by_day.setdefault(day, []).append(f"t{n},c{c},{day}T09:00:00Z,{prio},{10 * (c + 1)},Chat")
    by_day[D("2024-02-20")].append("t999,c0,2024-02-20T10:00:00Z,urgent,5,chat")  # quarantined
    for month in ("01", "02"):  # a file may hold many days: rows go to the day of their opened_at
        rows = [r for day, day_rows in sorted(by_day.items()) if f"{day.month:02d}" == month for r in day_rows]
        (folder / f"tickets_2024-{month}.csv").write_text("\n".join([header, *rows]) + "\n")


def _landed_to_online(warehouse, catalog, tmp_path):
    folder = tmp_path / "support_tickets"
    folder.mkdir()
    _land_tickets(folder)
    spec = load_sources(SOURCES).get("support_tickets")
    result = ingest_source_range(warehouse, spec, D("2024-01-01"), D("2024-02-21"), folder=folder,
                                 now=dt.datetime(2024, 3, 1), start_date=D("2024-01-01"))
    assert warehouse.fetch_all("SELECT ticket_id, reason FROM support_tickets_quarantine") == [
        ("t999", "unknown_priority")]
    assert result.rows_accepted == CUSTOMERS * (5 + 6)
    assert warehouse.fetch_one("SELECT COUNT(*) FROM raw_support_tickets")[0] == CUSTOMERS * (5 + 6)
    events = [(f"c{c}", "purchase", "web", 10.0, str(D("2024-01-01") + dt.timedelta(days=d)))
              for c in range(CUSTOMERS) for d in range(0, 51, 2)]
    write_raw_events(warehouse, events_frame(events))

    # The ticket features and one churn feature as the control (the full catalog's values are the
    # test above; fewer columns keep fakesnow's SQL translation fast).
    watched = [catalog.get(n) for n in (*TICKET_FEATURES, "purchases_30d")]
    write_snapshots(warehouse, watched, D("2024-02-01"), D("2024-02-20"))
    online = build_online_table(warehouse, Catalog(tuple(watched)))
    assert set(TICKET_FEATURES) <= set(online.features)
    c0 = warehouse.fetch_one("SELECT tickets_30d, high_priority_tickets_30d, avg_minutes_to_resolve_30d, "
                             "tickets_per_purchase_30d FROM customer_features_online WHERE customer_id = 'c0'")
    tickets_c0 = warehouse.fetch_one(
        "SELECT COUNT(*), COUNT(CASE WHEN priority = 'high' THEN 1 END) FROM raw_support_tickets "
        "WHERE customer_id = 'c0' AND event_date BETWEEN CAST('2024-01-22' AS DATE) AND CAST('2024-02-20' AS DATE)")
    assert c0[:2] == tuple(tickets_c0) and c0[0] == 8  # 01-31, 02-10 and the 6 of the surge
    assert c0[2] == pytest.approx(10.0)
    assert c0[3] == pytest.approx(8 / 15)  # 15 purchases (every other day) in 30 days


def test_landed_tickets_to_served_features(warehouse, catalog, tmp_path):
    _landed_to_online(warehouse, catalog, tmp_path)


def test_ticket_features_are_monitored_and_drift(duckdb_warehouse, catalog, tmp_path):
    """Statistics and drift read customer_features only (the same SQL whatever a column's source;
    their Snowflake runs are the monitoring tests'), so DuckDB alone here keeps fakesnow time down."""
    from feature_factory.monitoring.report.alerts import evaluate_days
    from feature_factory.monitoring.detection.baseline import capture_baseline
    from feature_factory.monitoring.statistics.feature_stats import write_feature_stats

    warehouse = duckdb_warehouse
    _landed_to_online(warehouse, catalog, tmp_path)

    monitored = [catalog.get(n) for n in ("tickets_30d", "tickets_per_purchase_30d", "purchases_30d")]
    write_feature_stats(warehouse, D("2024-02-01"), D("2024-02-20"), features=monitored)
    stats = warehouse.fetch_one("SELECT mean FROM feature_stats WHERE feature = 'tickets_30d' "
                                "AND stats_date = CAST('2024-02-20' AS DATE)")
    assert stats[0] == pytest.approx(warehouse.fetch_one(
        "SELECT AVG(tickets_30d) FROM customer_features WHERE snapshot_date = CAST('2024-02-20' AS DATE)")[0])
    capture_baseline(warehouse, D("2024-02-01"), D("2024-02-14"), features=monitored)
    (report,) = evaluate_days(warehouse, D("2024-02-20"), D("2024-02-20"), features=monitored)
    drifted = {r.feature: r for r in report.results if r.types}
    assert "tickets_30d" in drifted and "tickets_per_purchase_30d" in drifted  # the surge
    assert "purchases_30d" not in drifted  # the events did not change
    _, evidence = report.diagnoses["tickets_30d"]
    assert evidence["headline"] == "tickets_30d: not attributed: source support_tickets"


def test_raw_events_readers_skip_features_over_other_sources(catalog, duckdb_warehouse):
    from feature_factory.features.patches import ExcludeSource, PatchValidationError
    from feature_factory.monitoring.explain.attribution import attributable
    from feature_factory.monitoring.inputs import input_specs

    write_raw_events(duckdb_warehouse, events_frame(EVENTS))
    columns = {c for c, _ in duckdb_warehouse.columns("raw_events")}
    # avg_minutes_to_resolve_30d reads minutes_to_resolve, a column raw_events does not even have;
    # tickets_30d's columns would not say it: the source does.
    picked = [s.name for s in attributable(catalog.computed(), columns | {"ticket_id", "priority"})]
    assert "purchases_30d" in picked and not set(TICKET_FEATURES) & set(picked)
    inputs = input_specs(duckdb_warehouse, catalog.computed())
    assert "revenue_30d" in inputs and not set(TICKET_FEATURES) & set(inputs)
    for name in ("high_priority_tickets_30d", "tickets_per_purchase_30d"):
        with pytest.raises(PatchValidationError, match=f"refused exclude_source patch on {name}: it is not an "
                                                       "aggregate of raw_events rows \\(its source is"):
            ExcludeSource(feature=name, baseline_version=1, source_file="t.csv").validate(catalog)
    assert ExcludeSource(feature="revenue_30d", baseline_version=1, source_file="t.csv").validate(catalog)


def test_ratio_within_one_source_keeps_the_single_table_statement(warehouse):
    (ratio,) = parse_entries([{
        "name": "browses_per_purchase_90d", "description": "d", "owner": "o", "dtype": "float",
        "lifecycle": "active", "window_days": 90,
        "aggregate": {"agg": "ratio", "numerator": {"agg": "count", "where": "event_type = 'browse'"},
                      "denominator": {"agg": "count", "where": "event_type = 'purchase'"}}}]).features
    write_raw_events(warehouse, events_frame(EVENTS))
    plan = snapshot_plan(warehouse.dialect, [ratio], D("2024-04-30"), D("2024-04-30"), NOW)
    assert "UNION ALL" not in plan.sql
    got = dict(warehouse.fetch_all(f"SELECT customer_id, browses_per_purchase_90d FROM ({plan.sql}) AS q"))
    assert got["a"] == 0.5 and got["b"] is None and got["c"] == 0.0
