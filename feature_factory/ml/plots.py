"""The six model plots, rendered headless (Agg) to PNG and embedded as Markdown data-URI images,
so they show in the Dagster UI's metadata panel without any file server."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import numpy as np

PLOT_NAMES = (
    "roc_curve",
    "precision_recall_curve",
    "confusion_matrices",
    "feature_importance",
    "calibration",
    "score_distribution",
)


def _figure(ncols: int = 1, width: float = 4.2):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 3.4), dpi=80, squeeze=False)
    return fig, axes[0]


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_plots(
    y_true: np.ndarray,
    scores: Mapping[str, np.ndarray],
    importances: Mapping[str, Mapping[str, float]],
    threshold: float = 0.5,
    base_rate: float | None = None,
) -> dict[str, bytes]:
    """PNG bytes per plot name, for every model's holdout `scores` (probability of churn);
    `base_rate` (the training churn rate) adds the constant predictor to the reliability plot."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, confusion_matrix, precision_recall_curve, roc_curve

    y_true = np.asarray(y_true).astype(int)
    out: dict[str, bytes] = {}

    fig, (ax,) = _figure()
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y_true, s)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "--", color="lightgrey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (out-of-time holdout)")
    ax.legend(fontsize=7)
    out["roc_curve"] = _png(fig)

    fig, (ax,) = _figure()
    for name, s in scores.items():
        prec, rec, _ = precision_recall_curve(y_true, s)
        ax.plot(rec, prec, label=name)
    ax.axhline(y_true.mean(), ls="--", color="lightgrey", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (out-of-time holdout)")
    ax.legend(fontsize=7)
    out["precision_recall_curve"] = _png(fig)

    fig, axes = _figure(ncols=len(scores), width=3.2)
    for ax, (name, s) in zip(axes, scores.items()):
        cm = confusion_matrix(y_true, (np.asarray(s) >= threshold).astype(int), labels=[0, 1])
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted churn", ylabel="actual churn",
               title=f"{name} @ {threshold:g}")
    out["confusion_matrices"] = _png(fig)

    fig, axes = _figure(ncols=len(importances), width=3.8)
    for ax, (name, imp) in zip(axes, importances.items()):
        items = sorted(imp.items(), key=lambda kv: kv[1])
        ax.barh([k for k, _ in items], [v for _, v in items])
        ax.set(title=f"{name} importance", xlabel="share")
        ax.tick_params(axis="y", labelsize=6)
    out["feature_importance"] = _png(fig)

    fig, (ax,) = _figure()
    for name, s in scores.items():
        frac_pos, mean_pred = calibration_curve(y_true, s, n_bins=10, strategy="quantile")
        brier = brier_score_loss(y_true, s)
        ax.plot(mean_pred, frac_pos, "o-", label=f"{name} (Brier {brier:.3f})", markersize=3)
    if base_rate is not None:
        constant = brier_score_loss(y_true, np.full(len(y_true), base_rate))
        ax.plot([base_rate], [y_true.mean()], "kx", markersize=8,
                label=f"constant {base_rate:.2f} (Brier {constant:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="lightgrey", label="perfectly calibrated")
    ax.set(xlabel="mean predicted probability", ylabel="observed churn rate",
           title="Reliability (holdout, quantile bins)")
    ax.legend(fontsize=7)
    out["calibration"] = _png(fig)

    fig, axes = _figure(ncols=len(scores), width=3.2)
    bins = np.linspace(0, 1, 21)
    for ax, (name, s) in zip(axes, scores.items()):
        s = np.asarray(s)
        ax.hist(s[y_true == 0], bins=bins, alpha=0.6, label="stayed")
        ax.hist(s[y_true == 1], bins=bins, alpha=0.6, label="churned")
        ax.set(title=f"{name} scores", xlabel="churn probability")
        ax.legend(fontsize=7)
    out["score_distribution"] = _png(fig)
    return out


def realized_auc_plot(perf) -> bytes:
    """Realized ROC AUC per scoring date, one line per model version (label: version and role)."""
    fig, (ax,) = _figure(width=6.0)
    for (version, role), g in perf.groupby(["model_version", "role"]):
        g = g.sort_values("scoring_date")
        ax.plot(g["scoring_date"], g["roc_auc"], "o-" if role == "champion" else "s--",
                label=f"v{version} ({role})", markersize=3)
    ax.set(xlabel="scoring date (features as of)", ylabel="realized ROC AUC",
           title="Realized ROC AUC once outcomes matured")
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.legend(fontsize=7)
    return _png(fig)


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
