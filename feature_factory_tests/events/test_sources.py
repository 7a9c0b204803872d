"""Sources in YAML: the shipped churn source; every kind of bad entry fails naming file, source, field;
the rules become the validation SQL and reasons (events/validation.py)."""

from __future__ import annotations

import copy

import duckdb
import pytest
import yaml

from feature_factory.catalog import CatalogError
from feature_factory.catalog.sources import DEFAULT_SOURCES_PATH, SOURCES_ENV, load_sources, parse_sources
from feature_factory.events import contract
from feature_factory.events.config import IngestionConfig
from feature_factory.events import validation as rules

TICKETS = {
    "description": "Support tickets", "location": {"landing_folder": "support_tickets"},
    "row_id": "ticket_id", "entity_keys": {"customer": "customer_id"}, "event_time": "opened_at",
    "columns": {
        "ticket_id": "string",
        "customer_id": {"type": "string", "from": "account_id"},
        "opened_at": "timestamp",
        "priority": {"type": "string", "normalize": "lower", "map": {"p1": "high", "p2": "low"},
                     "accepted": ["high", "low"]},
        "minutes_to_resolve": {"type": "number", "min": 0, "max": 10080},
        "agent": {"type": "string", "required": True},
    },
}


def parse(**over):
    entry = copy.deepcopy(TICKETS)
    for key, value in over.items():
        if value is ...:
            entry.pop(key)
        else:
            entry[key] = value
    return parse_sources({"support_tickets": entry}, "s.yaml")


def test_shipped_events_source_is_the_churn_contract():
    spec = contract.events_source()
    assert (spec.raw_table, spec.quarantine_table, spec.row_id, spec.event_time, spec.landing_folder) == (
        "raw_events", "quarantined_events", "event_id", "event_ts", "events")
    assert spec.column_names() == list(contract.CONTRACT_COLUMNS)
    assert spec.column("event_type").accepted == ("purchase", "browse", "refund")
    assert spec.column("amount").reason("min") == "negative_amount"
    # Every rule-derived reason is a code of the Reason enum, with the texts users saw before.
    texts = contract.reason_texts()
    assert set(texts) <= {r.value for r in contract.Reason}
    assert texts["unknown_channel"] == "channel is not one of web, mobile"
    assert texts["null_or_empty_key"] == "event_id or customer_id is NULL or empty"
    assert texts["duplicate_event_id_stored"] == "event_id already stored in raw_events in another partition"


def test_a_second_source_parses_with_defaults():
    spec = parse().get("support_tickets")
    assert (spec.raw_table, spec.quarantine_table, spec.entity) == (
        "raw_support_tickets", "support_tickets_quarantine", "customer")
    assert spec.column("customer_id").source == "account_id"
    assert spec.key_columns == ("ticket_id", "customer_id")
    assert spec.column("minutes_to_resolve").reason("max") == "minutes_to_resolve_above_max"
    assert spec.column("priority").value_map == (("p1", "high"), ("p2", "low"))


@pytest.mark.parametrize("over, message", [
    ({"row_id": "ticket_no"}, r"source 'support_tickets': row_id 'ticket_no' is not a declared column"),
    ({"event_time": ...}, r"source 'support_tickets': missing required field 'event_time'"),
    ({"entity_keys": {"customer": "account"}}, r"entity_keys.customer 'account' is not a declared column"),
    ({"event_time": "priority"}, r"event_time column 'priority' must have type timestamp"),
    ({"colour": 1}, r"unknown field\(s\) \['colour'\]"),
    ({"location": {"landing_folder": "a", "table": "b"}}, r"location must be exactly one of"),
    ({"location": {"s3": "x"}}, r"location must be exactly one of"),
    ({"tables": {"raw": "raw_events; drop"}}, r"tables.raw 'raw_events; drop' is not a table name"),
    ({"entity": "product"}, r"entity 'product' has no key column in entity_keys"),
    ({"schema_drift": {"missing_column": "drop"}},
     r"schema_drift.missing_column 'drop' is not one of quarantine, auto_adapt, alert, fail"),
    ({"schema_drift": {"extra_column": "quarantine"}},
     r"schema_drift.extra_column 'quarantine' is not one of auto_adapt, alert, fail"),
    ({"schema_drift": {"changed_type_min_share": 2}}, r"schema_drift.changed_type_min_share must be a number"),
    ({"schema_drift": {"column_aliases": {"acct": "account"}}},
     r"schema_drift.column_aliases.acct: maps onto 'account', which is not a declared column; declared: ticket_id"),
    ({"schema_drift": {"column_aliases": {"account_id": "ticket_id"}}},
     r"schema_drift.column_aliases.account_id: 'account_id' is already read by column 'customer_id'"),
    ({"schema_drift": {"on_missing": "alert"}}, r"schema_drift: unknown field\(s\) \['on_missing'\]"),
    ({"schema_drift": "alert"}, r"schema_drift: expected a mapping"),
])
def test_bad_source_fields_name_file_source_and_field(over, message):
    with pytest.raises(CatalogError, match=r"^s\.yaml: .*" + message):
        parse(**over)


