"""An Evidently DataDriftPreset report on bounded samples, as a second opinion next to ours.

Reference: up to `sample_size` rows of the baseline window; current: up to `sample_size` rows of
the partition; both sampled in the warehouse (`ORDER BY RANDOM() LIMIT n`) and read through the
patch layer. The HTML goes under `$FEATURE_FACTORY_HOME/reports/`; the per-column verdicts
(drift detected, score, method) are returned for `drift_alerts`. A failure of the report never
fails the drift alerts: it is reported.

Evidently is imported lazily: 4-10 s, more than a whole day's SQL. (Importing it in a background
thread from the start of the run was measured and gained nothing on 2 cores: the import holds the
GIL and slowed the ingestion step by as much as it saved.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from feature_factory import settings
from feature_factory.monitoring.stats import FEATURES_TABLE
from feature_factory.warehouse.base import Warehouse


@dataclass
class EvidentlyResult:
    path: Path | None = None
    columns: dict[str, dict] = field(default_factory=dict)  # feature -> {drift, score, method}
    error: str | None = None
    sample_rows: tuple[int, int] = (0, 0)  # (current, reference)


def sample_sql(expressions: dict[str, str], n: int) -> str:
    cols = ", ".join(f"{expr} AS {name}" for name, expr in expressions.items())
    return (f"SELECT {cols} FROM {FEATURES_TABLE} WHERE snapshot_date BETWEEN CAST(? AS DATE) "
            f"AND CAST(? AS DATE) ORDER BY RANDOM() LIMIT {int(n)}")


def run_report(warehouse: Warehouse, day: dt.date, window: tuple[dt.date, dt.date],
               expressions: dict[str, str], sample_size: int, baseline_version: int) -> EvidentlyResult:
    if sample_size < 1:
        raise ValueError(f"evidently sample_size={sample_size} must be positive")
    sql = sample_sql(expressions, sample_size)
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
    path = settings.artifacts_dir("reports") / f"drift_{day}_baseline_v{baseline_version}.html"
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
