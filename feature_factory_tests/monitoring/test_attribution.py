"""Root-cause attribution in the warehouse (both backends): hand-made raw_events with one injected
cause each, and the segment that carries it must come first with the share the data implies."""

from __future__ import annotations

import datetime as dt

from feature_factory.catalog import DType, FeatureSpec, Lifecycle
from feature_factory.monitoring.explain import attribution as A

START = dt.date(2024, 1, 1)
DAY = dt.date(2024, 1, 21)  # window 01-15..01-21; baseline event days 01-01..01-14
BASE = (START, dt.date(2024, 1, 14))
EVENT_COLUMNS = {"event_id": "VARCHAR", "customer_id": "VARCHAR", "event_type": "VARCHAR",
                 "channel": "VARCHAR", "amount": "DOUBLE", "event_ts": "TIMESTAMP",
                 "event_date": "DATE", "source_file": "VARCHAR"}


def _spec(name, agg, value=None, where=None, dtype=DType.FLOAT) -> FeatureSpec:
    return FeatureSpec(name=name, description=name, owner="t", dtype=dtype, lifecycle=Lifecycle.ACTIVE,
                       aggregate="x", window_days=7, agg=agg, value_sql=value, filter_sql=where,
                       source_columns=tuple(c for c in ("amount", "event_type", "channel")
                                            if c in f"{value} {where}"))


REVENUE = _spec("revenue_7d", "sum", "amount", "event_type = 'purchase'")
MOBILE = _spec("mobile_events_7d", "count", None, "channel = 'mobile'", DType.INT)


def _insert(warehouse, table, columns, rows):
    ddl = ", ".join(f"{c} {t}" for c, t in columns.items())
    with warehouse.session() as s:
        s.execute(f"CREATE TABLE {table} ({ddl})")
        marks = "(" + ", ".join("?" for _ in columns) + ")"
        for i in range(0, len(rows), 200):  # a few multi-row inserts: row by row is slow on fakesnow
            chunk = rows[i:i + 200]
            s.execute(f"INSERT INTO {table} VALUES {', '.join(marks for _ in chunk)}",
                      [r.get(c) for r in chunk for c in columns])


def _events(bad_file=False, mobile_after: dt.date | None = None, blank_file=False):
    """20 customers, one web purchase of 10.0 a day each (c00..c03 first seen on 01-10); optional
    causes: a second file on 01-20 with 1000.0 purchases for c00..c04; from `mobile_after` every
    event on mobile; a file on 01-19 whose amounts are blank."""
    rows = []
    for d in range(21):
        day = START + dt.timedelta(days=d)
        for c in range(20):
            if c < 4 and d < 9:
                continue
            mobile = mobile_after is not None and day >= mobile_after
            blank = blank_file and day == dt.date(2024, 1, 19) and c >= 10
            rows.append({"event_id": f"e{d}_{c}", "customer_id": f"c{c:02d}", "event_type": "purchase",
                         "channel": "mobile" if mobile else "web", "amount": None if blank else 10.0,
                         "event_ts": dt.datetime.combine(day, dt.time(12)), "event_date": day,
                         "source_file": f"events_{day}{'_b' if blank else ''}.csv"})
    if bad_file:
        day = dt.date(2024, 1, 20)
        rows += [{"event_id": f"x{c}", "customer_id": f"c{c:02d}", "event_type": "purchase", "channel": "web",
                  "amount": 1000.0, "event_ts": dt.datetime.combine(day, dt.time(13)), "event_date": day,
                  "source_file": "events_2024-01-20_b.csv"} for c in range(5)]
    return rows


def _load(warehouse, rows):
    _insert(warehouse, "raw_events", EVENT_COLUMNS, rows)
    warehouse.execute(
        "CREATE TABLE customer_features AS SELECT customer_id, CAST('2024-01-21' AS DATE) AS snapshot_date, "
        "SUM(CASE WHEN event_type = 'purchase' THEN COALESCE(amount, 0) ELSE 0 END) AS revenue_7d, "
        "SUM(CASE WHEN channel = 'mobile' THEN 1 ELSE 0 END) AS mobile_events_7d FROM raw_events "
        "WHERE event_date >= CAST('2024-01-15' AS DATE) GROUP BY customer_id")


