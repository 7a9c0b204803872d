"""`Summary`: the bounded statistics of one feature over one day (a `feature_stats` row) or over a
baseline window (a `feature_stats_baseline` row). Everything drift needs, nothing that grows with
the data."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

QUANTILE_COLUMNS = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
                    "p99": 0.99}


@dataclass
class Summary:
    row_count: int
    value_count: int
    mean: float | None = None
    stddev: float | None = None
    kurtosis: float | None = None  # excess kurtosis (0 for a normal distribution)
    zero_rate: float | None = None
    min_value: float | None = None
    max_value: float | None = None
    quantiles: dict[str, float | None] = field(default_factory=dict)
    distinct_count: int | None = None
    out_of_range_count: int | None = None
    input_rows: int | None = None  # raw_events rows the feature aggregates (inputs.py)
    input_nulls: int | None = None
    baseline_input_null_rate: float | None = None  # baseline rows only
    above_range_count: int | None = None
    hist: list[float] | None = None
    grid: list[float] | None = None
    grid_rank_error: float = 0.0  # the sketch's DKW bound on the grid's ranks (feature_stats.py); 0 when exact
    # Baseline-only.
    edges: list[float] | None = None
    column_type: str | None = None
    days: int = 1
    out_of_range_share: float | None = None
    above_range_share: float | None = None
    noise: dict[str, float] = field(default_factory=dict)  # drift.baseline_noise

    @property
    def null_rate(self) -> float:
        return 1.0 - self.value_count / self.row_count if self.row_count else 0.0

    @property
    def input_null_rate(self) -> float | None:
        if self.baseline_input_null_rate is not None:
            return self.baseline_input_null_rate
        return self.input_nulls / self.input_rows if self.input_rows else None

    @property
    def rows_per_day(self) -> float:
        return self.row_count / max(self.days, 1)

    @property
    def effective_values(self) -> float:
        """Values of one typical day: the sample size to test against (see drift.py)."""
        return self.value_count / max(self.days, 1)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Summary":
        return cls(
            row_count=int(row["row_count"]),
            value_count=int(row["value_count"]),
            mean=_num(row.get("mean")),
            stddev=_num(row.get("stddev")),
            kurtosis=_num(row.get("kurtosis")),
            zero_rate=_num(row.get("zero_rate")),
            min_value=_num(row.get("min_value")),
            max_value=_num(row.get("max_value")),
            quantiles={k: _num(row.get(k)) for k in QUANTILE_COLUMNS},
            distinct_count=_int(row.get("distinct_count")),
            out_of_range_count=_int(row.get("out_of_range_count")),
            above_range_count=_int(row.get("above_range_count")),
            input_rows=_int(row.get("input_rows")),
            input_nulls=_int(row.get("input_nulls")),
            baseline_input_null_rate=_num(row.get("input_null_rate")),
            hist=parse_json_list(row.get("hist_counts")),
            grid=parse_json_list(row.get("quantile_grid")),
            grid_rank_error=_num(row.get("grid_rank_error")) or 0.0,
            edges=parse_json_list(row.get("bin_edges")),
            column_type=row.get("column_type"),
            days=_int(row.get("days")) or 1,
            out_of_range_share=_num(row.get("out_of_range_share")),
            above_range_share=_num(row.get("above_range_share")),
            noise=json.loads(row["noise_floor"]) if not _missing(row.get("noise_floor")) else {},
        )


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def parse_json_list(text: Any) -> list[float] | None:
    if _missing(text):
        return None
    values = json.loads(text)
    if not isinstance(values, list):
        raise ValueError(f"expected a JSON list, got {text[:80]!r}")
    return [float(v) if v is not None else math.nan for v in values]


def _num(v: Any) -> float | None:
    return None if _missing(v) else float(v)


def _int(v: Any) -> int | None:
    f = _num(v)
    return int(f) if f is not None else None
