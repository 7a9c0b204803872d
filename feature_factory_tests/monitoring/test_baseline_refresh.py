"""A `refresh_baseline` covers only the features it was approved for and never absorbs days with
contamination findings or clipped values (issue 28 item 0)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from feature_factory.monitoring.detection import baseline as B
from feature_factory.monitoring.report.alerts import alert_rows, evaluate_days, evaluate_day, write_alerts
from feature_factory.monitoring.checks import current_baseline_check
from feature_factory.monitoring.detection.contamination import excluded_days
from feature_factory.monitoring.statistics.feature_stats import MonitoringError
from feature_factory import tables
from feature_factory.remediation.sensors import run_request
from feature_factory.warehouse import DuckDBWarehouse
from feature_factory_tests.monitoring.conftest import START, load_features, make_days

D = lambda i: START + dt.timedelta(days=i)  # noqa: E731
BURST = range(21, 25)  # an outlier burst on amount (3% of customers at 40x the mean), days 21..24 and on


@pytest.fixture(scope="module")
def burst_file(tmp_path_factory):
    """21 clean days, baseline v1 over them, then the burst judged day by day (its findings in
    drift_alerts), as in the demo. Built once; each test gets a copy."""
    from feature_factory_tests.monitoring.conftest import spec
    from feature_factory.catalog import DType

    features = [spec("amount"), spec("visits", DType.INT), spec("ratio")]
    path = tmp_path_factory.mktemp("burst") / "warehouse.duckdb"
    wh = DuckDBWarehouse(path=str(path))
    load_features(wh, make_days(26, customers=200, shift={d: {"outliers": 0.03} for d in range(21, 26)}))
    B.capture_baseline(wh, D(0), D(20), features)
    for report in evaluate_days(wh, D(21), D(24), features):
        write_alerts(wh, report.day, alert_rows(report))
    return path


@pytest.fixture
def burst_history(burst_file, tmp_path):
    shutil.copy(burst_file, tmp_path / "copy.duckdb")
    return DuckDBWarehouse(path=str(tmp_path / "copy.duckdb"))


def _amount_alert(wh, features, day):
    report = evaluate_day(wh, day, features)
    return next(r for r in report.results if r.feature == "amount"), report


def test_single_feature_refresh_keeps_detecting_the_burst_on_the_others(burst_history, features):
    wh = burst_history
    before, report = _amount_alert(wh, features, D(25))
    assert before.severity == "critical"
    assert report.diagnoses["amount"][0] in ("tail_contamination", "single_source")
    # The burst's days carry open findings: a capture must leave them out, saying why.
    skip = excluded_days(wh, D(5), D(24))
    assert list(skip) == [D(d) for d in BURST], wh.fetch_all("SELECT alert_date, feature, severity, diagnosis FROM drift_alerts WHERE severity_rank > 0 ORDER BY 1")
    assert all("amount" in why for why in skip.values())

    refreshed = B.capture_baseline(wh, D(5), D(24), features, only=["visits"], exclude_days=list(skip))
    assert refreshed.version == 2 and set(refreshed.features) == {"amount", "visits", "ratio"}
    assert refreshed.carried == {"amount": 1, "ratio": 1}
    assert refreshed.windows["visits"] == (D(5), D(24)) and refreshed.features["visits"].days == 16
    assert refreshed.windows["amount"] == (D(0), D(20))
    assert refreshed.excluded["visits"] == [D(d) for d in BURST]
    # Carried rows are the previous version's statistics, unchanged.
    v1 = wh.fetch_all("SELECT mean, p99, bin_edges FROM feature_stats_baseline WHERE baseline_version = 1 "
                      "AND feature = 'amount'")
    v2 = wh.fetch_all("SELECT mean, p99, bin_edges FROM feature_stats_baseline WHERE baseline_version = 2 "
                      "AND feature = 'amount'")
    assert v1 == v2
    assert current_baseline_check(wh, tables.FEATURE_STATS_BASELINE).passed

    after, _ = _amount_alert(wh, features, D(25))  # the burst goes on: still detected, as before
    assert (after.types, after.metrics["out_of_range_share"]) == (before.types, before.metrics["out_of_range_share"])


def test_full_recapture_over_the_burst_leaves_its_days_out(burst_history, features):
    wh = burst_history
    skip = excluded_days(wh, D(5), D(24))
    clean = B.capture_baseline(wh, D(5), D(24), features, exclude_days=list(skip))
    assert clean.carried == {} and clean.features["amount"].days == 16
    assert clean.features["amount"].max_value < 200  # no outlier (40x the mean, 2000) absorbed
    assert json.loads(wh.fetch_one("SELECT excluded_days FROM feature_stats_baseline WHERE is_current "
                                   "AND feature = 'amount'")[0]) == [str(D(d)) for d in BURST]
    after, _ = _amount_alert(wh, features, D(25))
    assert after.severity == "critical"


def test_refresh_names_unknown_features_and_empty_windows(burst_history, features):
    with pytest.raises(MonitoringError, match="nope not computed features"):
        B.capture_baseline(burst_history, D(5), D(24), features, only=["nope"])
    with pytest.raises(MonitoringError, match="outside the 4 excluded day"):
        B.capture_baseline(burst_history, D(21), D(24), features, only=["visits"], exclude_days=[D(d) for d in BURST])


def test_clipped_days_are_left_out(duckdb_warehouse, features):
    wh = duckdb_warehouse
    load_features(wh, make_days(6, customers=50, shift={4: {"outliers": 0.1}}))
    wh.execute("CREATE TABLE feature_patches_active AS SELECT 'p1' AS patch_id, 'amount' AS feature, "
               "'clip' AS action, '{\"lower\": 0.0, \"upper\": 500.0}' AS params")
    assert list(excluded_days(wh, D(0), D(5))) == [D(4)]
    assert "clipped: amount (5 values)" in excluded_days(wh, D(0), D(5))[D(4)]


def test_refresh_request_names_its_feature_only():
    req = run_request({"action": "refresh_baseline", "feature": "web_events_7d", "patch_id": "abc",
                       "alert_date": "2024-03-30"})
    config = req.run_config["ops"]["feature_stats_baseline"]["config"]
    assert config == {"start_date": "2024-03-03", "end_date": "2024-03-30", "features": ["web_events_7d"]}


@pytest.mark.parametrize("warehouse", ["duckdb", "snowflake"], indirect=True)
def test_a_per_feature_capture_carries_the_others_on_both_backends(warehouse, features):
    load_features(warehouse, make_days(4, customers=30))
    B.capture_baseline(warehouse, D(0), D(2), features)
    v2 = B.capture_baseline(warehouse, D(1), D(3), features, only=["visits"], exclude_days=[D(2)])
    assert (v2.version, v2.carried, v2.windows["visits"], v2.features["visits"].days) == (
        2, {"amount": 1, "ratio": 1}, (D(1), D(3)), 2)
    assert v2.excluded == {"visits": [D(2)]} and v2.window_end_of("amount") == D(2)
    assert current_baseline_check(warehouse, tables.FEATURE_STATS_BASELINE).passed
    assert warehouse.fetch_one("SELECT COUNT(*) FROM feature_stats_baseline WHERE is_current")[0] == 3
