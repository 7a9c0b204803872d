"""Generator configuration: what to generate and which drift to inject from when.

Cheap to import (no numpy), so the CLI can validate arguments before loading the heavy parts.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("csv", "parquet")
SCHEMA_CHANGES = ("extra_column", "rename_column", "retype_column", "retype_timestamp")


def default_truth_dir(landing: Path) -> Path:
    """`$FEATURE_FACTORY_HOME/ground_truth` for the default `<home>/landing/events`, i.e. beside the
    `landing` folder; for any other landing folder, a `ground_truth` folder next to it."""
    landing = Path(landing).resolve()
    root = landing.parent if landing.parent.name == "landing" else landing
    return root.parent / "ground_truth"


@dataclass(frozen=True)
class DriftConfig:
    """Drift injected from `start` (inclusive); each option is independent and off by default."""

    start: dt.date | None = None
    amount_shift: float = 0.0  # + this many baseline purchase-amount stds (floored at 0)
    outlier_rate: float = 0.0  # share of purchase rows replaced by 20-50x the baseline median
    missing_amount_rate: float = 0.0  # extra share of purchase/refund rows with a blank amount
    channel_shift: float = 0.0  # added to every event's mobile probability (capped to [0, 1])
    schema_change: str | None = None  # one of SCHEMA_CHANGES
    end: dt.date | None = None  # last drifted day (inclusive); None: to the end (a one-day incident: end = start)
    outlier_spread: bool = False  # outliers at random purchases over the day, not one consecutive burst
    only_part: int | None = None  # outliers / missing amounts / schema change only in this landing file of a day (1-based)

    def __post_init__(self):
        if isinstance(self.start, str):
            object.__setattr__(self, "start", _parse_date("drift start", self.start))
        if isinstance(self.end, str):
            object.__setattr__(self, "end", _parse_date("drift end", self.end))
        if self.end is not None and (self.start is None or self.end < self.start):
            raise ValueError(f"drift end {self.end} must be on or after the drift start {self.start}")
        if self.only_part is not None and (not isinstance(self.only_part, int) or self.only_part < 1):
            raise ValueError(f"drift only_part={self.only_part!r} must be a landing file number >= 1")
        for name in ("outlier_rate", "missing_amount_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"drift {name}={getattr(self, name)!r} must be between 0 and 1")
        if not -1.0 <= self.channel_shift <= 1.0:
            raise ValueError(f"drift channel_shift={self.channel_shift!r} must be between -1 and 1")
        if not math.isfinite(self.amount_shift):
            raise ValueError(f"drift amount_shift={self.amount_shift!r} must be a finite number")
        if self.schema_change is not None and self.schema_change not in SCHEMA_CHANGES:
            raise ValueError(
                f"drift schema_change={self.schema_change!r}; expected one of {SCHEMA_CHANGES}"
            )
        if self.kinds() and self.start is None:
            raise ValueError(f"drift {', '.join(self.kinds())} needs a start date (--drift-start)")

    def kinds(self) -> list[str]:
        """The drift kinds switched on, sorted."""
        on = {
            "amount_shift": self.amount_shift != 0.0,
            "channel_shift": self.channel_shift != 0.0,
            "missing_amounts": self.missing_amount_rate > 0.0,
            "outliers": self.outlier_rate > 0.0,
            "schema_change": self.schema_change is not None,
        }
        return sorted(k for k, v in on.items() if v)

    def active_on(self, day: dt.date) -> bool:
        return self.start is not None and day >= self.start and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class GeneratorConfig:
    customers: int = 2000  # active at the start; churners are replaced by newcomers
    days: int = 90
    start: dt.date = dt.date(2024, 1, 1)
    seed: int = 7
    fmt: str = "csv"
    out_dir: Path = Path("landing")
    truth_dir: Path | None = None  # default: default_truth_dir(out_dir)
    files_per_day: int = 1
    drift: DriftConfig = field(default_factory=DriftConfig)
    base_missing_amount_rate: float = 0.005  # real feeds lose a few amounts even without drift
    replace_churners: bool = True
    # Days after the `days` horizon to land, of the same population (built for `days`): only their
    # files are written, so the files of an earlier run with the same settings stay as they are.
    append_days: int = 0

    def __post_init__(self):
        if isinstance(self.start, str):
            object.__setattr__(self, "start", _parse_date("start", self.start))
        object.__setattr__(self, "out_dir", Path(self.out_dir).resolve())
        truth = default_truth_dir(self.out_dir) if self.truth_dir is None else self.truth_dir
        object.__setattr__(self, "truth_dir", Path(truth).resolve())
        for name in ("customers", "days", "files_per_day"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"generator {name}={value!r} must be a positive integer")
        if not isinstance(self.append_days, int) or self.append_days < 0:
            raise ValueError(f"generator append_days={self.append_days!r} must be a whole number >= 0")
        if self.fmt not in FORMATS:
            raise ValueError(f"generator fmt={self.fmt!r}; expected one of {FORMATS}")
        if not 0.0 <= self.base_missing_amount_rate <= 1.0:
            raise ValueError(
                f"base_missing_amount_rate={self.base_missing_amount_rate!r} must be between 0 and 1"
            )
        if self.truth_dir == self.out_dir or self.out_dir in self.truth_dir.parents:
            raise ValueError(
                f"ground truth folder {self.truth_dir} is inside the landing folder {self.out_dir};"
                " it would be ingested as events"
            )
        if self.drift.only_part is not None and self.drift.only_part > self.files_per_day:
            raise ValueError(f"drift only_part={self.drift.only_part} but files_per_day={self.files_per_day}: "
                             "there is no such landing file in a day")
        if self.drift.start is not None and not self.start <= self.drift.start <= self.last_day:
            raise ValueError(
                f"drift start {self.drift.start} is outside the generated days {self.start}..{self.last_day}"
            )

    @property
    def end(self) -> dt.date:
        """The population's horizon: the last of the `days` days."""
        return self.start + dt.timedelta(days=self.days - 1)

    @property
    def last_day(self) -> dt.date:
        """The last day landed: `end` plus the appended days."""
        return self.end + dt.timedelta(days=self.append_days)

    def settings_record(self) -> dict:
        """What decides the population and its files (kept in the ground truth, so an append can
        check it continues the same data)."""
        return {"customers": self.customers, "days": self.days, "start": self.start.isoformat(),
                "seed": self.seed, "format": self.fmt, "files_per_day": self.files_per_day}


def _parse_date(what: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{what} {value!r} is not a date in YYYY-MM-DD form") from exc
