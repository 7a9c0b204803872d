"""What the generator knows and the pipeline must find out: each customer's segment, churn
propensity and churn date, and which drift was injected where. Written outside the landing folder
so it is never ingested.

    truth = load_ground_truth(settings.home() / "ground_truth")
    truth.customers        # pandas DataFrame, one row per customer
    truth.drift["injected"]["amount_shift"]["params"]["delta"]
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# default_truth_dir lives with the config that defaults to it (config must not import this module:
# that was an import circle); re-exported here, where readers of the ground truth look for it.
from feature_factory.synthetic.config import default_truth_dir  # noqa: F401

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from feature_factory.synthetic.config import GeneratorConfig
    from feature_factory.synthetic.population import Population

CUSTOMERS_FILE = "customers.parquet"
DRIFT_FILE = "drift.json"

# Catalog feature names (issue 3) each drift moves; lets monitoring tests say which features must
# alert without parsing feature SQL.
_AMOUNT_FEATURES = [
    "amount_stddev_7d", "avg_amount_nonzero_7d", "max_amount_7d", "min_amount_7d",
    "refund_amount_7d", "revenue_7d", "revenue_30d", "revenue_90d",
]
_CHANNEL_FEATURES = ["mobile_events_7d", "web_events_7d"]


@dataclass
class GroundTruth:
    customers: pd.DataFrame  # customer_id, segment, churn_propensity, churn_date, first_seen_date, ...
    drift: dict[str, Any]  # contents of drift.json


def load_ground_truth(truth_dir: str | Path) -> GroundTruth:
    import pandas as pd

    truth_dir = Path(truth_dir)
    missing = [f for f in (CUSTOMERS_FILE, DRIFT_FILE) if not (truth_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"ground truth folder {truth_dir} lacks {', '.join(missing)}; run `feature-factory generate`"
        )
    customers = pd.read_parquet(truth_dir / CUSTOMERS_FILE)
    return GroundTruth(customers, json.loads((truth_dir / DRIFT_FILE).read_text()))


def _dates(start: dt.date, day_index: np.ndarray, valid: np.ndarray):
    import numpy as np
    import pyarrow as pa

    days = np.datetime64(start.isoformat(), "D") + day_index.astype("timedelta64[D]")
    return pa.array(days, type=pa.date32(), mask=~valid)


def _drift_manifest(cfg: GeneratorConfig, baseline: dict[str, float]) -> dict[str, Any]:
    d = cfg.drift
    entries: dict[str, dict] = {}
    if d.amount_shift:
        delta = d.amount_shift * baseline["purchase_amount_std"]
        entries["amount_shift"] = dict(params={"std_multiple": d.amount_shift, "delta": round(delta, 4)},
                                       columns=["amount"], event_types=["purchase", "refund"],
                                       features=_AMOUNT_FEATURES)
    if d.outlier_rate:
        entries["outliers"] = dict(params={"rate": d.outlier_rate, "median_multiple": [20.0, 50.0]},
                                   columns=["amount"], event_types=["purchase"],
                                   features=_AMOUNT_FEATURES)
    if d.missing_amount_rate:
        entries["missing_amounts"] = dict(params={"rate": d.missing_amount_rate,
                                                  "base_rate": cfg.base_missing_amount_rate},
                                          columns=["amount"], event_types=["purchase", "refund"],
                                          features=_AMOUNT_FEATURES)
    if d.channel_shift:
        entries["channel_shift"] = dict(params={"mobile_share_delta": d.channel_shift},
                                        columns=["channel"], event_types=["browse", "purchase", "refund"],
                                        features=_CHANNEL_FEATURES)
    if d.schema_change:
        from feature_factory.synthetic import output as out

        params, columns, features = {"variant": d.schema_change}, ["amount"], _AMOUNT_FEATURES
        if d.schema_change == "extra_column":
            params.update(column=out.EXTRA_COLUMN[0], value=out.EXTRA_COLUMN[1])
            columns, features = [out.EXTRA_COLUMN[0]], []
        elif d.schema_change == "rename_column":
            params.update(column=out.RENAMED_COLUMN[0], renamed_to=out.RENAMED_COLUMN[1])
        elif d.schema_change == "retype_column":
            params.update(column="amount", written_as="text like '12.50 USD'")
        else:
            params.update(column="event_ts", written_as="epoch seconds (integer)")
            columns, features = ["event_ts"], []  # every feature's day assignment depends on it
        entries["schema_change"] = dict(params=params, columns=columns,
                                        event_types=["browse", "purchase", "refund"], features=features)
    for entry in entries.values():
        entry["start"] = d.start.isoformat()
        if d.end is not None:
            entry["end"] = d.end.isoformat()
    if d.outlier_spread and "outliers" in entries:
        entries["outliers"]["params"]["spread"] = True
    for kind in ("outliers", "missing_amounts", "schema_change"):
        if d.only_part is not None and kind in entries:
            entries[kind]["only_part"] = d.only_part
    return {
        "drift_start": d.start.isoformat() if d.start else None,
        "injected": entries,
        "baseline": baseline,
        "generator": {**cfg.settings_record(), "end": cfg.end.isoformat(),
                      "append_days": cfg.append_days, "last_day": cfg.last_day.isoformat()},
    }


def write_ground_truth(cfg: GeneratorConfig, pop: Population, first_event_day: np.ndarray,
                       baseline: dict[str, float]) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from feature_factory.synthetic.output import customer_ids
    from feature_factory.synthetic.population import NO_CHURN, SEGMENT_NAMES

    churned = pop.churn_day != NO_CHURN
    table = pa.table({
        "customer_id": customer_ids(len(pop)),
        "segment": pa.DictionaryArray.from_arrays(pa.array(pop.segment), pa.array(SEGMENT_NAMES))
        .cast(pa.string()),
        "churn_propensity": pa.array(pop.propensity),
        "churn_date": _dates(cfg.start, np.where(churned, pop.churn_day, 0), churned),
        "first_seen_date": _dates(cfg.start, np.maximum(first_event_day, 0), first_event_day >= 0),
        # null: already a customer when generation started
        "signup_date": _dates(cfg.start, np.maximum(pop.signup_day, 0), pop.signup_day >= 0),
        "fade_start_date": _dates(cfg.start, np.where(churned, pop.churn_day - pop.fade_days, 0), churned),
        "expected_purchases_per_day": pa.array(pop.purchase_rate),
        "basket_median": pa.array(np.exp(pop.log_median)),
    })
    cfg.truth_dir.mkdir(parents=True, exist_ok=True)
    tmp = cfg.truth_dir / f".{CUSTOMERS_FILE}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, cfg.truth_dir / CUSTOMERS_FILE)
    tmp = cfg.truth_dir / f".{DRIFT_FILE}.tmp"
    tmp.write_text(json.dumps(_drift_manifest(cfg, baseline), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, cfg.truth_dir / DRIFT_FILE)
