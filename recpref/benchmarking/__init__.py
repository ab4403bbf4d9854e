"""Benchmark harness: runners (recpref, baselines, peers) measured by one evaluator."""

from recpref.benchmarking.base import Runner, RunResult
from recpref.benchmarking.harness import format_table, results_to_json, run_benchmark
from recpref.benchmarking.plot import plot_results
from recpref.benchmarking.registry import RUNNERS, RunnerSpec, build_runners

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
