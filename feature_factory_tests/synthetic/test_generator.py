"""The synthetic generator: determinism, the landing contract, realistic behaviour measured on the
output, each drift option in isolation, ground truth and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from feature_factory import settings
from feature_factory.cli import main
from feature_factory.synthetic.generator import DriftConfig, GeneratorConfig, generate
from feature_factory.synthetic.output import LANDING_COLUMNS
from feature_factory.synthetic.population import SEGMENTS
from feature_factory.synthetic.ground_truth import default_truth_dir, load_ground_truth

START = dt.date(2024, 1, 1)
DRIFT_START = dt.date(2024, 1, 16)


def _generate(root: Path, **kwargs):
    kwargs.setdefault("customers", 200)
    kwargs.setdefault("days", 30)
    return generate(GeneratorConfig(start=START, out_dir=root / "landing" / "events", **kwargs))


def _read(result) -> pd.DataFrame:
    """All landing rows as text (blank = missing), with the day of the file they came from."""
    frames = []
    for path in result.files:
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_parquet(path)
        frame["file_day"] = path.name[len("events_"):len("events_") + 10]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _amount(frame: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(frame["amount"].replace("", np.nan))


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    result = _generate(tmp_path_factory.mktemp("base"), customers=300)
    return result, _read(result)


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    """Enough customers for behavioural statistics (about 60k events)."""
    result = _generate(tmp_path_factory.mktemp("big"), customers=1000, days=60)
    return result, _read(result), load_ground_truth(result.truth_dir).customers


def _bytes(result) -> dict[str, bytes]:
    paths = list(result.files) + sorted(result.truth_dir.iterdir())
    return {p.name: p.read_bytes() for p in paths}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_same_bytes_other_seed_different(tmp_path, fmt):
    first = _bytes(_generate(tmp_path / "a", fmt=fmt, days=10))
    again = _bytes(_generate(tmp_path / "b", fmt=fmt, days=10))
    other = _bytes(_generate(tmp_path / "c", fmt=fmt, days=10, seed=8))
    assert len(first) == 12 and first == again
    assert all(other[name] != data for name, data in first.items() if name.startswith("events_"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files_follow_the_landing_contract(tmp_path, fmt):
    result = _generate(tmp_path, fmt=fmt, days=7)
    assert [p.name for p in result.files] == [f"events_2024-01-0{d}.{fmt}" for d in range(1, 8)]
    rows = _read(result)
    assert list(rows.columns[:-1]) == list(LANDING_COLUMNS)
    assert len(rows) == result.total_events == sum(result.events_by_type.values())
    assert set(rows.event_type) == {"purchase", "browse", "refund"}
    assert set(rows.channel) == {"web", "mobile"}
    assert rows.event_id.is_unique
    ts = rows.event_ts.astype(str)
    assert ts.str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").all()
    assert (ts.str[:10] == rows.file_day).all()  # every event lies in its file's day
    amount = _amount(rows) if fmt == "csv" else rows.amount
    if fmt == "csv":
        filled = rows.amount[rows.amount != ""]
        assert filled.str.fullmatch(r"\d+\.\d{2}").all()
    else:
        assert rows.amount.dtype == np.float64
    assert (amount.dropna() >= 0).all()
    browse = rows.event_type == "browse"
    assert (amount[browse] == 0).all()
    assert (amount[~browse].dropna() > 0).all()
    truth = load_ground_truth(result.truth_dir).customers
    assert set(rows.customer_id) <= set(truth.customer_id)


def test_segments_differ_in_purchase_rate_and_basket(big_run):
    result, rows, truth = big_run
    steady = truth[truth.signup_date.isna() & truth.churn_date.isna()]
    purchases = rows[rows.event_type == "purchase"].merge(steady, on="customer_id")
    purchases["amount"] = _amount(purchases)
    rate = purchases.groupby("segment").size() / (steady.groupby("segment").size() * 60)
    basket = purchases.groupby("segment").amount.median()
    for seg in SEGMENTS:
        assert rate[seg.name] == pytest.approx(seg.purchase_rate, rel=0.2), seg.name
        assert basket[seg.name] == pytest.approx(seg.amount_median, rel=0.2), seg.name
    assert rate["loyal"] > 2 * rate["regular"] > 4 * rate["occasional"]
    assert basket["loyal"] > 3 * basket["bargain"]
    mobile = (rows.merge(steady, on="customer_id").assign(m=lambda f: f.channel == "mobile")
              .groupby("segment").m.mean())
    assert mobile["bargain"] > mobile["loyal"] > mobile["occasional"] + 0.05


def test_weekly_seasonality(big_run):
    _, rows, _ = big_run
    purchases = rows[rows.event_type == "purchase"]
    weekday = pd.to_datetime(purchases.file_day).dt.weekday
    per_day = purchases.groupby([purchases.file_day, weekday]).size().groupby(level=1).mean()
    assert per_day[5] / per_day[0] > 1.3  # Saturday vs Monday; configured 1.25 / 0.85
    assert per_day[[5, 6]].mean() > per_day[[0, 1, 2]].mean()


def test_churners_fade_then_stop(big_run):
    _, rows, truth = big_run
    day = pd.to_datetime(rows.file_day)
    with_truth = rows.assign(day=day).merge(truth, on="customer_id")
    churn = pd.to_datetime(with_truth.churn_date)
    assert not (with_truth.day >= churn).any()  # nothing on or after the churn date
    assert not (with_truth.day < pd.to_datetime(with_truth.signup_date)).any()
    late = truth[pd.to_datetime(truth.churn_date) >= pd.Timestamp(START) + pd.Timedelta(days=40)]
    assert len(late) > 30
    sub = rows.merge(late[["customer_id", "churn_date"]], on="customer_id")
    before = (pd.to_datetime(sub.churn_date) - pd.to_datetime(sub.file_day)).dt.days
    # Fades last 14-28 days, so days 29-35 before the churn date are still at full activity.
    last_week, month_before = (before <= 7).sum(), ((before > 28) & (before <= 35)).sum()
    assert month_before > 100
    assert last_week < 0.4 * month_before


def test_propensity_predicts_no_purchase_in_next_30_days(big_run):
    _, rows, truth = big_run
    label_day = "2024-01-21"
    active = rows[rows.file_day < label_day].customer_id.unique()
    window = rows[(rows.file_day >= label_day) & (rows.file_day < "2024-02-20")]
    buyers = set(window[window.event_type == "purchase"].customer_id)
    labels = truth[truth.customer_id.isin(active)].assign(churned=lambda f: ~f.customer_id.isin(buyers))
    assert 0.1 < labels.churned.mean() < 0.4
    assert roc_auc_score(labels.churned, labels.churn_propensity) > 0.7
    quintile = pd.qcut(labels.churn_propensity, 5, labels=False)
    by_q = labels.groupby(quintile).churned.mean()
    assert by_q[4] > 3 * by_q[0]


def test_newcomers_appear_and_keep_the_population_steady(big_run):
    result, rows, truth = big_run
    assert truth.signup_date.notna().sum() > 100
    counts = pd.Series(result.events_per_day).to_numpy()
    assert abs(counts[-14:].mean() / counts[:14].mean() - 1) < 0.1


def _drifted(tmp_path, **drift):
    result = _generate(tmp_path, customers=300, drift=DriftConfig(start=DRIFT_START, **drift))
    return result, _read(result)


def _split(rows: pd.DataFrame):
    after = rows.file_day >= DRIFT_START.isoformat()
    return rows[~after], rows[after]


def _assert_only_changed(base_rows, rows, changed: set[str], baseline_result, result):
    """Same files before the drift, same rows after it except in `changed` columns."""
    for old, new in zip(baseline_result.files, result.files):
        assert old.name == new.name
        if old.name < f"events_{DRIFT_START.isoformat()}":
            assert old.read_bytes() == new.read_bytes(), old.name
    _, old_after = _split(base_rows)
    _, new_after = _split(rows)
    assert len(old_after) == len(new_after)
    for column in set(LANDING_COLUMNS) - changed:
        assert (old_after[column].to_numpy() == new_after[column].to_numpy()).all(), column
    for column in changed:
        assert (old_after[column].to_numpy() != new_after[column].to_numpy()).any(), column


def test_amount_shift(tmp_path, baseline_run):
    base, base_rows = baseline_run
    result, rows = _drifted(tmp_path, amount_shift=0.5)
    _assert_only_changed(base_rows, rows, {"amount"}, base, result)
    drift = load_ground_truth(result.truth_dir).drift
    std = drift["baseline"]["purchase_amount_std"]
    assert drift["injected"]["amount_shift"]["params"]["delta"] == pytest.approx(0.5 * std, abs=1e-3)
    _, old_after = _split(base_rows)
    _, after = _split(rows)
    buy = (after.event_type == "purchase").to_numpy()
    diff = (_amount(after) - _amount(old_after).to_numpy())[buy].dropna()
    assert np.allclose(diff, 0.5 * std, atol=0.011)  # every purchase, up to cent rounding
    # Against the same rows without drift: natural noise between periods cancels out.
    unshifted = _amount(old_after[old_after.event_type == "purchase"])
    shifted = _amount(after[after.event_type == "purchase"])
    base_std = _amount(base_rows[base_rows.event_type == "purchase"]).std()
    assert (shifted.mean() - unshifted.mean()) / base_std == pytest.approx(0.5, abs=0.1)
    assert shifted.std() / unshifted.std() == pytest.approx(1.0, abs=0.01)  # a shift, not a rescale


def test_baseline_amount_stats_match_the_data(big_run):
    result, rows, _ = big_run
    baseline = load_ground_truth(result.truth_dir).drift["baseline"]
    amounts = _amount(rows[rows.event_type == "purchase"])
    assert amounts.mean() == pytest.approx(baseline["purchase_amount_mean"], rel=0.05)
    assert amounts.std() == pytest.approx(baseline["purchase_amount_std"], rel=0.1)
    assert amounts.median() == pytest.approx(baseline["purchase_amount_median"], rel=0.05)


def test_outlier_bursts(tmp_path, baseline_run):
    base, base_rows = baseline_run
    result, rows = _drifted(tmp_path, outlier_rate=0.02)
    _assert_only_changed(base_rows, rows, {"amount"}, base, result)
    median = load_ground_truth(result.truth_dir).drift["baseline"]["purchase_amount_median"]
    before, after = _split(rows)
    for part, expected in ((before, 0.0), (after, 0.02)):
        buys = part[part.event_type == "purchase"]
        share = (_amount(buys) >= 20 * median).mean()
        assert share == pytest.approx(expected, abs=0.004)
    for _, day in after[after.event_type == "purchase"].groupby("file_day"):
        flagged = np.flatnonzero((_amount(day) >= 20 * median).to_numpy())
        if len(flagged):  # one burst: consecutive purchases in time order
            assert flagged[-1] - flagged[0] == len(flagged) - 1
            assert (_amount(day).iloc[flagged] <= 50 * median + 0.01).all()


def test_missing_amounts(tmp_path, baseline_run):
    base, base_rows = baseline_run
    result, rows = _drifted(tmp_path, missing_amount_rate=0.10)
    _assert_only_changed(base_rows, rows, {"amount"}, base, result)
    before, after = _split(rows)
    blank = lambda f: (f[f.event_type != "browse"].amount == "").mean()  # noqa: E731
    assert blank(after) - blank(before) == pytest.approx(0.10, abs=0.02)
    assert (rows[rows.event_type == "browse"].amount != "").all()
    _, old_after = _split(base_rows)
    assert ((old_after.amount == "").to_numpy() <= (after.amount == "").to_numpy()).all()


def test_channel_shift(tmp_path, baseline_run):
    base, base_rows = baseline_run
    result, rows = _drifted(tmp_path, channel_shift=0.3)
    _assert_only_changed(base_rows, rows, {"channel"}, base, result)
    _, old_after = _split(base_rows)
    _, after = _split(rows)
    old_mobile, new_mobile = (old_after.channel == "mobile").to_numpy(), (after.channel == "mobile").to_numpy()
    assert (old_mobile <= new_mobile).all()  # only web -> mobile
    assert 0.24 < new_mobile.mean() - old_mobile.mean() <= 0.31  # +0.3, a little less where capped at 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    "variant, columns",
    [
        ("extra_column", [*LANDING_COLUMNS, "currency"]),
        ("rename_column", ["event_id", "customer_id", "event_type", "channel", "amount_usd", "event_ts"]),
        ("retype_column", list(LANDING_COLUMNS)),
        ("retype_timestamp", list(LANDING_COLUMNS)),
    ],
)
def test_schema_change_from_drift_start(tmp_path, fmt, variant, columns):
    base = _generate(tmp_path / "base", days=20, fmt=fmt)
    result = _generate(tmp_path / "drift", days=20, fmt=fmt,
                       drift=DriftConfig(start=DRIFT_START, schema_change=variant))
    reader = pd.read_csv if fmt == "csv" else pd.read_parquet
    kwargs = {"dtype": str, "keep_default_na": False} if fmt == "csv" else {}
    for old, new in zip(base.files, result.files):
        if new.name < f"events_{DRIFT_START.isoformat()}":
            assert old.read_bytes() == new.read_bytes()
            continue
        old_rows, new_rows = reader(old, **kwargs), reader(new, **kwargs)
        assert list(new_rows.columns) == columns
        if variant == "extra_column":
            assert (new_rows.currency == "USD").all()
        if variant == "rename_column":
            assert new_rows.amount_usd.equals(old_rows.amount)
        if variant == "retype_column":
            text = new_rows.amount.replace("", None).dropna() if fmt == "csv" else new_rows.amount.dropna()
            assert text.str.fullmatch(r"\d+\.\d{2} USD").all()
            parsed = pd.to_numeric(text.str.removesuffix(" USD"))
            assert np.allclose(parsed, pd.to_numeric(old_rows.amount[text.index]))
        if variant == "retype_timestamp":
            epoch = pd.to_datetime(new_rows.event_ts.astype("int64"), unit="s")
            assert (epoch.dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy() == old_rows.event_ts.to_numpy()).all()
    drift = load_ground_truth(result.truth_dir).drift
    assert drift["injected"]["schema_change"]["params"]["variant"] == variant
    assert drift["injected"]["schema_change"]["start"] == DRIFT_START.isoformat()


def test_ground_truth_lives_outside_the_landing_folder(tmp_path, project_home):
    result = generate(GeneratorConfig(customers=50, days=5, out_dir=settings.landing_dir(),
                                      drift=DriftConfig(start="2024-01-03", outlier_rate=0.02)))
    assert result.truth_dir == project_home.resolve() / "ground_truth"
    assert sorted(p.name for p in settings.landing_dir().iterdir()) == [p.name for p in result.files]
    truth = load_ground_truth(result.truth_dir)
    assert list(truth.customers.columns[:5]) == [
        "customer_id", "segment", "churn_propensity", "churn_date", "first_seen_date"]
    assert truth.customers.customer_id.is_unique and len(truth.customers) == result.customers
    assert truth.customers.churn_propensity.between(0, 1).all()
    assert set(truth.customers.segment) == {s.name for s in SEGMENTS}
    assert truth.drift["drift_start"] == "2024-01-03"
    assert list(truth.drift["injected"]) == ["outliers"]
    assert "max_amount_7d" in truth.drift["injected"]["outliers"]["features"]
    assert default_truth_dir(tmp_path / "landing") == tmp_path / "ground_truth"
    with pytest.raises(ValueError, match="inside the landing folder"):
        GeneratorConfig(out_dir=tmp_path / "landing", truth_dir=tmp_path / "landing" / "truth")
    with pytest.raises(FileNotFoundError, match="lacks customers.parquet, drift.json"):
        load_ground_truth(tmp_path / "nowhere")


def test_files_per_day_split_rerun_and_cleanup(tmp_path):
    single = _read(_generate(tmp_path / "one", days=3))
    split = _generate(tmp_path / "many", days=3, files_per_day=4)
    assert [p.name for p in split.files[:4]] == [f"events_2024-01-01_part00{i}.csv" for i in range(1, 5)]
    pd.testing.assert_frame_equal(_read(split).drop(columns="file_day"), single.drop(columns="file_day"))
    mtimes = {p: p.stat().st_mtime_ns for p in split.files}
    again = _generate(tmp_path / "many", days=3, files_per_day=4)
    assert again.files_changed == 0 and all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    merged = _generate(tmp_path / "many", days=3, fmt="parquet")
    landing = tmp_path / "many" / "landing" / "events"
    assert sorted(p.name for p in landing.iterdir()) == [p.name for p in merged.files]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"customers": 0}, "customers=0 must be a positive integer"),
        ({"fmt": "xlsx"}, "fmt='xlsx'"),
        ({"start": "2024-13-01"}, "start '2024-13-01' is not a date"),
        ({"drift": dict(amount_shift=0.5)}, "amount_shift needs a start date"),
        ({"drift": dict(start="2024-01-01", outlier_rate=1.5)}, "outlier_rate=1.5"),
        ({"drift": dict(start="2025-01-01", channel_shift=0.3)}, "outside the generated days"),
        ({"drift": dict(start="2024-01-02", schema_change="drop")}, "schema_change='drop'"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        if "drift" in kwargs:
            kwargs["drift"] = DriftConfig(**kwargs["drift"])
        GeneratorConfig(out_dir=tmp_path / "landing", **kwargs)


def test_cli_end_to_end(tmp_path, project_home, capsys):
    out, truth = tmp_path / "in", tmp_path / "truth"
    code = main(["generate", "--customers", "40", "--days", "6", "--start", "2024-02-01", "--seed", "3",
                 "--out", str(out), "--format", "parquet", "--files-per-day", "2", "--truth-out", str(truth),
                 "--drift-start", "2024-02-04", "--amount-shift", "0.5", "--channel-shift", "0.3",
                 "--schema-change", "extra_column"])
    assert code == 0
    summary = capsys.readouterr().out.strip()
    files = sorted(out.iterdir())
    assert len(files) == 12 and files[0].name == "events_2024-02-01_part001.parquet"
    events = sum(len(pd.read_parquet(f)) for f in files)
    assert re.fullmatch(rf"wrote 12 files \(12 changed\), {events:,} events, \d+ customers to .*", summary)
    assert "currency" in pd.read_parquet(files[-1]).columns
    drift = json.loads((truth / "drift.json").read_text())
    assert sorted(drift["injected"]) == ["amount_shift", "channel_shift", "schema_change"]
    assert drift["generator"]["seed"] == 3

    assert main(["generate", "--customers", "20", "--days", "2"]) == 0  # defaults: project landing
    assert sorted(p.name for p in settings.landing_dir().iterdir()) == [
        "events_2024-01-01.csv", "events_2024-01-02.csv"]
    assert (project_home / "ground_truth" / "customers.parquet").is_file()

    assert main(["generate", "--days", "2", "--out", str(out), "--outlier-rate", "0.1"]) == 2
    assert "outliers needs a start date (--drift-start)" in capsys.readouterr().err


def test_append_days_lands_the_next_days_of_the_same_population(tmp_path):
    """"One more day": the days after the horizon, of the same customers; earlier files untouched."""
    first = _generate(tmp_path, customers=300, days=30, seed=5)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.files}
    more = _generate(tmp_path, customers=300, days=30, seed=5, append_days=5)
    assert [p.name for p in more.files] == [f"events_2024-01-{d}.csv" for d in range(31, 32)] + [
        f"events_2024-02-0{d}.csv" for d in range(1, 5)]
    assert more.files_changed == 5 and sorted(more.events_per_day) == [
        START + dt.timedelta(days=30 + i) for i in range(5)]
    for path, (data, mtime) in before.items():  # byte for byte, not even rewritten
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime, path.name
    # Appending fewer days again changes nothing: the same days come out byte-identical.
    appended = {p: p.read_bytes() for p in more.files}
    again = _generate(tmp_path, customers=300, days=30, seed=5, append_days=2)
    assert again.files_changed == 0 and all(p.read_bytes() == appended[p] for p in again.files)

    # The same population: each purchase follows its customer's own basket size from the ground
    # truth, and no customer whose churn date has passed comes back.
    truth = load_ground_truth(more.truth_dir).customers.set_index("customer_id")
    rows = _read(more)
    assert set(rows["customer_id"]) <= set(truth.index)
    bought = rows[(rows["event_type"] == "purchase") & (rows["amount"] != "")]
    log_amount = np.log(_amount(bought).to_numpy())
    log_median = np.log(truth.loc[bought["customer_id"], "basket_median"].to_numpy())
    assert len(bought) > 200 and np.corrcoef(log_amount, log_median)[0, 1] > 0.6
    churn = pd.to_datetime(truth.loc[rows["customer_id"], "churn_date"]).dt.date.to_numpy()
    day = pd.to_datetime(rows["file_day"]).dt.date.to_numpy()
    assert not any(c is not None and not pd.isna(c) and d >= c for c, d in zip(churn, day))
    assert json.loads((more.truth_dir / "drift.json").read_text())["generator"]["last_day"] == "2024-02-04"


def test_append_days_refuses_other_settings(tmp_path, capsys):
    out = tmp_path / "landing" / "events"
    args = ["generate", "--customers", "30", "--days", "4", "--seed", "2", "--out", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    # --days 5 would draw another population: the message says what differs and what to pass.
    assert main([*args[:4], "5", *args[5:], "--append-days", "1"]) == 2
    err = capsys.readouterr().err
    assert "days was 4, now 5" in err and "--days stays the original number of days" in err
    assert sorted(p.name for p in out.iterdir()) == [f"events_2024-01-0{d}.csv" for d in range(1, 5)]
    assert main([*args, "--append-days", "1"]) == 0
    assert re.match(r"wrote 1 files \(1 changed\)", capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir())[-1] == "events_2024-01-05.csv"
