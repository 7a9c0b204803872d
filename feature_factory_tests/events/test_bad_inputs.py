"""The bad-input suite: a landing folder with one file per malformation kind (see `bad_inputs`), on
CSV and Parquet, ingested by two runs (day 1, then days 2-3) and once more.

Asserted on values, per file: every data row ends up in `raw_events` or `quarantined_events` exactly
once; an accepted row holds exactly what the file says; a quarantined row has the expected reason
and raw text; a refused file is one quarantine row whose detail names the file and the problem;
every quarantine reason occurs; a re-run changes nothing. The whole suite runs on DuckDB; the
Snowflake backend (fakesnow; its own loader) runs the same scenario.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from bad_inputs import Bad, Case, FileRefused, Ok, csv_cases, parquet_cases, write_cases
from ingest_helpers import NOW, START

from feature_factory.events.config import IngestionConfig
from feature_factory.events.contract import Reason
from feature_factory.events.ingestion import ingest_range
from feature_factory.warehouse import DuckDBWarehouse

D1, D2, D4 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 4)
CASES = csv_cases() + parquet_cases()
# fakesnow stages a file in ~1 s: the Snowflake backend runs a subset that still has every reason,
# both formats, the CSV dialect cases and a refused file.
SNOWFLAKE_CASES = {
    "reasons.csv", "reasons.parquet", "quoted_newline.csv", "single_quotes.csv", "doubled_quotes.csv",
    "ragged.csv", "unterminated.csv", "dup_stored.csv", "dup_column.csv", "events_2024-01-02.csv.gz",
    "glob_*.csv", "glob_a.csv", "notes.json", "dup_column.parquet", "odd_header.csv",
}
BACKEND_CASES = {"duckdb": CASES, "snowflake": [c for c in CASES if c.name in SNOWFLAKE_CASES]}
RAW_COLS = "source_file, source_row, event_id, customer_id, event_type, channel, amount, event_ts, event_date"
Q_COLS = "source_file, source_row, event_id, customer_id, amount, reason, detail, event_date"


def _snapshot(warehouse) -> tuple[list, list]:
    raw = warehouse.fetch_all(f"SELECT {RAW_COLS}, ingested_at FROM raw_events ORDER BY source_file, source_row")
    q = warehouse.fetch_all(f"SELECT {Q_COLS}, quarantined_at FROM quarantined_events "
                            "ORDER BY source_file, source_row NULLS FIRST, reason")
    return raw, q


class Outcome:
    """The warehouse after the two runs, grouped by file."""

    def __init__(self, warehouse, landing: Path, cases: list[Case], results):
        self.warehouse, self.landing, self.cases, self.results = warehouse, landing, cases, results
        raw, q = _snapshot(warehouse)
        self.snapshot = (raw, q)
        self.raw: dict[str, list[tuple]] = {}
        self.quarantined: dict[str, list[tuple]] = {}
        for r in raw:
            self.raw.setdefault(r[0], []).append(r)
        for r in q:
            self.quarantined.setdefault(r[0], []).append(r)

    def ingest(self, start, end):
        cfg = IngestionConfig(landing_dir=str(self.landing))
        return ingest_range(self.warehouse, start, end, cfg, now=NOW, start_date=START)


def _run(warehouse, landing: Path, cases: list[Case]) -> Outcome:
    write_cases(landing, cases)
    cfg = IngestionConfig(landing_dir=str(landing))
    first = ingest_range(warehouse, D1, D2, cfg, now=NOW, start_date=START)
    second = ingest_range(warehouse, D2, D4, cfg, now=NOW, start_date=START)
    return Outcome(warehouse, landing, cases, (first, second))


@pytest.fixture(scope="module")
def duckdb_outcome(tmp_path_factory) -> Outcome:
    root = tmp_path_factory.mktemp("bad_inputs_duckdb")
    return _run(DuckDBWarehouse(path=str(root / "warehouse.duckdb")), root / "landing", BACKEND_CASES["duckdb"])


@pytest.fixture(scope="module")
def snowflake_outcome(tmp_path_factory, request):
    import fakesnow
    from dagster_snowflake import SnowflakeResource

    # The suite's fakesnow backend, from the root conftest (this folder's conftest shadows the name).
    root_conftest = next(m for m in request.config.pluginmanager.get_plugins()
                         if str(getattr(m, "__file__", "")).endswith("feature_factory_tests/conftest.py"))
    FakeSnowflakeWarehouse = root_conftest.FakeSnowflakeWarehouse

    root = tmp_path_factory.mktemp("bad_inputs_snowflake")
    (root / "fakesnow").mkdir()
    with fakesnow.patch(db_path=str(root / "fakesnow")):
        warehouse = FakeSnowflakeWarehouse(snowflake=SnowflakeResource(
            account="fake", user="fake", password="fake", database="FEATURE_FACTORY", schema="PUBLIC",
            paramstyle="qmark"))
        yield _run(warehouse, root / "landing", BACKEND_CASES["snowflake"])


@pytest.fixture(params=["duckdb", "snowflake"], scope="module")
def outcome(request) -> Outcome:
    return request.getfixturevalue(f"{request.param}_outcome")


def _expected_ts(case: Case, i: int) -> dt.datetime:
    return dt.datetime(2024, 1, 1, 9) if case.name == "dup_stored.csv" and i == 1 else dt.datetime(2024, 1, 2, 10)


@pytest.mark.parametrize("outcome, case", [(b, c) for b, cases in BACKEND_CASES.items() for c in cases],
                         ids=[f"{b}-{c.name}" for b, cases in BACKEND_CASES.items() for c in cases],
                         indirect=["outcome"])
def test_every_row_lands_exactly_once_with_the_files_values(outcome, case):
    raw = outcome.raw.get(case.name, [])
    quarantined = outcome.quarantined.get(case.name, [])
    if case.refused:
        assert raw == []
        assert len(quarantined) == 1, quarantined
        _, source_row, *_, reason, detail, event_date = quarantined[0][:8]
        assert (source_row, reason, event_date) == (None, case.refused.reason.value, None)
        assert str(outcome.landing / case.name) in detail and case.refused.detail in detail, detail
        return
    # Exactly once: the rows 1..n, each in one table, none twice.
    rows = sorted([r[1] for r in raw] + [r[1] for r in quarantined])
    assert rows == list(range(1, len(case.rows) + 1))
    by_row = {r[1]: ("raw", r) for r in raw} | {r[1]: ("q", r) for r in quarantined}
    for i, want in enumerate(case.rows, start=1):
        where, got = by_row[i]
        if isinstance(want, Ok):
            assert where == "raw", (i, got)
            ts = _expected_ts(case, i)
            assert got[2:9] == (want.event_id, want.customer_id, want.event_type, want.channel, want.amount, ts,
                               ts.date())
        else:
            assert where == "q", (i, got)
            _, _, event_id, customer_id, amount, reason, detail, _ = got[:8]
            assert reason == want.reason.value, (i, got)
            for expected, actual in ((want.event_id, event_id), (want.customer_id, customer_id),
                                     (want.amount, amount)):
                if expected is not None:
                    assert actual == expected, (i, got)
            if want.detail:
                assert want.detail in detail and f"CSV record {i}" in detail, detail


def test_every_quarantine_reason_occurs(outcome):
    reasons = {r[5] for rows in outcome.quarantined.values() for r in rows}
    # erased_entity is not a defect of the file: it needs a tombstone, which only an erasure writes
    # (governance/test_governance_erase re-lands an erased customer's rows and finds that reason).
    assert reasons == {r.value for r in Reason} - {Reason.ERASED_ENTITY.value}
    parquet = {r[5] for name, rows in outcome.quarantined.items() if name.endswith(".parquet") for r in rows}
    row_reasons = {r.value for r in Reason} - {Reason.MALFORMED_ROW.value, Reason.UNSUPPORTED_FILE_TYPE.value,
                                               Reason.DUPLICATE_OF_STORED.value, Reason.ERASED_ENTITY.value}
    assert row_reasons <= parquet


def test_nothing_outside_the_landing_files(outcome):
    names = {c.name for c in outcome.cases}
    assert set(outcome.raw) <= names and set(outcome.quarantined) <= names
    # No injected statement ran and no work table is left behind.
    tables = {r[0] for r in outcome.warehouse.fetch_all(
        "SELECT lower(table_name) FROM information_schema.tables WHERE table_schema = current_schema()")}
    assert "raw_events" in tables
    assert not {t for t in tables if t.startswith(("landing_stage", "ingest_batch")) or t.endswith("__staging")}


def test_read_counts_every_row_and_a_rerun_changes_nothing(outcome):
    by_file = outcome.results[1].by_file()
    for case in outcome.cases:
        if case.rows:
            day1 = 1 if case.name == "dup_stored.csv" else 0  # its first row belongs to the first run
            assert by_file[case.name]["read"] == len(case.rows) - day1, (case.name, by_file[case.name])
    outcome.ingest(D1, D2)
    again = outcome.ingest(D2, D4)
    assert _snapshot(outcome.warehouse) == outcome.snapshot
    assert {f.status for f in again.sync.files} == {"unchanged"}
    # The re-run reads the same rows, including those quarantined when the files were staged
    # (refused files were recorded once and are not read again).
    assert again.by_file() == {f: c for f, c in by_file.items() if f not in
                               {c.name for c in outcome.cases if c.refused}}


def test_rewrite_with_restored_mtime_is_read_again(tmp_path):
    """`cp -p` / `rsync -t`: same size, same mtime, other bytes: the new values replace the old."""
    warehouse = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    landing = tmp_path / "landing"
    landing.mkdir()
    path = landing / "events_2024-01-02.csv"
    path.write_text(f"event_id,customer_id,event_type,channel,amount,event_ts\ne1,c1,purchase,web,1.0,{TS_}\n")
    cfg = IngestionConfig(landing_dir=str(landing))
    ingest_range(warehouse, D2, D4, cfg, now=NOW, start_date=START)
    st = path.stat()
    replacement = tmp_path / "new.csv"
    replacement.write_text(f"event_id,customer_id,event_type,channel,amount,event_ts\ne1,c1,purchase,web,9.0,{TS_}\n")
    shutil.copy2(replacement, path)  # what cp -p does: new bytes, then the old times restored
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    result = ingest_range(warehouse, D2, D4, cfg, now=NOW, start_date=START)
    assert [f.status for f in result.sync.files] == ["staged"]
    assert warehouse.fetch_all("SELECT event_id, amount FROM raw_events") == [("e1", 9.0)]


TS_ = "2024-01-02T10:00:00Z"
