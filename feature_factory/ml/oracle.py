"""The oracle: the generator knows each customer's true churn propensity, so scoring the holdout
with it shows how much signal there is to find, and how close the models get."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from feature_factory import settings


def truth_path() -> Path:
    return settings.home() / "ground_truth" / "customers.parquet"


@dataclass(frozen=True)
class Oracle:
    roc_auc: float
    scores: np.ndarray  # propensity per holdout row (NaN where the customer is unknown)
    matched: int
    unmatched: int


def oracle_on_holdout(holdout: pd.DataFrame, path: str | Path | None = None) -> Oracle | None:
    """ROC AUC of `churn_propensity` on the holdout's labels; None when there is no ground truth
    (real data) or it covers too few holdout rows to score."""
    from sklearn.metrics import roc_auc_score

    path = Path(path) if path else truth_path()
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["customer_id", "churn_propensity"])
    prop = holdout["customer_id"].astype(str).map(
        truth.assign(customer_id=truth["customer_id"].astype(str)).set_index("customer_id")["churn_propensity"]
    )
    known = prop.notna().to_numpy()
    y = holdout["churned"].to_numpy().astype(int)
    if known.sum() < 2 or len(np.unique(y[known])) < 2:
        return None
    auc = float(roc_auc_score(y[known], prop.to_numpy()[known]))
    return Oracle(auc, prop.to_numpy(dtype=float), int(known.sum()), int((~known).sum()))
