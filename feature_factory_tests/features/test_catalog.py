"""The catalog: the shipped file loads; every kind of invalid entry fails naming the entry."""

from __future__ import annotations

import pytest
import yaml

from feature_factory.catalog import CatalogError, DType, Lifecycle, load_catalog
from feature_factory.catalog.loader import CATALOG_ENV, parse_entries, render_aggregate

SHIPPED = [
    "days_since_last_event", "purchases_7d", "revenue_7d", "refunds_7d", "refund_amount_7d", "events_7d",
    "mobile_events_7d", "web_events_7d", "avg_amount_nonzero_7d", "browse_events_7d", "amount_stddev_7d",
    "max_amount_7d", "min_amount_7d", "purchases_30d", "revenue_30d", "events_30d", "purchases_90d",
    "revenue_90d", "events_90d",
    # issue 26: over the whole relationship
    "tenure_days", "days_since_last_purchase", "purchases_lifetime", "purchase_days_lifetime",
    "purchase_days_per_30d", "revenue_lifetime", "avg_purchase_amount_lifetime",
]


def test_shipped_catalog():
    cat = load_catalog()
    assert cat.names() == SHIPPED
    assert cat.computed() == cat.served() == cat.trainable()  # all active today
    rev = cat.get("revenue_7d")
    assert rev.aggregate == "SUM(CASE WHEN (event_type = 'purchase') THEN amount END)"
    assert (rev.dtype, rev.lifecycle, rev.window_days, rev.empty_value) == (DType.FLOAT, Lifecycle.ACTIVE, 7, 0)
    assert rev.source_columns == ("amount", "event_type")
    assert cat.get("amount_stddev_7d").aggregate == "STDDEV_SAMP(amount)"
    assert cat.get("days_since_last_event").aggregate is None
    assert cat.get("max_amount_7d").expectations.max == 5000
    life = cat.get("purchase_days_per_30d")
    assert (life.window_days, life.lifetime, life.agg, life.per_days, life.dtype) == (None, True, "count_days", 30,
                                                                                       DType.FLOAT)
    assert life.empty_value is None and not life.over_raw_events and life.drift_exclude
    assert cat.get("purchases_lifetime").empty_value == 0 and cat.get("revenue_7d").drift_watched
    assert {f.name for f in cat.features if f.lifetime} == {f.name for f in cat.features if not f.drift_watched}
    with pytest.raises(KeyError, match="nope"):
        cat.get("nope")


