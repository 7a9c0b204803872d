"""Turn one simulated day into landing files: contract columns (or a drifted schema), written
atomically, unchanged files left untouched, stale files of the same day removed."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

LANDING_COLUMNS = ("event_id", "customer_id", "event_type", "channel", "amount", "event_ts")
EXTRA_COLUMN = ("currency", "USD")
RENAMED_COLUMN = ("amount", "amount_usd")
RETYPED_AMOUNT_SUFFIX = " USD"
_FILE_NAME = re.compile(r"^events_(\d{4}-\d{2}-\d{2})(_part\d+)?\.(csv|parquet)$")
_CSV_OPTIONS = pa_csv.WriteOptions(quoting_style="none", quoting_header="none")


def customer_ids(count: int) -> pa.Array:
    """C0000001, C0000002, ... in population order (built once; each day only gathers them)."""
    width = max(7, len(str(count)))
    digits = pc.utf8_lpad(pa.array(np.arange(1, count + 1)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar("C"), digits, "")


def _amount_text(cents: np.ndarray, missing: np.ndarray, suffix: str = "") -> pa.Array:
    """Cents as exact two-decimal text ("12.50"), blank when missing; float printing would give
    "12.5" or "12.499999" depending on the value."""
    whole = pa.array(cents // 100).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0")
    text = pc.binary_join_element_wise(whole, frac, ".")
    if suffix:
        text = pc.binary_join_element_wise(text, pa.scalar(suffix), "")
    return pc.if_else(pa.array(missing), pa.nulls(len(cents), pa.string()), text)


def day_table(events: dict[str, np.ndarray], day: dt.date, ids: pa.Array, fmt: str,
              schema_change: str | None) -> pa.Table:
    """One day's events in landing form; `schema_change` (from the drift config) alters columns."""
    n = len(events["etype"])
    stamp = day.strftime("%Y%m%d")
    seq = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), 7, "0")
    event_id = pc.binary_join_element_wise(pa.scalar(f"E{stamp}-"), seq, "")
    epoch = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) + events["seconds"]
    if schema_change == "retype_timestamp":
        event_ts = pa.array(epoch.astype(np.int64))
    else:
        event_ts = pc.strftime(pa.array(epoch.astype("datetime64[s]")), format="%Y-%m-%dT%H:%M:%SZ")
    if schema_change == "retype_column":
        amount = _amount_text(events["cents"], events["missing"], RETYPED_AMOUNT_SUFFIX)
    elif fmt == "csv":
        amount = _amount_text(events["cents"], events["missing"])
    else:
        amount = pa.array(events["cents"] / 100.0, mask=events["missing"])
    columns = {
        "event_id": event_id,
        "customer_id": ids.take(pa.array(events["customer"])),
        "event_type": pa.DictionaryArray.from_arrays(
            pa.array(events["etype"]), pa.array(["purchase", "browse", "refund"])
        ).cast(pa.string()),
        "channel": pa.DictionaryArray.from_arrays(
            pa.array(events["mobile"].astype(np.int8)), pa.array(["web", "mobile"])
        ).cast(pa.string()),
        "amount": amount,
        "event_ts": event_ts,
    }
    if schema_change == "rename_column":
        columns = {RENAMED_COLUMN[1] if k == RENAMED_COLUMN[0] else k: v for k, v in columns.items()}
    if schema_change == "extra_column":
        columns[EXTRA_COLUMN[0]] = pa.array([EXTRA_COLUMN[1]] * n, type=pa.string())
    return pa.table(columns)


def _encode(table: pa.Table, fmt: str) -> bytes:
    sink = pa.BufferOutputStream()
    if fmt == "csv":
        pa_csv.write_csv(table, sink, _CSV_OPTIONS)
    else:
        pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Atomic replace, skipped when the bytes are already there (keeps mtime, so a landing-folder
    sensor does not see a rerun with the same seed as new data)."""
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    tmp = path.with_name(f".{path.name}.tmp")  # dot-prefixed: never matches an ingestion glob
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def file_names(day: dt.date, fmt: str, files_per_day: int) -> list[str]:
    if files_per_day == 1:
        return [f"events_{day.isoformat()}.{fmt}"]
    return [f"events_{day.isoformat()}_part{i:03d}.{fmt}" for i in range(1, files_per_day + 1)]


def split_bounds(rows: int, files_per_day: int) -> np.ndarray:
    return np.linspace(0, rows, files_per_day + 1).round().astype(int)


def write_day(table: pa.Table, day: dt.date, out_dir: Path, fmt: str, files_per_day: int,
              override: tuple[int, pa.Table] | None = None) -> tuple[list[Path], int]:
    """Split the day into `files_per_day` consecutive chunks; an empty chunk gets no file (an empty
    landing file is a malformed file to ingestion). `override` = (file number from 1, table): that
    file's rows come from the other table (the same rows with a drifted schema). Returns (files,
    how many changed)."""
    names = file_names(day, fmt, files_per_day)
    bounds = split_bounds(table.num_rows, files_per_day)
    written, changed = [], 0
    for i, (name, lo, hi) in enumerate(zip(names, bounds[:-1], bounds[1:]), start=1):
        if hi > lo:
            path = out_dir / name
            source = override[1] if override and override[0] == i else table
            changed += _write_if_changed(path, _encode(source.slice(lo, hi - lo), fmt))
            written.append(path)
    keep = {p.name for p in written}
    for stale in out_dir.glob(f"events_{day.isoformat()}*"):
        match = _FILE_NAME.match(stale.name)
        if match and match.group(1) == day.isoformat() and stale.name not in keep:
            stale.unlink()  # from an earlier run with another format or split: would double-count
    return written, changed
