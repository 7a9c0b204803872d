"""The usage ledger (issue 30): who reads which feature, and which features no one reads; no Dagster.

Readers come from what the project records already: every registered model version (its
features, when it was registered, its status), every training set snapshot (its feature columns,
when it was taken) and every training set the catalog declares (its joined features). One row
per (feature, reader) goes to `feature_usage`, so "who reads X" is one query:

    SELECT reader_kind, reader, status, last_used FROM feature_usage WHERE feature = 'revenue_7d'

A catalog feature with no reader used within the last N days (a live model, champion or
challenger, always counts as used now) is a retirement candidate. Online reads come from the
feature server's read log (`serving/read_log.py`, flushed to `<home>/online_reads.sqlite`): one row
per feature and API key (`anonymous` on an open server), reader kind `online`, with the number of
reads and the last one, so a feature read online within N days is not a retirement candidate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from feature_factory import tables
from feature_factory.catalog.spec import FeatureSpec
from feature_factory.catalog.training_sets import TrainingSetSpec
from feature_factory.ml.registry import ModelRegistry
from feature_factory.ml.training_snapshots import list_snapshots
from feature_factory.serving.read_log import OnlineRead
from feature_factory.warehouse.base import Warehouse

TABLE = tables.FEATURE_USAGE.name
COLUMNS = tables.FEATURE_USAGE.names
LIVE = ("champion", "challenger")


@dataclass(frozen=True)
class Use:
    feature: str
    reader_kind: str  # model_version | training_snapshot | training_set | online
    reader: str  # online: the API key's name, or "anonymous"
    status: str  # the model's status, "snapshot", "declared" or "online"
    last_used: dt.datetime | None  # None: declared in the catalog (no time)
    reads: int | None = None  # online reads (answers that served the feature); None for other readers


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).replace(tzinfo=None)


def uses(registry: ModelRegistry | None, warehouse: Warehouse | None,
         training_sets: Sequence[TrainingSetSpec] = (), online: Sequence[OnlineRead] = ()) -> list[Use]:
    out = []
    for v in registry.versions() if registry is not None else []:
        out += [Use(f, "model_version", f"v{v.version} {v.model_type}", v.status, _when(v.created_at))
                for f in v.features]
    for s in list_snapshots(warehouse) if warehouse is not None else []:
        out += [Use(f, "training_snapshot", s.name, "snapshot", _when(s.created_at)) for f in s.features]
    for ts in training_sets:
        out += [Use(f, "training_set", ts.name, "declared", None) for j in ts.joins for f in j.features]
    out += [Use(r.feature, "online", r.reader, "online", r.last_read, r.reads) for r in online]
    return sorted(out, key=lambda u: (u.feature, u.reader_kind, u.reader))


def readers(all_uses: Sequence[Use], feature: str) -> list[Use]:
    """Who reads `feature` (the ledger's one query, in Python)."""
    return [u for u in all_uses if u.feature == feature]


def retirement_candidates(features: Sequence[FeatureSpec], all_uses: Sequence[Use], days: int,
                          now: dt.datetime) -> list[str]:
    """Features no reader used within `days` (a live model and a declared training set count as now)."""
    since = now - dt.timedelta(days=days)
    used = {u.feature for u in all_uses
            if u.status in LIVE or u.last_used is None or u.last_used >= since}
    return sorted(f.name for f in features if f.name not in used)


def write(warehouse: Warehouse, all_uses: Sequence[Use]) -> int:
    """Replace `feature_usage` with these rows (atomically)."""
    if not all_uses:
        select = ("SELECT CAST(NULL AS VARCHAR) AS feature, CAST(NULL AS VARCHAR) AS reader_kind, "
                  "CAST(NULL AS VARCHAR) AS reader, CAST(NULL AS VARCHAR) AS status, "
                  "CAST(NULL AS TIMESTAMP) AS last_used, CAST(NULL AS BIGINT) AS reads WHERE 1 = 0")
        return warehouse.replace_table(TABLE, select)
    staging = f"{TABLE}__rows"
    import pandas as pd

    frame = pd.DataFrame([[u.feature, u.reader_kind, u.reader, u.status,
                           None if u.last_used is None else u.last_used.isoformat(sep=" "), u.reads]
                          for u in all_uses],
                         columns=list(COLUMNS))
    warehouse.write_df(staging, frame.astype(object).where(frame.notna(), None), mode="replace")
    rows = warehouse.replace_table(TABLE, "SELECT feature, reader_kind, reader, status, "
                                          f"CAST(last_used AS TIMESTAMP) AS last_used, CAST(reads AS BIGINT) AS reads "
                                          f"FROM {staging}")
    warehouse.execute(f"DROP TABLE IF EXISTS {staging}")
    return rows