@pytest.mark.parametrize("column, body, message", [
    ("priority", {"type": "text"}, r"type 'text' is not one of string, number, timestamp"),
    ("priority", {"type": "string", "map": {"p1": "urgent"}, "accepted": ["high", "low"]},
     r"map maps onto \['urgent'\], which accepted does not contain"),
    ("minutes_to_resolve", {"type": "number", "min": 5, "max": 1}, r"min 5 is greater than max 1"),
    ("minutes_to_resolve", {"type": "number", "accepted": ["1"]}, r"apply to string columns only"),
    ("priority", {"type": "string", "min": 0}, r"min must be a finite number on a number column"),
    ("agent", {"type": "string", "from": "account_id"}, r"from 'account_id' is already read by"),
    ("source_file", "string", r"'source_file' is reserved"),
    ("agent", {"type": "string", "from": "Agent Name"}, r"from 'agent name' is not a plain column name"),
    ("priority", {"type": "string", "reasons": {"colour": "x"}}, r"reasons must map a rule"),
    ("priority", {"type": "string", "shade": 1}, r"unknown field\(s\) \['shade'\]"),
])
def test_bad_columns_name_the_column_and_field(column, body, message):
    columns = {**TICKETS["columns"], column: body}
    with pytest.raises(CatalogError, match=rf"^s\.yaml: source 'support_tickets': columns\.{column}: .*" + message):
        parse(columns=columns)


def test_two_sources_claiming_one_table():
    other = {**copy.deepcopy(TICKETS), "tables": {"raw": "raw_support_tickets"}}
    with pytest.raises(CatalogError, match=r"source 'copy': tables.raw 'raw_support_tickets' is already claimed "
                                           r"by source 'support_tickets' \(tables.raw\)"):
        parse_sources({"support_tickets": TICKETS, "copy": other}, "s.yaml")


def test_events_source_must_keep_the_raw_events_contract(tmp_path, monkeypatch):
    doc = yaml.safe_load(open(DEFAULT_SOURCES_PATH))
    doc["sources"]["events"]["columns"].pop("channel")
    doc["entities"]["customer"]["attribute_by"].remove("channel")  # else the entity refuses the file first
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv(SOURCES_ENV, str(path))
    with pytest.raises(CatalogError, match=rf"{path}: source 'events': columns must be exactly event_id"):
        contract.events_source()
    path.write_text("sources: [1, 2]")
    with pytest.raises(CatalogError, match=rf"sources file {path}: expected a top-level 'sources:' mapping"):
        load_sources()


