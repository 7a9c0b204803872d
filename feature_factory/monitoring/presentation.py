"""What a user sees in the UI for a drift partition: the Markdown drift table and a
baseline-vs-current histogram image per drifted feature (PNG as a data URI, renders in Dagster)."""

from __future__ import annotations

import base64
import io
import math

from feature_factory.monitoring.drift import FeatureDrift
from feature_factory.monitoring.summary import Summary


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}"


def drift_table_markdown(results: list[FeatureDrift], evidently: dict[str, dict] | None = None) -> str:
    """One line per feature, worst first."""
    header = ("| feature | severity | drift types | PSI | KS | mean shift (σ) | std ratio | null Δ "
              "| out of range | Evidently |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [header]
    for r in sorted(results, key=lambda r: (-r.severity_rank, r.feature)):
        m = r.metrics
        ev = (evidently or {}).get(r.feature)
        ev_text = "–" if not ev else f"{'drift' if ev['drift'] else 'ok'} ({_fmt(ev['score'])})"
        types = r.drift_types.replace(",", ", ") or "–"
        if r.note:
            types += f" ({r.note})"
        lines.append(
            f"| {r.feature} | **{r.severity}** | {types} | {_fmt(m.get('psi'))} | {_fmt(m.get('ks'))} "
            f"| {_fmt(m.get('mean_shift_std'), 2)} | {_fmt(m.get('std_ratio'), 2)} "
            f"| {_fmt(m.get('null_rate_delta'))} | {_fmt(m.get('out_of_range_share'))} | {ev_text} |"
        )
    return "\n".join(lines)


def histogram_png(feature: str, baseline: Summary, current: Summary | None, title: str = "") -> bytes:
    """Side-by-side bin shares over the baseline's frozen bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    edges = baseline.edges or []
    labels = _bin_labels(edges)
    base = np.asarray(baseline.hist or [0] * len(labels), dtype=float)
    cur = np.asarray(current.hist if current and current.hist else [0] * len(labels), dtype=float)
    base, cur = base / max(base.sum(), 1), cur / max(cur.sum(), 1)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=80)
    ax.bar(x - 0.2, base, width=0.4, label="baseline", color="#7a8ca3")
    ax.bar(x + 0.2, cur, width=0.4, label="current", color="#d9534f")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("share of values")
    ax.set_title(title or feature, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    fmt = lambda v: f"{v:.4g}"  # noqa: E731
    labels = [f"≤ {fmt(edges[0])}"]
    labels += [f"({fmt(a)}, {fmt(b)}]" for a, b in zip(edges, edges[1:])]
    return labels + [f"> {fmt(edges[-1])}"]
