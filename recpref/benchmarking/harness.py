"""Run several runners on one split and measure every row with the same evaluator."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from recpref.benchmarking.base import Runner, RunResult
from recpref.data import Split
from recpref.evaluation import evaluate
from recpref.evaluation.protocol import EvalResult


def run_benchmark(
    split: Split,
    runners: Sequence[Runner],
    *,
    k: Sequence[int] = (10, 20),
    metrics: Sequence[str] = ("recall", "ndcg", "precision", "mrr", "hit", "map", "coverage"),
    seed: int = 2020,
    on_result: Callable[[RunResult], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
    raise_errors: bool = False,
) -> list[RunResult]:
    """Fit each runner on ``split.train`` and evaluate it on ``split.test`` with `evaluate`.

    ``train_seconds`` is the wall time of ``fit`` alone (data conversion into the tool's own
    format included, since a user pays it too; the one-time import of the tool's libraries
    excluded: runners with a ``warmup()`` method import them before the clock starts);
    evaluation is timed separately. ``on_start(name, index)`` is called before each row trains and
    ``on_result(row)`` after it is scored (progress lines). A runner that
    raises gets a row with ``error`` set (the traceback's last line) unless ``raise_errors``.
    """
    return run_rows(runners, lambda runner: runner.fit(split.train, seed),
                    lambda runner: evaluate(runner.score_all, split.train, split.test, k=k, metrics=metrics),
                    on_start=on_start, on_result=on_result, raise_errors=raise_errors)


R = TypeVar("R", bound=Any)


def run_rows(runners: Sequence[R], fit: Callable[[R], object], score: Callable[[R], EvalResult], *,
             extra_params: Callable[[R], dict[str, Any]] | None = None,
             on_start: Callable[[str, int], None] | None = None,
             on_result: Callable[[RunResult], None] | None = None, raise_errors: bool = False) -> list[RunResult]:
    """The row loop every harness shares: for each runner, ``on_start(name, index)``, its
    ``warmup()`` (if any) outside the clock, ``fit(runner)`` timed as ``train_seconds``,
    ``score(runner)`` timed as ``eval_seconds``, the row (params = ``runner.params()`` plus
    ``extra_params(runner)``) and ``on_result(row)``. A runner that raises gets a row with
    ``error`` = the exception's last line, unless ``raise_errors``."""
    results: list[RunResult] = []
    for index, runner in enumerate(runners):
        if on_start is not None:
            on_start(runner.name, index)
        warmup = getattr(runner, "warmup", None)
        if callable(warmup):
            warmup()
        t0 = time.perf_counter()
        try:
            fit(runner)
            train_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            res = score(runner)
            eval_s = time.perf_counter() - t1
            params = {**runner.params(), **(extra_params(runner) if extra_params is not None else {})}
            row = RunResult(runner.name, runner.tool, res.metrics, train_s, eval_s, params, res.n_users)
        except Exception as exc:  # noqa: BLE001 - recorded in the row, re-raised on request
            if raise_errors:
                raise
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            row = RunResult(runner.name, runner.tool, {}, time.perf_counter() - t0, 0.0, runner.params(), 0, last)
        results.append(row)
        if on_result is not None:
            on_result(row)
    return results


def format_table(results: Sequence[RunResult], columns: Sequence[str] = ("recall@20", "ndcg@20"),
                 reference: str | None = None) -> str:
    """A Markdown table: one row per runner, metric columns, train time, and — when
    ``reference`` names a row — each row's train time as a ratio to it."""
    ref_time = next((r.train_seconds for r in results if r.name == reference and r.error is None), None)
    head = ["model", "tool", *columns, "train s", "eval s"]
    if ref_time:
        head.append(f"time / {reference}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if r.error is not None:
            cells = [r.name, r.tool, *(["—"] * len(columns)), f"{r.train_seconds:.2f}", "—"]
            if ref_time:
                cells.append("—")
            lines.append("| " + " | ".join(cells) + f" |  error: {r.error}")
            continue
        cells = [r.name, r.tool, *(f"{r.metrics.get(c, float('nan')):.4f}" for c in columns),
                 f"{r.train_seconds:.2f}", f"{r.eval_seconds:.2f}"]
        if ref_time:
            ratio = r.train_seconds / ref_time
            cells.append(f"{ratio:.2f}x" if ratio >= 0.01 else "<0.01x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_to_json(results: Sequence[RunResult], **meta: Any) -> dict[str, Any]:
    return {**meta, "results": [r.to_dict() for r in results]}
