"""The benchmark plot names every row (legend, not colliding annotations) and fits every
point and every name inside the saved image."""

from __future__ import annotations

from pathlib import Path

import pytest

from recpref.benchmarking import RunResult, plot_results
from recpref.benchmarking.plot import MIN_SECONDS, results_figure

pytest.importorskip("matplotlib")


def _rows() -> list[RunResult]:
    # close together on purpose: the ml-100k table's slow rows lie within a few % of each other
    spec = [("MostPopular", 0.0, 0.17), ("Random", 0.0, 0.014), ("implicit BPR", 0.75, 0.297),
            ("recpref BPR-MF", 4.55, 0.3271), ("recpref BPO-MF", 4.77, 0.3267),
            ("recpref BPR-LightGCN with a long name", 22.9, 0.337), ("RecBole BPR", 21.8, 0.3365)]
    return [RunResult(n, "t", {"recall@20": v}, t, 0.01) for n, t, v in spec]


def test_recpref_benchmark_uses_this_plot() -> None:
    import recpref.benchmarking
    import recpref.benchmarking.plot

    assert recpref.benchmarking.plot_results is recpref.benchmarking.plot.plot_results


def test_every_row_is_named_once_in_the_legend() -> None:
    fig = results_figure(_rows())
    legend = fig.axes[0].get_legend()
    names = [t.get_text().rsplit(" (", 1)[0] for t in legend.get_texts()]
    assert names == [r.name for r in _rows()]
    assert not fig.axes[0].texts  # no annotations next to the points to collide


def test_points_and_names_fit_inside_the_figure() -> None:
    fig = results_figure(_rows())
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    for r in _rows():
        t = max(r.train_seconds, MIN_SECONDS)
        assert lo < t < hi and y0 < r.metrics["recall@20"] < y1
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 > ax.get_window_extent().x1  # beside the axes, over no point
    assert legend_box.x1 <= fig.bbox.x1 + 1  # not cut at the right edge


def test_failed_rows_are_left_out_and_png_written(tmp_path: Path) -> None:
    rows = [*_rows(), RunResult("broken", "t", {}, 1.0, 0.0, error="boom")]
    out = plot_results(rows, tmp_path / "sub" / "p.png")
    assert out.stat().st_size > 0
    fig = results_figure(rows)
    assert "broken" not in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
