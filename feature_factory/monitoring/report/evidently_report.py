"""An Evidently DataDriftPreset report on bounded samples, as a second opinion next to ours: the
`drift_report` asset, downstream of `drift_alerts` (the alerts land, and the sensor can act,
before Evidently runs); every other entity's `<entity>_drift_report` over its own tables (`subject`).

Reference: up to `sample_size` rows of the baseline window; current: up to `sample_size` rows of
the partition; both sampled in the warehouse (`ORDER BY RANDOM() LIMIT n`) and read through the
patch layer. The HTML goes under `$FEATURE_FACTORY_HOME/reports/`; the per-column verdicts
(drift detected, score, method) are written into that day's `drift_alerts` rows (`evidently_*`
columns, NULL until the report ran) by one UPDATE. A failure of the report never touches the
alerts: it is reported.

Evidently is imported lazily: 4-10 s, more than a whole day's SQL. (Importing it in a background
thread from the start of the run was measured and gained nothing on 2 cores: the import holds the
GIL and slowed the ingestion step by as much as it saved.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from feature_factory.monitoring.subject import CUSTOMER, Subject
from feature_factory.settings import Homes
from feature_factory.warehouse.sql import sql_literal

if TYPE_CHECKING:  # only passed in: importing the Warehouse (a Dagster resource) would load Dagster
    from feature_factory.warehouse.base import Warehouse


@dataclass
class EvidentlyResult:
    path: Path | None = None
    columns: dict[str, dict] = field(default_factory=dict)  # feature -> {drift, score, method}
    error: str | None = None
    sample_rows: tuple[int, int] = (0, 0)  # (current, reference)


def sample_sql(expressions: dict[str, str], n: int, subject: Subject = CUSTOMER) -> str:
    cols = ", ".join(f"{expr} AS {name}" for name, expr in expressions.items())
    return (f"SELECT {cols} FROM {subject.features} WHERE snapshot_date BETWEEN CAST(? AS DATE) "
            f"AND CAST(? AS DATE) ORDER BY RANDOM() LIMIT {int(n)}")


def report_path(day: dt.date, baseline_version: int, homes: Homes | None = None, subject: Subject = CUSTOMER) -> Path:
    """Where the report of `day` against baseline `baseline_version` is written (one file each), under
    <home>/reports of `homes` (default: the environment's): named after the entity's report asset
    (drift_report -> drift_<day>_..., product_drift_report -> product_drift_<day>_...)."""
    stem = subject.of.names.drift_report.removesuffix("_report")
    return (homes or Homes()).artifacts_dir("reports") / f"{stem}_{day}_baseline_v{baseline_version}.html"


def judged_day(warehouse: Warehouse, day: dt.date, subject: Subject = CUSTOMER):
    """The `drift_alerts` (the subject's alerts) rows of `day` (feature, baseline_version, severity,
    severity_rank, drift_types, psi, ks), worst first; empty when it has not judged the day."""
    if not warehouse.table_exists(subject.alerts.name):
        return warehouse.fetch_df("SELECT NULL AS feature WHERE 1 = 0")
    return warehouse.fetch_df(
        f"SELECT feature, baseline_version, severity, severity_rank, drift_types, psi, ks FROM {subject.alerts} "
        "WHERE alert_date = CAST(? AS DATE) ORDER BY severity_rank DESC, feature", [str(day)])


def baseline_window(warehouse: Warehouse, version: int, subject: Subject = CUSTOMER) -> tuple[dt.date, dt.date] | None:
    """The window of days of baseline `version` (not necessarily the current one: the alerts of
    a day name the version they were judged against)."""
    row = warehouse.fetch_one(f"SELECT MIN(window_start), MAX(window_end) FROM {subject.baseline} "
                              "WHERE baseline_version = ?", [int(version)])
    if not row or row[0] is None:
        return None
    return tuple(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]) for d in row)


def store_verdicts(warehouse: Warehouse, day: dt.date, baseline_version: int, columns: dict[str, dict],
                   subject: Subject = CUSTOMER) -> int:
    """Write Evidently's per-column verdicts into `day`'s drift_alerts rows in one UPDATE (a
    feature Evidently could not score gets NULL); re-running it sets the same columns again."""
    def case(key: str) -> str:
        whens = " ".join(f"WHEN {sql_literal(f)} THEN {sql_literal(v[key])}" for f, v in sorted(columns.items()))
        return f"CASE feature {whens} ELSE NULL END" if whens else "NULL"

    warehouse.execute(
        f"UPDATE {subject.alerts} SET evidently_drift = {case('drift')}, evidently_score = {case('score')}, "
        f"evidently_method = {case('method')} WHERE alert_date = CAST(? AS DATE) AND baseline_version = ?",
        [str(day), int(baseline_version)])
    return len(columns)


def verdicts_markdown(judged, columns: dict[str, dict], drifted_rank: int = 2) -> str:
    """Our verdict and Evidently's side by side, one line per feature, worst first; `agree` compares
    Evidently's verdict with ours at or above severity rank `drifted_rank` (2: medium)."""
    def num(v) -> str:
        return "–" if v is None or v != v else f"{float(v):.3f}"

    lines = ["| feature | severity | drift types | PSI | KS | Evidently | score | method | agree |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in judged.to_dict("records"):
        ev = columns.get(r["feature"])
        ours = int(r["severity_rank"] or 0) >= drifted_rank
        ev_text, agree = ("–", "–") if not ev else ("drift" if ev["drift"] else "ok",
                                                    "yes" if bool(ev["drift"]) == ours else "no")
        lines.append(f"| {r['feature']} | **{r['severity']}** | {(r['drift_types'] or '–').replace(',', ', ')} "
                     f"| {num(r['psi'])} | {num(r['ks'])} | {ev_text} | {num(ev['score']) if ev else '–'} "
                     f"| {ev['method'] if ev else '–'} | {agree} |")
    return "\n".join(lines)


def run_report(warehouse: Warehouse, day: dt.date, window: tuple[dt.date, dt.date],
               expressions: dict[str, str], sample_size: int, baseline_version: int,
               homes: Homes | None = None, subject: Subject = CUSTOMER) -> EvidentlyResult:
    if sample_size < 1:
        raise ValueError(f"evidently sample_size={sample_size} must be positive")
    sql = sample_sql(expressions, sample_size, subject)
    current = warehouse.fetch_df(sql, [str(day), str(day)]).astype("float64")
    reference = warehouse.fetch_df(sql, [str(window[0]), str(window[1])]).astype("float64")
    result = EvidentlyResult(sample_rows=(len(current), len(reference)))
    # Evidently cannot score a column that is empty on either side; we report those as unknown.
    usable = [c for c in expressions if current[c].notna().any() and reference[c].notna().any()]
    if not usable or current.empty or reference.empty:
        result.error = "no rows to compare" if current.empty or reference.empty else "no usable columns"
        return result
    try:
        result.columns, html = _evidently(current[usable], reference[usable])
    except Exception as exc:  # a second opinion must not take the first one down
        result.error = f"Evidently failed: {type(exc).__name__}: {exc}"
        return result
    path = report_path(day, baseline_version, homes, subject)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    result.path = path
    return result


def _evidently(current, reference) -> tuple[dict[str, dict], str]:
    import tempfile

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(current.columns))
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),  # current first, then reference
        Dataset.from_pandas(reference, data_definition=definition),
    )
    report = snapshot.dict()
    scores, methods = {}, {}
    for metric in report["metrics"]:
        cfg = metric.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift"):
            scores[cfg["column"]] = float(metric["value"])
            methods[cfg["column"]] = cfg.get("method")
    columns = {}
    for test in report.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        column = params.get("column")
        if test.get("id") == "drift" and column in scores:
            columns[column] = {"drift": test["status"] == "FAIL", "score": scores[column],
                               "method": methods[column]}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        snapshot.save_html(str(out))
        return columns, out.read_text(encoding="utf-8")
