"""Workload `staging`: the validated ingestion of landed files, the same events as CSV and as Parquet.

The project's generator writes `days` days of events for `customers` customers (one file a day) in
both formats. Each contender starts from an empty DuckDB warehouse and ingests every day as one
range (`events.ingestion.ingest_range`, the one ingestion path of every source), timed in two
phases: `stage` (`staging.sync_landing`:
reading, parsing and classifying every file into `landing_rows`) and `partitions` (the batch
statement with the duplicate checks, then `raw_events` and `quarantined_events` replaced).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from bench import synth


def _data(params: dict, fmt: str) -> Path:
    return Path(params["dir"]) / "data" / fmt


def generate(params: dict, meter) -> dict:
    """Landing files of both formats (reused when the parameters are unchanged)."""
    from feature_factory.synthetic.generator import GeneratorConfig, generate as run

    events = {}
    for fmt in ("csv", "parquet"):
        folder = _data(params, fmt)
        wanted = {k: params[k] for k in ("customers", "days", "seed")}
        if not synth.cached(folder, wanted):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            result = run(GeneratorConfig(customers=int(params["customers"]), days=int(params["days"]),
                                         start=synth.START, seed=int(params["seed"]), fmt=fmt,
                                         out_dir=folder / "landing", truth_dir=folder / "ground_truth"))
            (folder / "events.txt").write_text(str(result.total_events))
            synth.mark_built(folder, wanted)
        events[fmt] = int((folder / "events.txt").read_text())
    return {"events": events["csv"], "events_parquet": events["parquet"]}


def ingest(params: dict, meter) -> dict:
    from feature_factory.events import ingestion, staging
    from feature_factory.events.config import IngestionConfig
    from feature_factory.events.contract import events_source
    from feature_factory.warehouse import DuckDBWarehouse

    fmt = params["fmt"]
    home = Path(params["dir"]) / f"home_{fmt}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    warehouse = DuckDBWarehouse(path=str(home / "warehouse.duckdb"))
    config = IngestionConfig(landing_dir=str(_data(params, fmt) / "landing"))
    start, end = synth.START, synth.START + dt.timedelta(days=int(params["days"]))
    now = dt.datetime.combine(end, dt.time()) + dt.timedelta(days=1)
    with warehouse.held():
        with meter.measure("stage"):
            sync = staging.sync_landing(warehouse, staging.Run(ingestion.with_run_policy(events_source(), config), start, now), Path(config.landing_dir))
        with meter.measure("partitions"):  # the files are staged: only the partitions are written
            result = ingestion.ingest_range(warehouse, start, end, config, now=now, start_date=start)
    staged = sum(1 for f in sync.files if f.status == "staged")
    return {"rows_in": result.rows_read, "rows_out": result.rows_accepted, "files_staged": staged,
            "rows_quarantined": result.rows_quarantined}
