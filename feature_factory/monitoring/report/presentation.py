"""What a user sees in the UI for a drift partition: the Markdown drift table and a
baseline-vs-current histogram image per drifted feature (PNG as a data URI, renders in Dagster)."""

from __future__ import annotations

import base64
import io
import math

from feature_factory.monitoring.detection.drift import FeatureDrift
from feature_factory.monitoring.statistics.summary import Summary


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}"


def drift_table_markdown(results: list[FeatureDrift], evidently: dict[str, dict] | None = None) -> str:
    """One line per feature, worst first. Evidently's verdicts are a column only when given:
    drift_alerts lands before drift_report runs Evidently, so its table points there instead of
    showing a column of dashes."""
    header = ("| feature | severity | drift types | PSI | KS | mean shift (σ) | std ratio | null Δ "
              "| out of range |" + (" Evidently |" if evidently is not None else "")
              + "\n|---|---|---|---|---|---|---|---|---|" + ("---|" if evidently is not None else ""))
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
            f"| {_fmt(m.get('null_rate_delta'))} | {_fmt(m.get('out_of_range_share'))} |"
            + (f" {ev_text} |" if evidently is not None else "")
        )
    if evidently is None:
        lines.append("\nEvidently's verdict per feature: `drift_report`'s drift_table for this day "
                     "(it runs after these alerts land).")
    return "\n".join(lines)


def tail_shares(baseline: Summary, current: Summary | None) -> dict[str, tuple[float, float]]:
    """Share of values below the baseline's p01 and above its p99: (baseline, current). A shift
    confined to the tails (an outlier burst) moves these while the decile bins look the same."""
    base_out, base_above = baseline.out_of_range_share or 0.0, baseline.above_range_share or 0.0
    cur_out = cur_above = 0.0
    if current is not None and current.value_count:
        cur_out = (current.out_of_range_count or 0) / current.value_count
        cur_above = (current.above_range_count or 0) / current.value_count
    return {"< p01": (max(base_out - base_above, 0.0), max(cur_out - cur_above, 0.0)),
            "> p99": (base_above, cur_above)}


def histogram_png(feature: str, baseline: Summary, current: Summary | None, title: str = "") -> bytes:
    """Bin shares over the baseline's frozen bins (left) and the tails beyond its p01/p99 (right),
    baseline vs current; the quantiles that moved under the title."""
    import textwrap

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
    fig, (ax, tail_ax) = plt.subplots(1, 2, figsize=(8, 3.6), dpi=80, gridspec_kw={"width_ratios": [4, 1]})
    ax.bar(x - 0.2, base, width=0.4, label="baseline", color="#7a8ca3")
    ax.bar(x + 0.2, cur, width=0.4, label="current", color="#d9534f")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("share of values")
    ax.legend(fontsize=7)
    tails = tail_shares(baseline, current)
    tx = np.arange(len(tails))
    tail_ax.bar(tx - 0.2, [b for b, _ in tails.values()], width=0.4, color="#7a8ca3")
    tail_ax.bar(tx + 0.2, [c for _, c in tails.values()], width=0.4, color="#d9534f")
    tail_ax.set_xticks(tx, list(tails), fontsize=7)
    tail_ax.set_title("tails (baseline p01/p99)", fontsize=7)
    tail_ax.tick_params(axis="y", labelsize=7)
    # The title wraps instead of running off the image; the quantiles say what moved.
    fig.suptitle(textwrap.fill(title or feature, 80), fontsize=9)
    ax.set_title(quantile_line(baseline, current), fontsize=7)
    fig.tight_layout()
    # tight_layout leaves a placeholder layout engine, for which savefig draws the whole figure once
    # more before the real draw (~20% of a PNG's CPU); the axes are placed already: same bytes.
    fig.set_layout_engine(None)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def quantile_line(baseline: Summary, current: Summary | None) -> str:
    """`p01 0.5 → 0.5 · p50 12 → 13 · p99 80 → 310`: baseline → current."""
    from feature_factory.markdown import fmt

    cur = current.quantiles if current else {}
    return " · ".join(f"{q} {fmt(baseline.quantiles.get(q), 3)} → {fmt(cur.get(q), 3)}"
                      for q in ("p01", "p50", "p99"))


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    fmt = lambda v: f"{v:.4g}"  # noqa: E731
    labels = [f"≤ {fmt(edges[0])}"]
    labels += [f"({fmt(a)}, {fmt(b)}]" for a, b in zip(edges, edges[1:])]
    return labels + [f"> {fmt(edges[-1])}"]
