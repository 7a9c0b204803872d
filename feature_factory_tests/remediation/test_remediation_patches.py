"""Typed patches: SQL rendered only from validated params; refusals name what and why."""

from __future__ import annotations

import json
import math

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feature_factory.catalog import Catalog, DType, Expectations, FeatureSpec, Lifecycle
from feature_factory.features import patches as P

FEATURE = "revenue_7d"


_CON = duckdb.connect()


def _eval(expr: str, values: list, col_type: str = "DOUBLE") -> list:
    """Evaluate a rendered expression over `values` (a column named by the patch) in DuckDB."""
    rows = ", ".join(f"({i}, CAST(? AS {col_type}), CAST(? AS BIGINT))" for i in range(len(values))) or "(0, NULL, NULL)"
    params = [x for v in values for x in (v, None if v is None or col_type == "VARCHAR" else int(v))]
    sql = f"SELECT {expr} FROM (VALUES {rows}) t(i, revenue_7d, purchases_7d) ORDER BY i"
    out = [r[0] for r in _CON.execute(sql, params).fetchall()]
    return out if values else []


def test_clip_renders_and_clips_keeping_nulls(catalog):
    patch = P.Clip(feature=FEATURE, baseline_version=1, lower=1.0, upper=90.5)
    assert _eval(patch.render(FEATURE, catalog), [0.0, 50.0, 5000.0, None]) == [1.0, 50.0, 90.5, None]


def test_int_feature_patches_keep_integer_type(catalog):
    clip = P.Clip(feature="purchases_7d", baseline_version=1, lower=0, upper=9)
    impute = P.ImputeMedian(feature="purchases_7d", baseline_version=1, median=5)
    expr = P.compose([clip, impute], "purchases_7d", catalog)
    con = duckdb.connect()
    rows = con.execute(f"SELECT {expr} AS v, typeof({expr}) FROM (VALUES (40), (NULL), (3)) t(purchases_7d)").fetchall()
    assert rows == [(9, "BIGINT"), (5, "BIGINT"), (3, "BIGINT")]


def test_impute_median_and_disable(catalog):
    impute = P.ImputeMedian(feature=FEATURE, baseline_version=1, median=45.0)
    assert _eval(impute.render(FEATURE, catalog), [None, 3.0]) == [45.0, 3.0]
    disable = P.DisableFeature(feature=FEATURE, baseline_version=1)
    assert _eval(disable.render(FEATURE, catalog), [None, 3.0]) == [None, None]


def test_cast_and_map_values(catalog):
    cast = P.Cast(feature="purchases_7d", baseline_version=1, to="int")
    assert _eval(cast.render("revenue_7d", catalog), [2.0, None], "VARCHAR") == [2, None]
    mapping = P.MapValues(feature=FEATURE, baseline_version=1, mapping=((-1.0, 0.0), (999.0, 9.0)))
    assert _eval(mapping.render(FEATURE, catalog), [-1.0, 999.0, 5.0]) == [0.0, 9.0, 5.0]


def test_composition_order_is_fixed(catalog):
    clip = P.Clip(feature=FEATURE, baseline_version=1, lower=1.0, upper=90.0)
    impute = P.ImputeMedian(feature=FEATURE, baseline_version=1, median=45.0)
    disable = P.DisableFeature(feature=FEATURE, baseline_version=1)
    assert P.compose([clip, impute], FEATURE, catalog) == P.compose([impute, clip], FEATURE, catalog)
    assert "NULL AS DOUBLE" in P.compose([disable, impute], FEATURE, catalog).split("COALESCE")[0]
    assert _eval(P.compose([disable, clip], FEATURE, catalog), [5.0]) == [None]


def test_model_patches_do_not_touch_data(catalog):
    for cls in (P.RequestRetrain, P.RefreshBaseline):
        patch = cls(feature=FEATURE, baseline_version=2)
        assert not patch.changes_data
        assert P.compose([patch], FEATURE, catalog) == FEATURE
        assert patch.render_review_sql(catalog).startswith("/* REVIEW */")


def test_review_sql_is_the_exact_expression(catalog):
    patch = P.Clip(feature=FEATURE, baseline_version=1, lower=1.0, upper=90.5)
    review = patch.render_review_sql(catalog)
    assert review.startswith("/* REVIEW */")
    assert f"{patch.render(FEATURE, catalog)} AS revenue_7d" in review
    assert patch.patch_id in review
    # The reviewed statement runs as written.
    con = duckdb.connect()
    con.execute("CREATE TABLE customer_features AS SELECT 'c1' AS customer_id, DATE '2024-01-01' AS snapshot_date, 5000.0 AS revenue_7d")
    assert con.execute(review).fetchall()[0][2] == 90.5


