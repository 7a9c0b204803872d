"""Trend plots of the health report, rendered headless (Agg) to PNG for the asset's metadata:
each job's runtime per run with its Theil-Sen trend and budget, and each series' history
(rows per partition, warehouse size)."""

from __future__ import annotations

import datetime as dt
import io

from feature_factory.health.evaluate import HealthReport
from feature_factory.health.samples import Point
from feature_factory.monitoring.report.presentation import markdown_image

DAY = 86400.0


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6.4, 3.0), dpi=80)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _dates(points: list[Point]) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(p.at, tz=dt.timezone.utc) for p in points]


def runtime_plot(report: HealthReport) -> bytes | None:
    """Every job's successful runtimes, its fitted trend and its budget."""
    jobs = {k.split(":", 1)[1]: v for k, v in report.series.items() if k.startswith("job:") and v}
    if not jobs:
        return None
    fig, ax = _figure()
    for job, points in sorted(jobs.items()):
        (line,) = ax.plot(_dates(points), [p.value for p in points], ".-", lw=0.8, label=job.strip("_"))
        m = next((m for m in report.metrics if m.subject == job and m.metric == "runtime_s"), None)
        if m and m.trend_per_day is not None and len(points) >= 2:
            t0, t1 = points[0].at, points[-1].at
            fitted_end = m.p50 if m.p50 is not None else points[-1].value
            # the trend line through the median at the series' middle, with the fitted slope
            mid = (t0 + t1) / 2
            ys = [fitted_end + m.trend_per_day * (t - mid) / DAY for t in (t0, t1)]
            ax.plot(_dates([Point(t0, "", 0), Point(t1, "", 0)]), ys, "--", color=line.get_color(), lw=1)
    ax.set(ylabel="seconds", title="job runtime per run (dashed: Theil-Sen trend)")
    ax.legend(fontsize=7)
    return _png(fig)


def series_plot(points: list[Point], title: str, ylabel: str) -> bytes | None:
    if not points:
        return None
    fig, ax = _figure()
    ax.plot(_dates(points), [p.value for p in points], ".-", lw=0.8)
    ax.set(title=title, ylabel=ylabel)
    return _png(fig)


def plots_markdown(report: HealthReport) -> dict[str, str]:
    """Metadata key -> Markdown image, for the plots that have data."""
    out = {}
    png = runtime_plot(report)
    if png:
        out["runtime_trend"] = markdown_image(png, "job runtime per run")
    for key, points in sorted(report.series.items()):
        if key.startswith("rows:"):
            png = series_plot(points, f"{key[5:]}: rows per partition", "rows")
            out[f"volume_trend_{key[5:]}"] = markdown_image(png, f"{key[5:]} rows per partition")
        elif key == "size:warehouse":
            png = series_plot(points, "warehouse size", "bytes")
            out["size_trend"] = markdown_image(png, "warehouse size")
    return out