def test_outliers_in_one_file_are_traced_to_that_file(warehouse):
    _load(warehouse, _events(bad_file=True))
    result = A.attribute(warehouse, DAY, [A.Target(REVENUE, "tail", lower=None, upper=100.0)], BASE)
    got = result.by_feature["revenue_7d"]
    # The bad file shares its event day with a clean one (what single_source looks for).
    assert result.file_days["events_2024-01-20_b.csv"] == result.file_days["events_2024-01-20.csv"] == "2024-01-20"
    assert len(result.file_days) == 8
    top = got[0]
    assert (top["dimension"], top["value"]) == ("source_file", "events_2024-01-20_b.csv")
    # Out-of-range customers c00..c04: 5 x 1000 from that file, 5 x 7 x 10 from the daily files.
    assert top["share"] == round(5000 / 5350, 4)
    assert top["expected"] == round(5 / 145, 4)
    assert "93% of out-of-range values from events_2024-01-20_b.csv" in A.headline("revenue_7d", "tail", got)
    # The files that carried it, by share of the out-of-range mass (each daily file: 5 x 10 / 5350).
    files = result.carriers["revenue_7d"]
    assert files[0] == {"source_file": "events_2024-01-20_b.csv", "share": round(5000 / 5350, 4)}
    assert [f["share"] for f in files[1:]] == [round(50 / 5350, 4)] * 2


def test_channel_mix_change_is_traced_to_the_channel(warehouse):
    _load(warehouse, _events(mobile_after=dt.date(2024, 1, 18)))
    got = A.attribute(warehouse, DAY, [A.Target(MOBILE, "shift"), A.Target(REVENUE, "shift")], BASE).by_feature
    # mobile_events_7d: only mobile rows count, so the channel dimension explains nothing beyond its
    # size; the new rows sit in the four files since 01-18 (each 1/7 of the window's rows).
    files = [c for c in got["mobile_events_7d"] if c["dimension"] == "source_file"]
    assert sorted(c["value"] for c in files) == [f"events_2024-01-{d}.csv" for d in (18, 19, 20, 21)]
    assert all(c["share"] == 0.25 and c["expected"] == round(1 / 7, 4) for c in files)
    # revenue_7d rose because c00..c03 (first seen in the week of 01-08) buy every day of the
    # window but not on the baseline's first 9 days: that cohort carries the whole change.
    top = got["revenue_7d"][0]
    assert (top["dimension"], top["value"], top["share"]) == ("first_seen_week", "2024-01-08", 1.0)


def test_a_count_carries_its_window_events_and_their_days_rate(warehouse):
    # Every event on mobile from 01-18: of the window's 140 events (01-15..01-21, 20 a day) 80 are
    # mobile, each on a day whose mobile share is 1 (0 before): a count's cohort is judged per event
    # row of its window, against the rate of its own days.
    _load(warehouse, _events(mobile_after=dt.date(2024, 1, 18)))
    A.refresh_first_seen(warehouse)
    rows = A.view(A._rows(warehouse, A.current_sql(warehouse.dialect, DAY, [A.Target(MOBILE, "shift")])),
                  "mobile_events_7d")
    got = {key: (r[A.CARRY], r[A.MASS], r[A.SAME_DAY]) for key, r in rows.items()
           if key in {("cohort", "new"), ("channel", "web"), ("channel", "mobile")}}
    assert got == {("cohort", "new"): (140.0, 80.0, 80.0), ("channel", "web"): (60.0, 0.0, 0.0),
                   ("channel", "mobile"): (80.0, 80.0, 80.0)}


def test_missing_amounts_are_traced_to_the_file_and_cohort(warehouse):
    _load(warehouse, _events(blank_file=True))
    got = A.attribute(warehouse, DAY, [A.Target(REVENUE, "missing")], BASE).by_feature["revenue_7d"]
    assert (got[0]["dimension"], got[0]["value"], got[0]["share"]) == ("source_file", "events_2024-01-19_b.csv", 1.0)
    assert got[0]["expected"] == round(10 / 140, 4)
    # Blank rows belong to c10..c19, all first seen in the week of 2024-01-01 (80% of the rows):
    # all 10 blanks there happens by chance with probability 0.8 ** 10 = 0.11, so that cohort is
    # inside its noise band and not named (the fixed 0.05 margin alone named it).
    assert [(c["dimension"], c["value"]) for c in got] == [("source_file", "events_2024-01-19_b.csv")]
    # Its band: 10 missing inputs, z Bonferroni over the window's 8 files (2.50).
    assert round(A.band_z(8), 2) == 2.50
    assert got[0]["low"] == round(A.wilson_low(1.0, 10, A.band_z(8)), 4) == 0.6158


