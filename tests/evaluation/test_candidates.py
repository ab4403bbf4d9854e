"""evaluate_candidates(): rank only each user's shown items (Coat / Yahoo! R3 protocol)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recpref.data import Interactions
from recpref.evaluation import evaluate_candidates



def _scorer(scores: np.ndarray):
    t = torch.as_tensor(scores)
    return lambda u: t[u]


def test_toy_candidate_ranking() -> None:
    # user 0 was shown items 1, 3, 4 with ratings 5, 2, 4; relevant = rating >= 4 -> {1, 4}
    cand = Interactions.from_indices([0, 0, 0], [1, 3, 4], n_users=1, n_items=6, weights=[5.0, 2.0, 4.0])
    scores = np.array([[100.0, 0.1, 50.0, 0.9, 0.5, 99.0]])  # non-candidates 0, 2, 5 ignored
    r = evaluate_candidates(_scorer(scores), cand, k=(1, 2, 3), relevance_threshold=4,
                            metrics=("dcg", "recall", "precision", "map"))
    # ranking among candidates: 3 (0.9), 4 (0.5), 1 (0.1)
    assert r["recall@1"] == 0.0
    assert r["dcg@2"] == pytest.approx(1 / math.log2(3))
    assert r["dcg@3"] == pytest.approx(1 / math.log2(3) + 1 / math.log2(4))
    assert r["recall@3"] == 1.0
    assert r["map@3"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_candidate_users_without_relevant_items_skipped() -> None:
    cand = Interactions.from_indices([0, 1], [0, 1], n_users=2, n_items=2, weights=[5.0, 1.0])
    r = evaluate_candidates(_scorer(np.zeros((2, 2))), cand, k=1, relevance_threshold=4, metrics=("recall",))
    assert r.n_users == 1 and r.n_skipped == 1


def test_candidates_rejects_full_ranking_metrics() -> None:
    cand = Interactions.from_indices([0], [0], n_users=1, n_items=2, weights=[5.0])
    with pytest.raises(ValueError, match="full ranking"):
        evaluate_candidates(_scorer(np.zeros((1, 2))), cand, k=1, metrics=("coverage",))


def _random_candidates(seed: int, n_users: int = 40, n_items: int = 30) -> tuple[Interactions, np.ndarray]:
    rng = np.random.default_rng(seed)
    shown = rng.random((n_users, n_items)) < 0.4
    u, i = np.nonzero(shown)
    ratings = rng.integers(1, 6, u.size).astype(np.float64)
    cand = Interactions.from_indices(u, i, n_users=n_users, n_items=n_items, weights=ratings)
    return cand, np.round(rng.random((n_users, n_items)), 1)  # coarse scores: ties


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidates_identical_across_batch_sizes(seed: int) -> None:
    cand, scores = _random_candidates(seed)
    results = [evaluate_candidates(_scorer(scores), cand, k=5, relevance_threshold=4, batch_size=b,
                                   metrics=("recall", "ndcg", "precision", "map")).metrics
               for b in (1, 7, 1024)]
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidates_agree_with_pytrec_eval(seed: int) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")  # only this cross-check needs the extension
    n_users, k = 40, 5
    cand, scores = _random_candidates(seed, n_users=n_users)
    results = [evaluate_candidates(_scorer(scores), cand, k=k, relevance_threshold=4,
                                   metrics=("recall", "ndcg", "precision", "map"), per_user=True)]
    qrels, run = {}, {}
    for user in range(n_users):
        items = cand.items_of(user)
        w = cand.weights[cand.indptr[user]:cand.indptr[user + 1]]
        rel = items[w >= 4]
        if rel.size == 0:
            continue
        ranked = sorted(items.tolist(), key=lambda j: (-scores[user, j], j))[:k]
        qrels[str(user)] = {f"d{j}": 1 for j in rel}
        run[str(user)] = {f"d{j}": float(k - p) for p, j in enumerate(ranked)}
    ref = pytrec_eval.RelevanceEvaluator(qrels, {f"recall.{k}", f"ndcg_cut.{k}", f"P.{k}", f"map_cut.{k}"}).evaluate(run)
    per = results[0].per_user
    assert per is not None and per.height == len(ref)
    for row in per.iter_rows(named=True):
        m = ref[str(row["user"])]
        n_rel = row["n_relevant"]
        assert row[f"recall@{k}"] == pytest.approx(m[f"recall_{k}"], abs=1e-6)
        assert row[f"ndcg@{k}"] == pytest.approx(m[f"ndcg_cut_{k}"], abs=1e-6)
        assert row[f"precision@{k}"] == pytest.approx(m[f"P_{k}"], abs=1e-6)
        assert row[f"map@{k}"] == pytest.approx(m[f"map_cut_{k}"] * n_rel / min(n_rel, k), abs=1e-6)


def test_trailing_users_without_candidates_are_skipped_and_counted() -> None:
    """Yahoo! R3 has test users for only part of the user range: the last users have no row."""
    cand = Interactions.from_indices([0, 0, 1, 1], [1, 2, 0, 2], n_users=5, n_items=3, weights=[5.0, 1.0, 4.0, 5.0])
    scores = np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]] + [[0.0, 0.0, 0.0]] * 3)
    r = evaluate_candidates(_scorer(scores), cand, k=1, relevance_threshold=4, metrics=("recall",), per_user=True)
    assert r.n_users == 2 and r.n_skipped == 3
    assert r["recall@1"] == pytest.approx((1.0 + 0.5) / 2)  # user 0 ranks 1 first (rel); user 1 ranks 0 (rel of 2)
    # the same users alone give the same numbers as with the empty ones around them
    alone = Interactions.from_indices([0, 0, 1, 1], [1, 2, 0, 2], n_users=2, n_items=3, weights=[5.0, 1.0, 4.0, 5.0])
    ref = evaluate_candidates(_scorer(scores[:2]), alone, k=1, relevance_threshold=4, metrics=("recall",))
    assert r.metrics == ref.metrics and ref.n_skipped == 0


def test_users_without_candidates_in_the_middle_and_at_the_start() -> None:
    cand = Interactions.from_indices([1, 3], [0, 1], n_users=5, n_items=2, weights=[5.0, 5.0])
    r = evaluate_candidates(_scorer(np.zeros((5, 2))), cand, k=1, relevance_threshold=4, metrics=("recall",))
    assert r.n_users == 2 and r.n_skipped == 3 and r["recall@1"] == 1.0
