"""Small landing files written by hand for the ingestion tests (not by the generator)."""

from __future__ import annotations

import datetime as dt

from feature_factory.events.contract import CONTRACT_COLUMNS

# Fixed "now" so 'in the future' does not depend on when the tests run.
NOW = dt.datetime(2024, 3, 1, 12, 0, 0)
START = dt.date(2024, 1, 1)
D1, D2, D3, D4 = (dt.date(2024, 1, d) for d in (1, 2, 3, 4))


def csv_text(rows: list[tuple], header: tuple[str, ...] = CONTRACT_COLUMNS) -> str:
    def cell(v):
        return "" if v is None else str(v)

    return "\n".join([",".join(header)] + [",".join(cell(v) for v in r) for r in rows]) + "\n"


def ev(event_id, day: int = 1, hour: int = 10, customer="c1", etype="purchase", channel="web", amount="10.0"):
    """One contract row on 2024-01-<day> at <hour>:00 UTC."""
    return (event_id, customer, etype, channel, amount, f"2024-01-{day:02d}T{hour:02d}:00:00Z")


def table(warehouse, name: str, columns: str, order: str = "source_file, source_row") -> list[tuple]:
    return warehouse.fetch_all(f"SELECT {columns} FROM {name} ORDER BY {order}")
