"""Outputs: the terminal table, results.json and the latency-vs-history chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.results import Result


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def table(results: Sequence[Result]) -> str:
    header = ("scenario", "median ms", "p95 ms", "baseline ms", "ratio", "target", "result", "note")
    rows = [
        (
            r.title,
            _ms(r.median),
            _ms(r.p95),
            _ms(r.baseline_median),
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
            "-" if r.target is None else r.target.text(),
            {True: "PASS", False: "FAIL", None: "info"}[r.passed],
            r.note,
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    right = {1, 2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            (str(c).rjust(w) if i in right else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    baselines = [f"  {r.title}: baseline = {r.baseline_title}" for r in results if r.baseline_title]
    return "\n".join(
        [line(header), line(["-" * w for w in widths]), *map(line, rows), "", "Baselines:", *baselines]
    )


def write_json(path: Path, meta: dict[str, Any], results: Sequence[Result], series: dict[str, Any]) -> None:
    document = {
        "meta": meta,
        "scenarios": [r.as_json() for r in results],
        "series": {
            line: {
                str(size): {k: round(v, 4) for k, v in point.items()}
                for size, point in sorted(points.items())
            }
            for line, points in series.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


_STYLE = {
    "evaluate (naive recompute)": {"color": "#c0392b", "marker": "s", "linestyle": "--"},
    "evaluate (snapshot)": {"color": "#1f6fb2", "marker": "o", "linestyle": "-"},
    "stats on read (one SQL function)": {"color": "#e67e22", "marker": "D", "linestyle": "--"},
    "get_stats handler (warm)": {"color": "#2e8b57", "marker": "^", "linestyle": "-"},
    "our stats read (SQL)": {"color": "#8e44ad", "marker": "v", "linestyle": "-"},
    "primary-key lookup": {"color": "#888888", "marker": ".", "linestyle": ":"},
}
_BANDS = ("evaluate (naive recompute)", "evaluate (snapshot)")  # p95 bands; more would hide the lines


def chart(path: Path, series: dict[str, dict[int, dict[str, float]]], subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    for name in _STYLE:
        points = series.get(name)
        if not points:
            continue
        sizes = sorted(points)
        medians = [points[s]["median_ms"] for s in sizes]
        p95s = [points[s]["p95_ms"] for s in sizes]
        style = _STYLE[name]
        axes.plot(sizes, medians, label=name, linewidth=2, markersize=6, **style)
        if name in _BANDS:
            axes.fill_between(sizes, medians, p95s, color=style["color"], alpha=0.12, linewidth=0)
    ours, naive = series.get("evaluate (snapshot)"), series.get("evaluate (naive recompute)")
    if ours and naive:
        largest = max(set(ours) & set(naive))
        speedup = naive[largest]["median_ms"] / ours[largest]["median_ms"]
        axes.annotate(
            f"evaluate: {speedup:.0f}x faster than naive at {largest:,}",
            xy=(largest, ours[largest]["median_ms"]),
            xytext=(0.5, 0.2),
            textcoords="axes fraction",
            fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#bbbbbb"},
            arrowprops={"arrowstyle": "->", "color": "#555555"},
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    axes.set_xlabel("approved activities in the mentor's history (log)")
    axes.set_ylabel("latency per call, ms (log)")
    axes.set_title("Latency vs history: trigger-kept snapshot vs naive recompute", fontsize=11)
    figure.text(0.5, 0.01, subtitle, ha="center", fontsize=8, color="#555555")
    axes.grid(True, which="major", alpha=0.3)
    axes.grid(True, which="minor", alpha=0.1)
    axes.legend(fontsize=8, loc="upper left", title="median; shaded up to p95", title_fontsize=8)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