# -- the ranking rule (pure): noise band, covering values, a carrying file first -----------------
def _tail_rows(segments: dict[tuple[str, str], tuple], units_per_mass: float = 1.0) -> dict:
    """A tail target's current side: (dimension, value) -> (rows, out-of-range mass [, mass]), the
    out-of-range mass made of equal weights (effective units: mass / weight); the mass is the rows
    unless given."""
    return {key: {"events": v[0], "rows": v[0], "mass": v[2] if len(v) > 2 else v[0], "missing": 0.0,
                  "out_of_range": v[1], "out_of_range_squares": v[1] * units_per_mass}
            for key, v in segments.items()}


def _base_mass(segments: dict[tuple[str, str], float]) -> dict:
    return {key: {"events": m, "rows": m, "mass": m, "squares": m, "missing": 0.0} for key, m in segments.items()}


TAIL = A.Target(REVENUE, "tail", upper=100.0)


def test_a_share_inside_its_noise_band_is_not_named_and_the_same_share_over_many_units_is():
    base = _base_mass({("event_type", "purchase"): 50.0, ("event_type", "view"): 50.0,
                       ("channel", "mobile"): 55.0, ("channel", "web"): 45.0})
    segments = {("event_type", "purchase"): (50, 50.0), ("event_type", "view"): (50, 50.0),
                ("channel", "mobile"): (55, 64.0), ("channel", "web"): (45, 36.0)}
    # 100 unit-weight out-of-range rows: mobile's 64% vs its 55% is inside the band (low end 0.54).
    few = A.contributors(TAIL, _tail_rows(segments), base, 14)
    assert few == []
    z = A.band_z(2)
    assert round(z, 2) == 1.96 and A.wilson_low(0.64, 100, z) < 0.55 < A.wilson_low(0.64, 10_000, z)
    # The same shares over 10,000 units (weights 1/100 of the mass each): mobile is named.
    many = A.contributors(TAIL, _tail_rows(segments, units_per_mass=0.01), base, 14)
    assert [(c["dimension"], c["value"], c["share"], c["expected"]) for c in many] == [("channel", "mobile", 0.64, 0.55)]
    assert many[0]["low"] == round(A.wilson_low(0.64, 10_000, z), 4)


def test_a_value_holding_nearly_all_of_the_feature_explains_nothing():
    # Purchases (10% of the rows) hold 95% of the mass and carry 100% of the out-of-range mass.
    base = _base_mass({("event_type", "purchase"): 95.0, ("event_type", "refund"): 5.0})
    segments = {("event_type", "purchase"): (10, 1000.0, 1900.0), ("event_type", "refund"): (90, 0.0, 100.0)}
    covering: list[str] = []
    assert A.contributors(TAIL, _tail_rows(segments), base, 14, covering) == []
    assert covering == ["event_type=purchase"]


def test_a_file_carrying_most_of_the_change_ranks_first():
    base = _base_mass({("event_type", "purchase"): 100.0})
    segments = {("event_type", "purchase"): (100, 1000.0),
                ("source_file", "a.csv"): (3, 600.0), ("source_file", "b.csv"): (97, 400.0),
                ("first_seen_week", "2024-01-01"): (20, 950.0, 20.0),
                ("first_seen_week", "2024-01-08"): (80, 50.0, 80.0)}
    got = A.contributors(TAIL, _tail_rows(segments), base, 14)
    # The week has the larger share beyond its size (0.95 - 0.20 vs 0.60 - 0.03), the file carries
    # 60% of the change: the file leads.
    assert [(c["dimension"], c["value"]) for c in got] == [("source_file", "a.csv"), ("first_seen_week", "2024-01-01")]
    assert (got[0]["share"], got[0]["expected"]) == (0.6, 0.03)


