"""The Dagster-free parts of the warehouse contract: the `Session` protocol (one open connection),
`WarehouseError`, `LandingRead` and `clean_row`. `warehouse.base` re-exports them beside the
`Warehouse` resource (a Dagster `ConfigurableResource`); a module that only receives a warehouse,
opens its sessions or catches its errors imports these (and `Warehouse` under TYPE_CHECKING) and
loads no Dagster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the message says which statement or table."""


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row from `fetch_df(...).to_dict("records")` with pandas' missing values (NaN, NaT, NA) as None."""
    return {k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v) for k, v in row.items()}


@dataclass(frozen=True)
class LandingRead:
    """Several landing files with the same columns, read by one SELECT (`sql`): `source_file` (the
    file's label), `source_row` BIGINT (1-based row number within its file), then every file column
    as VARCHAR under its lower-cased name (`columns`, in file order)."""

    labels: tuple[str, ...]
    columns: tuple[str, ...]
    sql: str


class Session(Protocol):
    """One open connection. Statements in `transaction()` commit together or not at all."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

    def fetch_all(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]: ...

    def fetch_one(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None: ...

    def fetch_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame: ...

    def transaction(self) -> Any: ...
