"""Entry point of a benchmark child process: `python -m bench.child '<spec json>'`.

Imports the contender's module, runs it with a `Meter`, writes {"meter", "out"} as JSON for the
parent. A failure propagates (non-zero exit, traceback in the log), which the parent reports.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

from bench.harness import Meter


def guard_duckdb_spill(limit: str) -> None:
    """Cap what DuckDB may spill to its temp folder in this process, unless a caller set it: a
    runaway query then fails with a clear error instead of filling a shared disk. It changes
    nothing for a query that stays under the limit."""
    import duckdb

    connect = duckdb.connect

    def guarded(database=":memory:", read_only=False, config=None, **kwargs):
        config = dict(config or {})
        config.setdefault("max_temp_directory_size", limit)
        return connect(database, read_only=read_only, config=config, **kwargs)

    duckdb.connect = guarded


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    guard_duckdb_spill(os.environ.get("FF_BENCH_DUCKDB_SPILL_LIMIT", "20GB"))
    module_name, func_name = spec["target"].split(":")
    fn = getattr(importlib.import_module(module_name), func_name)
    meter = Meter()
    out = fn(spec["params"], meter) or {}
    path = Path(spec["result_path"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"meter": meter.as_dict(), "out": out}, default=str))
    tmp.replace(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