# -- the maintained first-seen table and the stored baseline side (both backends) ----------------
def test_first_seen_table_folds_new_days_in_and_rebuilds_when_a_day_changes(warehouse):
    _load(warehouse, [r for r in _events() if r["event_date"] <= dt.date(2024, 1, 14)])
    assert A.refresh_first_seen(warehouse) == "rebuilt"
    first = lambda: {c: str(d)[:10] for c, d in warehouse.fetch_all(  # noqa: E731
        f"SELECT customer_id, first_day FROM {A.FIRST_SEEN_TABLE}")}
    assert first()["c00"] == "2024-01-10" and first()["c10"] == "2024-01-01" and len(first()) == 20
    assert A.refresh_first_seen(warehouse) == "current"
    # A new day with a new customer: folded in without a rebuild.
    warehouse.execute("INSERT INTO raw_events VALUES ('n1', 'c99', 'purchase', 'web', 5.0, "
                      "CAST('2024-01-15 12:00:00' AS TIMESTAMP), CAST('2024-01-15' AS DATE), 'events_2024-01-15.csv')")
    assert A.refresh_first_seen(warehouse) == "added 1 day(s)"
    assert first()["c99"] == "2024-01-15" and first()["c00"] == "2024-01-10" and len(first()) == 21
    assert A.refresh_first_seen(warehouse) == "current"
    # A day rewritten (c00's first day deleted): its row count changed, so the table is rebuilt.
    warehouse.execute("DELETE FROM raw_events WHERE customer_id = 'c00' AND event_date = CAST('2024-01-10' AS DATE)")
    assert A.refresh_first_seen(warehouse) == "rebuilt"
    assert first()["c00"] == "2024-01-11"


def test_the_baseline_side_is_computed_once_per_baseline_and_reused(warehouse, monkeypatch):
    _load(warehouse, _events(blank_file=True))
    scans: list[str] = []
    rows = A._rows
    monkeypatch.setattr(A, "_rows", lambda wh, query: (scans.append(query.sql), rows(wh, query))[1])
    target = [A.Target(REVENUE, "missing")]
    once = A.attribute(warehouse, DAY, target, BASE).by_feature
    grouped = lambda: [q for q in scans if "GROUPING SETS" in q]  # noqa: E731
    assert len(grouped()) == 2 and warehouse.row_count(A.BASELINE_CACHE_TABLE) == 1
    # The next day judged against the same baseline: only the current side is scanned.
    scans.clear()
    again = A.attribute(warehouse, DAY, target, BASE).by_feature
    assert again == once and len(grouped()) == 1 and "cf." in grouped()[0]
    # A changed definition (another filter) is recomputed and replaces the stored side.
    scans.clear()
    other = A.Target(_spec("revenue_7d", "sum", "amount", "event_type = 'purchase' AND channel = 'web'"), "missing")
    A.attribute(warehouse, DAY, [other], BASE)
    assert len(grouped()) == 2
    stored = warehouse.fetch_all(f"SELECT definition FROM {A.BASELINE_CACHE_TABLE}")
    assert len(stored) == 1 and "channel = 'web'" in stored[0][0]
    # New events on a baseline day change its row count: the stored side is not used.
    warehouse.execute("INSERT INTO raw_events VALUES ('n1', 'c99', 'purchase', 'web', 5.0, "
                      "CAST('2024-01-05 12:00:00' AS TIMESTAMP), CAST('2024-01-05' AS DATE), 'events_2024-01-05.csv')")
    scans.clear()
    A.attribute(warehouse, DAY, [other], BASE)
    assert len(grouped()) == 2


def test_the_caches_have_the_columns_their_contracts_describe(warehouse):
    from feature_factory import tables

    _load(warehouse, _events(blank_file=True))
    A.refresh_first_seen(warehouse)
    A.attribute(warehouse, DAY, [A.Target(REVENUE, "missing")], BASE)
    for table in (tables.CUSTOMER_FIRST_SEEN, tables.CUSTOMER_FIRST_SEEN_DAYS, tables.ATTRIBUTION_BASELINE):
        assert [c.lower() for c, _ in warehouse.columns(table.name)] == list(table.names), table.name
