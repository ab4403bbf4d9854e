"""The benchmark plot: a metric against train time, one point per row, named in a legend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recpref.benchmarking.base import RunResult

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
MIN_SECONDS = 1e-3  # rows faster than this (baselines: 0.00 s) are drawn at it on the log axis


def results_figure(results: Sequence[RunResult], metric: str = "recall@20", title: str = "") -> Any:
    """A matplotlib Figure: ``metric`` against train time (log scale). Each row gets its own
    colour and marker and is named in a legend outside the axes (names next to the points
    collide when rows lie close together), and the axis limits leave room around every point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r.error is None and metric in r.metrics]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    cmap = plt.get_cmap("tab10" if len(ok) <= 10 else "tab20")
    for n, r in enumerate(ok):
        t = max(r.train_seconds, MIN_SECONDS)
        ax.scatter([t], [r.metrics[metric]], s=50, color=cmap(n % cmap.N), marker=_MARKERS[n % len(_MARKERS)],
                   edgecolors="black", linewidths=0.5, label=f"{r.name} ({r.train_seconds:.2f} s)", zorder=3)
    if ok:
        times = [max(r.train_seconds, MIN_SECONDS) for r in ok]
        values = [r.metrics[metric] for r in ok]
        ax.set_xlim(min(times) / 2, max(times) * 2)
        pad = 0.08 * (max(values) - min(values) or abs(max(values)) or 1.0)
        ax.set_ylim(min(values) - pad, max(values) + pad)
    ax.set_xscale("log")
    ax.set_xlabel(f"train time, seconds (log scale; under {MIN_SECONDS:g} s drawn at {MIN_SECONDS:g})")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} vs train time")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False, borderaxespad=0.0)
    fig.tight_layout()
    return fig


def plot_results(results: Sequence[RunResult], path: str | Path, metric: str = "recall@20",
                 title: str = "") -> Path:
    """Write `results_figure` as a PNG to ``path``; returns the path."""
    import matplotlib.pyplot as plt

    fig = results_figure(results, metric, title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
