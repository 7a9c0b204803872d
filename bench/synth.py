"""Synthetic feature snapshots and labels for the benchmarks, generated inside DuckDB.

Values are pure functions of (customer, day, feature, seed) through DuckDB's `hash`, so the same
parameters give the same rows on every run and thread count, without materialising anything in
Python. Count features are geometric-like integers; amount features log-normal doubles with ~5%
NULLs (features that can be empty: averages, stddev, min/max).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

START = dt.date(2024, 1, 1)
N_FEATURES = 13
_U = "((CAST(hash({args}) % 1000003 AS DOUBLE) + 0.5) / 1000003.0)"  # uniform (0, 1)


def features(n: int = N_FEATURES):
    """The first `n` trainable features of the shipped catalog (names and types are real)."""
    from feature_factory.catalog import load_catalog

    specs = [f for f in load_catalog().trainable() if f.computed][:n]
    if len(specs) < n:
        raise ValueError(f"the catalog has only {len(specs)} trainable features; the benchmark needs {n}")
    return specs


def uniform(*args: object) -> str:
    return _U.format(args=", ".join(str(a) for a in args))


def value_sql(spec, k: int, c: str, d: str, seed: int, shift: float = 0.0, scale: float = 1.0,
              null_rate: float = 0.05) -> str:
    """SQL for feature `k`'s value of customer expression `c` on day expression `d`."""
    u1, u2 = uniform(c, d, k, seed, 1), uniform(c, d, k, seed, 2)
    if spec.dtype.sql_type == "BIGINT":
        mean = (1 + k % 5) * scale * (1 + shift)
        return f"CAST(FLOOR(-LN({u1}) * {mean!r}) AS BIGINT)"
    normal = f"SQRT(-2 * LN({u1})) * COS(2 * PI() * {u2})"
    body = f"ROUND(EXP({2.0 + 0.3 * (k % 3) + shift!r} + {0.8 * scale!r} * {normal}), 2)"
    u3 = uniform(c, d, k, seed, 3)
    return f"CASE WHEN {u3} < {null_rate!r} THEN NULL ELSE {body} END"


def customer_id(c: str) -> str:
    return f"'C' || LPAD(CAST({c} AS VARCHAR), 7, '0')"


def cached(folder: Path, params: dict) -> bool:
    """True when `folder` already holds data built from exactly `params` (generation is slow)."""
    manifest = folder / "manifest.json"
    return manifest.exists() and json.loads(manifest.read_text()) == params


def mark_built(folder: Path, params: dict) -> None:
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(params, sort_keys=True))
    tmp.replace(folder / "manifest.json")
