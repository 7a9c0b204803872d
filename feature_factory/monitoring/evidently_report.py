"""An Evidently DataDriftPreset report on bounded samples, as a second opinion next to ours.

Reference: up to `sample_size` rows of the baseline window; current: up to `sample_size` rows of
the partition; both sampled in the warehouse (`ORDER BY RANDOM() LIMIT n`) and read through the
patch layer. The HTML goes under `$FEATURE_FACTORY_HOME/reports/`; the per-column verdicts
(drift detected, score, method) are returned for `drift_alerts`. A failure of the report never
fails the drift alerts: it is reported.

Evidently takes 4-10 s to import, more than a whole day's SQL. `EvidentlyReports` (the
`evidently` resource of drift_alerts) starts that import in a background thread when a run sets up
its resources, i.e. when the run starts: in the local deployment every step runs in that one
process, so the import overlaps ingestion and feature SQL (DuckDB releases the GIL while it works).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from feature_factory import settings
from feature_factory.monitoring.stats import FEATURES_TABLE
from feature_factory.warehouse.base import Warehouse


log = logging.getLogger(__name__)
# What a drift_alerts step imports lazily: Evidently, and matplotlib for the histogram images.
WARM_UP_MODULES = ("evidently", "evidently.presets", "matplotlib.pyplot")


class EvidentlyReports(dg.ConfigurableResource):
    """Evidently for drift_alerts, imported ahead of need (see the module docstring)."""

    warm_up: bool = Field(default=True, description="Start importing Evidently and matplotlib in a "
                          "background thread when a run starts, so drift_alerts does not wait for it.")
    _thread: threading.Thread | None = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        if self.warm_up and self._thread is None:
            self._thread = threading.Thread(target=_import_quietly, name="evidently-warm-up", daemon=True)
            self._thread.start()

    def ready(self) -> None:
        """Wait for the warm-up import (if any) before this thread imports the same modules:
        two threads importing one package in different orders could deadlock on module locks."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()


def _import_quietly() -> None:
    import importlib

    try:
        import matplotlib

        matplotlib.use("Agg")  # as presentation.histogram_png does: never a GUI backend
        for name in WARM_UP_MODULES:
            importlib.import_module(name)
    except Exception as exc:  # the step imports again and reports the real error there
        log.warning("warming up %s failed: %s", ", ".join(WARM_UP_MODULES), exc)


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