def test_rules_sql_gives_each_row_its_first_reason():
    spec = parse().get("support_tickets")
    rows = [  # ticket_id, customer_id, opened_at, priority, minutes, agent -> expected reason
        ("t1", "c1", "2024-01-02 10:00:00", "P1", "30", "ann", None),
        ("t2", " ", "2024-01-02 10:00:00", "p1", "30", "ann", "null_or_empty_key"),
        ("t3", "c1", "yesterday", "p1", "30", "ann", "unparseable_timestamp"),
        ("t4", "c1", "2030-01-01 00:00:00", "p1", "30", "ann", "timestamp_in_future"),
        ("t5", "c1", "2023-01-01 00:00:00", "p1", "30", "ann", "timestamp_before_start"),
        ("t6", "c1", "2024-01-02 10:00:00", "urgent", "30", "ann", "unknown_priority"),
        ("t7", "c1", "2024-01-02 10:00:00", "low", "half", "ann", "non_numeric_minutes_to_resolve"),
        ("t8", "c1", "2024-01-02 10:00:00", "low", "-1", "ann", "minutes_to_resolve_below_min"),
        ("t9", "c1", "2024-01-02 10:00:00", "low", "99999", "ann", "minutes_to_resolve_above_max"),
        ("t10", "c1", "2024-01-02 10:00:00", "low", "", "", "missing_agent"),
    ]
    names = spec.column_names()
    typed = {"opened_at": "TRY_CAST(opened_at AS TIMESTAMP)", "minutes_to_resolve": "TRY_CAST(minutes_to_resolve AS DOUBLE)"}
    case = rules.reason_case(rules.row_rules(spec, lambda c: c, typed.__getitem__,
                                             future="TIMESTAMP '2025-01-01'", start="TIMESTAMP '2024-01-01'"))
    values = ", ".join("(" + ", ".join(f"'{v}'" for v in r[:6]) + ")" for r in rows)
    got = duckdb.sql(f"SELECT ticket_id, {case}, {rules.value_sql(spec.column('priority'), 'priority')} "
                     f"FROM (VALUES {values}) t({', '.join(names)})").fetchall()
    assert [(g[0], g[1]) for g in got] == [(r[0], r[6]) for r in rows]
    assert got[0][2] == "high"  # 'P1' lower-cased, then mapped
    texts = rules.texts(spec)
    assert texts["minutes_to_resolve_above_max"] == "minutes_to_resolve is above 10080"
    assert texts["missing_agent"] == "agent is missing (blank)"


def test_the_churn_ingestion_follows_the_events_source_rules(duckdb_warehouse, write_csv, ingest, tmp_path,
                                                            monkeypatch):
    """Edit the events entry (map a channel, accept another, read amount from another column):
    raw_events and the quarantine reasons follow, with no code change."""
    from ingest_helpers import CONTRACT_COLUMNS, D1, ev

    doc = yaml.safe_load(open(DEFAULT_SOURCES_PATH))
    cols = doc["sources"]["events"]["columns"]
    cols["channel"].update({"map": {"app": "mobile"}, "accepted": ["web", "mobile", "store"]})
    cols["amount"].update({"from": "amount_usd", "max": 100})
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv(SOURCES_ENV, str(path))
    header = tuple("amount_usd" if c == "amount" else c for c in CONTRACT_COLUMNS)
    write_csv("events_2024-01-01.csv", [ev("e1", channel="App"), ev("e2", channel="store"),
                                        ev("e3", channel="fax"), ev("e4", amount="250")], header=header)
    result = ingest(duckdb_warehouse, D1)
    assert duckdb_warehouse.fetch_all("SELECT event_id, channel, amount FROM raw_events ORDER BY event_id") == [
        ("e1", "mobile", 10.0), ("e2", "store", 10.0)]
    assert duckdb_warehouse.fetch_all("SELECT event_id, reason, detail FROM quarantined_events ORDER BY event_id") == [
        ("e3", "unknown_channel", "channel is not one of web, mobile, store"),
        ("e4", "amount_above_max", "amount is above 100")]
    assert result.by_reason() == {"amount_above_max": 1, "unknown_channel": 1}


def test_schema_drift_policy_defaults_and_values():
    from feature_factory.catalog.sources import SchemaDriftSpec

    assert parse().get("support_tickets").schema_drift == SchemaDriftSpec(
        "auto_adapt", "quarantine", "alert", 0.5, ())
    spec = parse(schema_drift={"missing_column": "alert", "changed_type": "fail", "changed_type_min_share": 0.25,
                               "column_aliases": {"Acct": "customer_id"}}).get("support_tickets")
    assert spec.schema_drift == SchemaDriftSpec("auto_adapt", "alert", "fail", 0.25, (("acct", "customer_id"),))


def test_the_events_source_policy_stays_in_its_run_config():
    entry = yaml.safe_load(DEFAULT_SOURCES_PATH.read_text())["sources"]["events"]
    with pytest.raises(CatalogError, match=r"^s\.yaml: source 'events': schema_drift: the events source's policy "
                       r"is the raw_events run config's schema_drift"):
        parse_sources({"events": {**entry, "schema_drift": {"missing_column": "alert"}}}, "s.yaml")