def test_ids_are_stable_and_content_addressed():
    a = P.Clip(feature=FEATURE, baseline_version=1, lower=1.0, upper=90.5)
    assert a.patch_id == P.Clip(feature=FEATURE, baseline_version=1, lower=1.0, upper=90.5).patch_id
    assert a.patch_id != P.Clip(feature=FEATURE, baseline_version=2, lower=1.0, upper=90.5).patch_id
    assert a.patch_id != P.Clip(feature=FEATURE, baseline_version=1, lower=1.0, upper=90.0).patch_id
    assert a.patch_id != P.ImputeMedian(feature=FEATURE, baseline_version=1, median=1.0).patch_id


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: P.Clip(feature="nope_7d", baseline_version=1, lower=0.0, upper=1.0), "unknown feature"),
        (lambda: P.Clip(feature="old_feature", baseline_version=1, lower=0.0, upper=1.0), "retired"),
        (lambda: P.Clip(feature=FEATURE, baseline_version=1, lower=math.nan, upper=1.0), "finite"),
        (lambda: P.Clip(feature=FEATURE, baseline_version=1, lower=0.0, upper=math.inf), "finite"),
        (lambda: P.Clip(feature=FEATURE, baseline_version=1, lower=9.0, upper=1.0), "above the upper bound"),
        (lambda: P.Clip(feature=FEATURE, baseline_version=1, lower=-5.0, upper=1.0), "below the feature's allowed minimum"),
        (lambda: P.ImputeMedian(feature=FEATURE, baseline_version=1, median=-1.0), "allowed minimum"),
        (lambda: P.ImputeMedian(feature="purchases_7d", baseline_version=1, median=2.5), "not an integer"),
        (lambda: P.ImputeMedian(feature=FEATURE, baseline_version=1, median="1; DROP TABLE x"), "must be a number"),
        (lambda: P.Clip(feature=FEATURE, baseline_version=1, lower=True, upper=1.0), "must be a number"),
        (lambda: P.Cast(feature=FEATURE, baseline_version=1, to="int"), "differs from the declared dtype"),
        (lambda: P.Cast(feature=FEATURE, baseline_version=1, to="VARCHAR); DROP TABLE x; --"), "not a known dtype"),
        (lambda: P.Clip(feature="revenue_7d; DROP TABLE x", baseline_version=1, lower=0.0, upper=1.0), "not a plain"),
        (lambda: P.DisableFeature(feature='revenue_7d"--', baseline_version=1), "not a plain"),
        (lambda: P.Clip(feature=FEATURE, baseline_version="1", lower=0.0, upper=1.0), "baseline_version"),
    ],
)
def test_refusals(catalog, make, message):
    with pytest.raises(P.PatchValidationError, match=message):
        make().render(FEATURE, catalog)


def test_record_round_trip_and_tamper_detection(catalog):
    patch = P.Clip(feature=FEATURE, baseline_version=1, lower=1.0, upper=90.5)
    stored = json.dumps(patch.params())
    assert P.patch_from_record("clip", FEATURE, 1, stored, patch.patch_id) == patch
    tampered = [
        ('{"lower": "0) OR 1=1; DROP TABLE customer_features; --", "upper": 90.5}', "must be a number"),
        ('{"lower": 1.0, "upper": 90.5, "sql": "DROP TABLE x"}', "params keys"),
        ('{"lower": NaN, "upper": 90.5}', "non-finite"),
        ('{"lower": 1e999, "upper": 90.5}', "finite"),
        ("DROP TABLE x", "not JSON"),
        ('{"lower": 0.0, "upper": 90.5}', "does not match its id"),  # valid numbers, changed content
    ]
    for params, message in tampered:
        with pytest.raises(P.PatchValidationError, match=message):
            P.patch_from_record("clip", FEATURE, 1, params, patch.patch_id)
    with pytest.raises(P.PatchValidationError, match="unknown action"):
        P.patch_from_record("drop_table", FEATURE, 1, "{}")


@settings(max_examples=60, deadline=None)
@given(
    lo=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    width=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    values=st.lists(st.one_of(st.none(), st.floats(min_value=-1e7, max_value=1e7, allow_nan=False)), max_size=8),
)
def test_clip_property_matches_python(lo, width, values):
    cat = Catalog((FeatureSpec(name=FEATURE, description="d", owner="o", dtype=DType.FLOAT,
                               lifecycle=Lifecycle.ACTIVE, aggregate=None, window_days=7,
                               expectations=Expectations(min=0.0)),))
    patch = P.Clip(feature=FEATURE, baseline_version=1, lower=lo, upper=lo + width)
    got = _eval(patch.render(FEATURE, cat), values)
    assert got == [None if v is None else min(max(v, lo), lo + width) for v in values]