def entry(**over):
    base = {"name": "f1", "description": "d", "owner": "me", "dtype": "int", "lifecycle": "active",
            "window_days": 7, "aggregate": {"agg": "count", "where": "event_type = 'purchase'"}}
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.mark.parametrize("bad, message", [
    (entry(aggregate={"agg": "sum", "value": "amout"}, dtype="float"), "unknown raw_events column 'amout'"),
    (entry(aggregate={"agg": "count", "where": "colour = 'red'"}), "unknown raw_events column 'colour'"),
    (entry(aggregate={"agg": "count", "where": "e.event_type = 'x'"}), "unknown raw_events column 'e.event_type'"),
    (entry(aggregate={"agg": "sum", "value": "(SELECT 1)"}, dtype="float"), "scalar row expression"),
    (entry(aggregate={"agg": "sum", "value": "SUM(amount)"}, dtype="float"), "scalar row expression"),
    (entry(aggregate={"agg": "count", "where": "1=1; DROP TABLE raw_events"}), "single expression"),
    # Only allow-listed scalar functions: no table functions (files), no unknown functions.
    (entry(aggregate={"agg": "sum", "value": "length(read_csv('/etc/hostname'))"}, dtype="float"),
     "calls read_csv(), which is not an allowed scalar function"),
    (entry(aggregate={"agg": "sum", "value": "abs(read_parquet('x.parquet'))"}, dtype="float"),
     "calls read_parquet()"),
    (entry(aggregate={"agg": "count", "where": "frobnicate(channel) = 1"}), "calls frobnicate()"),
    (entry(aggregate={"agg": "count", "where": "getenv('HOME') = channel"}), "calls getenv()"),
    (entry(aggregate={"agg": "count", "where": "event_type = "}), "not valid SQL"),
    (entry(aggregate={"agg": "median", "value": "amount"}), "aggregate.agg 'median' is not one of"),
    (entry(aggregate={"agg": "sum"}), "needs a value expression"),
    (entry(aggregate={"agg": "count", "filter": "x"}), "unknown field(s) ['filter']"),
    (entry(aggregate="SUM(amount)"), "aggregate must be a mapping"),
    (entry(window_days=0), "window_days must be a positive integer, got 0"),
    (entry(window_days="7"), "window_days must be a positive integer, got '7'"),
    (entry(window_days=True), "window_days must be a positive integer"),
    # issue 26: windows beyond 90 days are allowed (window_days: 91 was refused before)
    (entry(window_days=3661), "longer than 3660 days"),
    (entry(window_days="forever"), "positive integer, got 'forever' (or 'all'"),
    (entry(aggregate={"agg": "count_days"}), "count_days is over the whole relationship: set window_days: all"),
    (entry(window_days="all", aggregate={"agg": "days_since_last", "value": "amount"}), "takes no value"),
    (entry(window_days="all", aggregate={"agg": "count", "per_days": 30}), "a rate (aggregate.per_days) must have dtype float"),
    (entry(dtype="float", aggregate={"agg": "count", "per_days": 30}), "applies to a lifetime"),
    (entry(window_days="all", dtype="float", aggregate={"agg": "count", "per_days": 0}), "per_days must be a positive"),
    (entry(window_days="all", drift_exclude=""), "drift_exclude must be the reason"),
    (entry(lifecycle="archived"), "lifecycle 'archived' is not one of draft, active, deprecated, retired"),
    (entry(dtype="string"), "dtype 'string' is not one of int, float"),
    (entry(dtype="float"), "a count feature must have dtype int"),
    (entry(name="Revenue 7d"), "not a lower-case snake_case identifier"),
    (entry(name="snapshot_date"), "reserved"),
    (entry(owner=...), "missing required field 'owner'"),
    (entry(expectations={"min": 5, "max": 1}), "expectations.min 5 is greater than max 1"),
    (entry(expectations={"max_null_rate": 1.5}), "max_null_rate 1.5 must be between 0 and 1"),
    (entry(expectations={"max": "high"}), "expectations.max must be a finite number"),
    (entry(expectations={"maximum": 3}), "expectations has unknown field(s) ['maximum']"),
    (entry(windw_days=7), "unknown field(s) ['windw_days']"),
])
def test_invalid_entries_name_the_entry(bad, message):
    good = entry(name="ok_feature")
    with pytest.raises(CatalogError) as err:
        parse_entries([good, bad], source="cat.yaml")
    text = str(err.value)
    assert text.startswith("cat.yaml: entry #2")
    if isinstance(bad.get("name"), str):
        assert repr(bad["name"]) in text
    assert message in text


@pytest.mark.parametrize("expression", [
    "CASE WHEN amount > 0 THEN round(amount, 2) ELSE 0 END", "coalesce(abs(amount), 0)",
    "lower(trim(channel)) = 'web' AND NOT (event_type IN ('refund')) OR amount BETWEEN 1 AND 2",
    "length(customer_id) > 3", "CAST(amount AS INTEGER) % 2 = 0",
])
def test_scalar_expressions_are_allowed(expression):
    (spec,) = parse_entries([entry(aggregate={"agg": "count", "where": expression})]).features
    assert spec.filter_sql == f"({expression})"


def test_duplicate_name_names_both_entries():
    with pytest.raises(CatalogError, match=r"entry #3 \('f1'\): duplicate feature name 'f1' \(first declared in entry #1\)"):
        parse_entries([entry(), entry(name="f2"), entry()], source="cat.yaml")


def test_file_errors_and_defaults(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("features: {not: a list}")
    with pytest.raises(CatalogError, match="expected a top-level 'features:' list"):
        load_catalog(path)
    path.write_text("features: [\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(path)
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(tmp_path / "missing.yaml")
    e = entry()
    del e["owner"], e["lifecycle"]
    path.write_text(yaml.safe_dump({"defaults": {"owner": "team-x", "lifecycle": "draft"}, "features": [e]}))
    monkeypatch.setenv(CATALOG_ENV, str(path))
    cat = load_catalog()  # the environment variable points every domain at the same file
    assert cat.get("f1").owner == "team-x" and cat.computed() and not cat.served()


@pytest.mark.parametrize("agg, value, where, sql", [
    ("count", None, None, "COUNT(*)"),
    ("count", "amount", None, "COUNT(CASE WHEN TRUE THEN amount END)"),
    ("avg", "amount", "(amount > 0)", "AVG(CASE WHEN (amount > 0) THEN amount END)"),
    ("min", "amount", None, "MIN(amount)"),
])
def test_render_aggregate(agg, value, where, sql):
    assert render_aggregate(agg, value, where) == sql