def test_the_churn_events_can_be_a_warehouse_table(duckdb_warehouse, tmp_path, monkeypatch):
    """The events source takes every source's path: read in place from a table, with its mapping."""
    import datetime as dt

    from ingest_helpers import D1, NOW, START

    from feature_factory.events.ingestion import ingest_range

    doc = yaml.safe_load(open(DEFAULT_SOURCES_PATH))
    doc["sources"]["events"]["location"] = {"table": "crm_events"}
    doc["sources"]["events"]["columns"]["customer_id"]["from"] = "cust"
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv(SOURCES_ENV, str(path))
    duckdb_warehouse.execute("CREATE TABLE crm_events (event_id VARCHAR, cust VARCHAR, event_type VARCHAR, "
                             "channel VARCHAR, amount DOUBLE, event_ts TIMESTAMP)")
    duckdb_warehouse.execute("INSERT INTO crm_events VALUES ('e1', 'c1', 'Purchase', 'web', 5, '2024-01-01 08:00:00'), "
                             "('e2', 'c2', 'browse', 'fax', NULL, '2024-01-01 09:00:00'), "
                             "('e1', 'c1', 'browse', 'web', NULL, '2024-01-01 10:00:00'), "
                             "('e3', 'c3', 'browse', 'web', NULL, NULL)")
    for _ in range(2):  # idempotent
        result = ingest_range(duckdb_warehouse, D1, D1 + dt.timedelta(days=1), now=NOW, start_date=START)
    assert duckdb_warehouse.fetch_all("SELECT event_id, customer_id, event_type, amount, source_file, source_row "
                                      "FROM raw_events") == [("e1", "c1", "purchase", 5.0, "crm_events", None)]
    assert duckdb_warehouse.fetch_all("SELECT event_id, reason, source_file FROM quarantined_events ORDER BY reason") == [
        ("e1", "duplicate_event_id_in_batch", "crm_events"), ("e2", "unknown_channel", "crm_events"),
        ("e3", "unparseable_timestamp", "crm_events")]
    assert (result.rows_read, result.rows_accepted) == (4, 1)


def test_what_the_churn_ingestion_is_called_is_declared_not_branched_on(tmp_path):
    """Issue 27: events/ reads the churn example's names from its entry (shipped values: the names
    users know); another source declaring the same keys gets them, and an older `events` entry
    without them gets the shipped values."""
    from feature_factory.events import layout
    from feature_factory.events.assets import names_of
    from feature_factory.settings import Homes

    shipped = contract.events_source()
    t, names = layout.source_tables(shipped), names_of(shipped)
    assert (t.landing_rows, t.landing_files, t.value("amount")) == ("landing_rows", "landing_files", "amount_value")
    assert (names.group, names.job, names.sensor, names.duplicates_check, names.config) == (
        "events", "ingest_job", "landing_files_sensor", "no_duplicate_event_id", IngestionConfig)
    homes = Homes(home=str(tmp_path), landing=str(tmp_path / "mine"))
    assert layout.landing_dir(shipped, homes) == tmp_path / "mine"  # landing_override: true
    declared = parse(location={"landing_folder": "support_tickets", "landing_override": True},
                     tables={"landing_rows": "tickets_rows", "landing_files": "tickets_files"},
                     staged_value_suffix="_v", ingestion={"group": "support", "job": "tickets_job"}).get("support_tickets")
    t, names = layout.source_tables(declared), names_of(declared)
    assert (t.landing_rows, t.landing_files, t.value("agent")) == ("tickets_rows", "tickets_files", "agent_v")
    assert (names.group, names.job, names.sensor, names.duplicates_check) == ("support", "tickets_job", None,
                                                                              "no_duplicate_row_id")
    assert layout.landing_dir(declared, homes) == tmp_path / "mine"
    plain = parse().get("support_tickets")
    assert (layout.source_tables(plain).landing_rows, names_of(plain).group) == ("support_tickets_landing_rows", "sources")
    assert layout.landing_dir(plain, homes) == homes.landing_root() / "support_tickets"  # no override
    entry = yaml.safe_load(DEFAULT_SOURCES_PATH.read_text())["sources"]["events"]
    older = {k: v for k, v in entry.items() if k not in ("ingestion", "staged_value_suffix")}
    older["location"], older["tables"] = {"landing_folder": "events"}, {"raw": "raw_events", "quarantine": "quarantined_events"}
    assert parse_sources({"events": older}, "old.yaml").get("events") == shipped
    with pytest.raises(CatalogError, match=r"^s\.yaml: source 'support_tickets': ingestion.contract 'orders' is not"):
        parse(ingestion={"contract": "orders"})
