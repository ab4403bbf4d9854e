"""Benchmark harness: runners (recpref, baselines, peers) measured by one evaluator.

The row names (`RUNNERS`) import without torch; the harness loads on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recpref.benchmarking.registry import RUNNERS, RunnerSpec, build_runners

if TYPE_CHECKING:
    from recpref.benchmarking.base import Runner, RunResult
    from recpref.benchmarking.harness import format_table, results_to_json, run_benchmark
    from recpref.benchmarking.plot import plot_results

__all__ = [
    "RUNNERS",
    "RunResult",
    "Runner",
    "RunnerSpec",
    "build_runners",
    "format_table",
    "plot_results",
    "results_to_json",
    "run_benchmark",
]

_LAZY = {"Runner": "base", "RunResult": "base", "format_table": "harness", "plot_results": "plot",
         "results_to_json": "harness", "run_benchmark": "harness"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"recpref.benchmarking.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'recpref.benchmarking' has no attribute {name!r}")
