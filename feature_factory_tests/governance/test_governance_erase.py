"""Erasure on both backends: every table, the online store, tombstones at ingestion, the ledger,
the models fit on the ids, and (DuckDB) the bytes of the file."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from governance_helpers import GONE, KEPT, build_project, count, ev, ingest, write_csv  # noqa: E402

from feature_factory.catalog import load_sources  # noqa: E402
from feature_factory.events import tombstones  # noqa: E402
from feature_factory.governance.erase import (  # noqa: E402
    SNOWFLAKE_RETENTION, ErasureError, ErasureRequest, erase_entity,
)

ID_TABLES = ("raw_events", "quarantined_events", "landing_rows", "customer_features", "customer_features_online",
             "churn_labels", "training_set", "inference_results", "customer_backup")


def test_erase_everywhere_then_a_relanded_row_is_quarantined(warehouse, tmp_path, project_home):
    with warehouse.held():  # one open database for the test's many small reads
        _erase_everywhere(warehouse, tmp_path, project_home)


def _erase_everywhere(warehouse, tmp_path, project_home):
    p = build_project(warehouse, tmp_path)
    before = {t: count(warehouse, t, GONE) for t in ID_TABLES}
    assert before == {"raw_events": 1, "quarantined_events": 1, "landing_rows": 2, "customer_features": 2,
                      "customer_features_online": 1, "churn_labels": 1, "training_set": 1, "inference_results": 1,
                      "customer_backup": 1}
    kept = {t: count(warehouse, t, KEPT) for t in ID_TABLES}

    result = erase_entity(warehouse, ErasureRequest.of("customer", [f" {GONE}"], "dpo@example.com"),
                          sources=load_sources(), store=p["store"], registry=p["registry"])

    tables = {r.target: (r.rows_erased, r.rows_remaining) for r in result.by_kind("table")}
    assert {t: tables[t] for t in ID_TABLES} == {t: (n, 0) for t, n in before.items()}
    assert "recent_customers" not in tables  # a view is read through its table, never deleted from
    assert {t: count(warehouse, t, GONE) for t in ID_TABLES} == dict.fromkeys(ID_TABLES, 0)
    assert {t: count(warehouse, t, KEPT) for t in ID_TABLES} == kept  # nobody else's rows
    assert result.verified and result.rows_erased == sum(before.values()) + 2

    # The online store: both kept versions, nothing of KEPT.
    (store_row,) = result.by_kind("online_store")
    assert (store_row.rows_erased, store_row.rows_remaining) == (2, 0)
    assert list(p["store"].lookup([GONE, KEPT]).rows) == [KEPT]

    # The tombstone is the salted hash, never the id.
    salt = tombstones.load_salt()
    assert warehouse.fetch_all("SELECT entity, id_hash FROM erased_entities") == [
        ("customer", hashlib.sha256((salt + GONE).encode()).hexdigest())]
    assert tombstones.salt_path().parent == project_home / "governance"

    # Models: only the version whose fit window holds GONE's label date; landing files named.
    assert [m.version for m in result.models] == [p["fit"].version]
    assert sorted(f.rel for f in result.landing_files) == ["day1.csv"]

    # The ledger: who, how many ids, the re-count; no id anywhere in it.
    ledger = warehouse.fetch_df("SELECT * FROM erasure_ledger")
    assert set(ledger["requested_by"]) == {"dpo@example.com"} and set(ledger["subjects"]) == {1}
    assert ledger.loc[ledger["target"] == "raw_events", ["rows_erased", "rows_remaining"]].values.tolist() == [[1, 0]]
    assert not ledger.astype(str).apply(lambda c: c.str.contains(GONE)).any().any()
    (at_rest,) = result.by_kind("warehouse_file")
    if warehouse.dialect.name == "snowflake":
        assert at_rest.detail == SNOWFLAKE_RETENTION
    else:
        assert at_rest.rows_remaining == 0 and "rewritten into a fresh file" in at_rest.detail

    # Landed again (the same file copied in, and a new one): GONE's rows go to quarantine.
    day1 = p["landing"] / "day1.csv"
    day1.write_bytes(day1.read_bytes())
    write_csv(p["landing"] / "day3.csv", [ev("e9", GONE, 3), ev("e10", KEPT, 3)])
    ingested = ingest(warehouse, p["landing"])
    assert ingested.by_reason() == {"erased_entity": 3}
    assert count(warehouse, "raw_events", GONE) == 0
    assert warehouse.fetch_all("SELECT TRIM(customer_id), reason FROM quarantined_events WHERE reason = 'erased_entity' "
                               "ORDER BY event_id") == [(GONE, "erased_entity")] * 3
    assert count(warehouse, "raw_events", KEPT) == 4

    # Again: nothing more to remove, no second tombstone, a new ledger entry saying so.
    again = erase_entity(warehouse, ErasureRequest.of("customer", [GONE], "dpo@example.com"), sources=load_sources())
    assert again.verified and int(warehouse.fetch_one("SELECT COUNT(*) FROM erased_entities")[0]) == 1
    assert again.by_kind("table")[0].target == "raw_events" and again.by_kind("table")[0].rows_erased == 0


def test_the_bytes_are_gone_from_the_duckdb_file_and_the_sqlite_store(duckdb_warehouse, tmp_path):
    p = build_project(duckdb_warehouse, tmp_path)
    db = duckdb_warehouse.resolved_path()
    sqlite_files = [p["store"].path, p["store"].path.with_name(p["store"].path.name + "-wal")]

    def scan(paths):
        return sum(f.read_bytes().count(GONE.encode()) for f in paths if f.exists())

    assert scan([db]) > 0 and scan(sqlite_files) > 0
    erase_entity(duckdb_warehouse, ErasureRequest.of("customer", [GONE], "dpo"), sources=load_sources(),
                 store=p["store"])
    assert scan([db, db.with_name(db.name + ".wal")]) == 0
    assert scan(sqlite_files) == 0
    assert scan([db]) == 0 and KEPT.encode() in db.read_bytes()  # the file is whole, only GONE is gone


def test_landing_files_rewritten_on_request(duckdb_warehouse, tmp_path):
    p = build_project(duckdb_warehouse, tmp_path)
    day1 = p["landing"] / "day1.csv"
    result = erase_entity(duckdb_warehouse, ErasureRequest.of("customer", [GONE], "dpo", rewrite_landing=True),
                          sources=load_sources())
    assert [(f.rel, f.rewritten, f.rows_removed) for f in result.landing_files] == [("day1.csv", True, 2)]
    assert day1.read_text() == "event_id,customer_id,event_type,channel,amount,event_ts\n" \
                               f"e2,{KEPT},purchase,web,10.0,2024-01-01T10:00:00Z\n"
    assert ingest(duckdb_warehouse, p["landing"]).by_reason() == {}  # restaged: nothing of GONE comes back


@pytest.mark.parametrize("ids, who, message", [
    ([], "dpo", "no ids given"),
    (["  "], "dpo", "an id is blank"),
    (["c1"], " ", "say who requests it"),
])
def test_a_bad_request_is_refused_naming_what(ids, who, message):
    with pytest.raises(ErasureError, match=message):
        ErasureRequest.of("customer", ids, who)


def test_an_unknown_entity_names_the_sources_file(duckdb_warehouse):
    with pytest.raises(ErasureError, match="entity 'shop' is not declared in .*sources.yaml"):
        erase_entity(duckdb_warehouse, ErasureRequest.of("shop", ["s1"], "dpo"), sources=load_sources())
