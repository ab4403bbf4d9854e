from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from recpref.baselines import MostPopular, RandomScorer
from recpref.benchmarking import build_runners, format_table, plot_results, results_to_json, run_benchmark
from recpref.benchmarking.implicit_runner import ImplicitALS, ImplicitBPR
from recpref.data import Interactions, random_split


def _clustered(seed: int = 0, n_users: int = 120, n_items: int = 60) -> Interactions:
    """Two taste clusters: a learned model must beat popularity and random on it."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        pool = np.arange(n_items // 2) + (n_items // 2) * (u % 2)
        chosen = rng.choice(pool, size=12, replace=False)
        users += [u] * chosen.size
        items += chosen.tolist()
    return Interactions.from_indices(users, items, n_users=n_users, n_items=n_items)


class _Broken:
    name = "broken"
    tool = "test"

    def fit(self, train: Interactions, seed: int) -> None:
        raise ValueError("boom")

    def score_all(self, users: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise AssertionError

    def params(self) -> dict[str, object]:
        return {}


def test_harness_rows_measured_by_one_evaluator(tmp_path: Path) -> None:
    split = random_split(_clustered(), test_ratio=0.25, seed=1)
    runners = [MostPopular(), RandomScorer(), ImplicitALS(factors=8, regularization=0.1, iterations=10),
               ImplicitBPR(factors=8, iterations=50, learning_rate=0.05), _Broken()]
    results = run_benchmark(split, runners, k=(5,), metrics=("recall", "ndcg"), seed=3)
    by = {r.name: r for r in results}
    assert by["broken"].error is not None and "boom" in by["broken"].error
    als = by["implicit ALS"].metrics["recall@5"]
    assert als > by["Random"].metrics["recall@5"] + 0.1
    assert als > by["MostPopular"].metrics["recall@5"]
    assert all(r.train_seconds >= 0 for r in results)
    table = format_table(results, columns=("recall@5", "ndcg@5"), reference="implicit BPR")
    assert "| implicit ALS |" in table and "error: ValueError: boom" in table and "1.00x" in table
    png = plot_results(results, tmp_path / "p.png", metric="recall@5")
    assert png.stat().st_size > 1000
    blob = json.loads(json.dumps(results_to_json(results, dataset="toy")))
    assert blob["dataset"] == "toy" and len(blob["results"]) == 5


def test_harness_can_raise() -> None:
    split = random_split(_clustered(), test_ratio=0.25, seed=1)
    with pytest.raises(ValueError, match="boom"):
        run_benchmark(split, [_Broken()], raise_errors=True)


def test_build_runners_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_runners(["popularity", "nope"])
    assert [r.name for r in build_runners(["popularity", "random"])] == ["MostPopular", "Random"]


def test_implicit_runner_scores_map_to_recpref_indices() -> None:
    data = _clustered(2)
    runner = ImplicitALS(factors=8, regularization=0.1, iterations=10)
    runner.fit(data, seed=0)
    s = runner.score_all(torch.arange(data.n_users)).numpy()
    assert s.shape == (data.n_users, data.n_items)
    half = data.n_items // 2
    even, odd = s[0::2], s[1::2]
    assert even[:, :half].mean() > even[:, half:].mean()
    assert odd[:, half:].mean() > odd[:, :half].mean()
