"""evaluate(): hand-computed cases, independent cross-check (pytrec_eval), invariances, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recpref.data import Interactions, random_split
from recpref.evaluation import canonical_topk, evaluate, gini_index



def _table_scorer(scores: np.ndarray):
    table = torch.as_tensor(scores)
    return lambda users: table[users]


def _inter(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> Interactions:
    u, i = zip(*pairs)
    return Interactions.from_indices(list(u), list(i), n_users=n_users, n_items=n_items)


# ---------------------------------------------------------------- hand-computed toys
def test_toy_values_by_hand() -> None:
    # 1 user, 6 items. Train: item 0. Test: items 2 and 5.
    train = _inter([(0, 0)], 1, 6)
    test = _inter([(0, 2), (0, 5)], 1, 6)
    # Ranking after masking item 0: 1 (0.9), 2 (0.8), 3 (0.7), 4 (0.6), 5 (0.5)
    scores = np.array([[1.0, 0.9, 0.8, 0.7, 0.6, 0.5]])
    r = evaluate(_table_scorer(scores), train, test, k=(1, 3, 5),
                 metrics=("recall", "precision", "ndcg", "dcg", "mrr", "hit", "map"))
    assert r["recall@1"] == 0.0 and r["hit@1"] == 0.0 and r["mrr@1"] == 0.0
    assert r["recall@3"] == pytest.approx(0.5)
    assert r["precision@3"] == pytest.approx(1 / 3)
    assert r["mrr@3"] == pytest.approx(0.5)
    assert r["dcg@3"] == pytest.approx(1 / math.log2(3))
    assert r["ndcg@3"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert r["recall@5"] == pytest.approx(1.0)
    assert r["ndcg@5"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3)))
    assert r["map@5"] == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert r["map@3"] == pytest.approx((1 / 2) / 2)
    assert r["hit@5"] == 1.0


def test_f1_is_per_user_harmonic_mean() -> None:
    train = _inter([(0, 0), (1, 0)], 2, 6)
    test = _inter([(0, 1), (0, 5), (1, 4)], 2, 6)
    scores = np.tile(np.array([[9.0, 8, 7, 6, 5, 4]]), (2, 1))  # ranking 1, 2, 3 at k=3
    r = evaluate(_table_scorer(scores), train, test, k=3, metrics=("f1",), per_user=True)
    p, rec = 1 / 3, 1 / 2  # user 0: one hit of 2 relevant; user 1: no hit
    assert r["f1@3"] == pytest.approx((2 * p * rec / (p + rec) + 0.0) / 2)


def test_idcg_uses_min_of_relevant_and_k() -> None:
    train = _inter([(0, 0)], 1, 8)
    test = _inter([(0, 1), (0, 2), (0, 3), (0, 4)], 1, 8)
    scores = np.array([[9.0, 8, 7, 6, 5, 4, 3, 2]])  # items 1,2 at the top: perfect @2
    r = evaluate(_table_scorer(scores), train, test, k=2, metrics=("ndcg", "map", "recall"))
    assert r["ndcg@2"] == pytest.approx(1.0)
    assert r["map@2"] == pytest.approx(1.0)
    assert r["recall@2"] == pytest.approx(0.5)


def test_train_items_never_hit_even_with_top_scores() -> None:
    train = _inter([(0, 0), (0, 1)], 1, 4)
    test = _inter([(0, 3)], 1, 4)
    scores = np.array([[100.0, 99.0, 1.0, 0.0]])
    r = evaluate(_table_scorer(scores), train, test, k=1, metrics=("recall",))
    assert r["recall@1"] == 0.0  # item 2 ranks first once 0 and 1 are masked


def test_ties_broken_by_lower_item_index() -> None:
    train = _inter([(0, 0)], 1, 5)
    test_low = _inter([(0, 1)], 1, 5)
    test_high = _inter([(0, 4)], 1, 5)
    scores = np.zeros((1, 5))
    assert evaluate(_table_scorer(scores), train, test_low, k=1, metrics=("hit",))["hit@1"] == 1.0
    assert evaluate(_table_scorer(scores), train, test_high, k=1, metrics=("hit",))["hit@1"] == 0.0


def test_canonical_topk_matches_stable_sort_with_many_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (64, 50), generator=gen).float()
    ref = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :10]
    assert torch.equal(canonical_topk(scores, 10), ref)


def test_users_without_test_items_skipped_and_counted() -> None:
    train = _inter([(0, 0), (1, 0), (2, 0)], 3, 4)
    test = _inter([(0, 1)], 3, 4)
    scores = np.tile(np.array([[0.0, 3.0, 2.0, 1.0]]), (3, 1))
    r = evaluate(_table_scorer(scores), train, test, k=1, metrics=("recall",))
    assert r.n_users == 1 and r.n_skipped == 2 and r["recall@1"] == 1.0


def test_test_items_in_train_are_counted_and_excluded() -> None:
    train = _inter([(0, 0), (0, 1)], 1, 4)
    test = _inter([(0, 1), (0, 2)], 1, 4)
    scores = np.array([[0.0, 5.0, 4.0, 3.0]])
    r = evaluate(_table_scorer(scores), train, test, k=1, metrics=("recall",))
    assert r.n_test_in_train == 1
    assert r["recall@1"] == 1.0  # relevant set is {2}; item 1 is masked


def test_beyond_accuracy_metrics() -> None:
    train = _inter([(0, 0), (1, 0), (2, 1)], 3, 4)
    test = _inter([(0, 2), (1, 3), (2, 2)], 3, 4)
    scores = np.tile(np.array([[0.0, 0.0, 2.0, 1.0]]), (3, 1))  # every user gets item 2 first
    r = evaluate(_table_scorer(scores), train, test, k=1, metrics=("coverage", "gini", "popularity"))
    assert r["coverage@1"] == pytest.approx(1 / 4)
    assert r["gini@1"] == pytest.approx(gini_index(np.array([0, 0, 3, 0])))
    assert r["gini@1"] == pytest.approx(0.75)
    assert r["popularity@1"] == pytest.approx(0.0)  # item 2 has no training interactions


def test_gini_index_extremes() -> None:
    assert gini_index(np.ones(10)) == pytest.approx(0.0)
    assert gini_index(np.array([0, 0, 0, 5])) == pytest.approx(0.75)
    assert gini_index(np.zeros(3)) == 0.0


# ------------------------------------------------------- independent implementation
def _random_case(seed: int, n_users: int = 60, n_items: int = 40):
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < 0.25
    dense[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(dense)
    data = Interactions.from_indices(u, i, n_users=n_users, n_items=n_items)
    split = random_split(data, test_ratio=0.3, seed=seed)
    # Coarse scores create ties; evaluate must resolve them by item index.
    scores = np.round(rng.random((n_users, n_items)), 1 if seed % 2 else 6)
    return split.train, split.test, scores


def _reference_ranking(train: Interactions, scores: np.ndarray, u: int, k: int) -> list[int]:
    seen = set(train.items_of(u).tolist())
    cand = [j for j in range(scores.shape[1]) if j not in seen]
    cand.sort(key=lambda j: (-scores[u, j], j))
    return cand[:k]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_agrees_with_pytrec_eval(seed: int, k: int) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")  # only this cross-check needs the extension
    train, test, scores = _random_case(seed)
    result = evaluate(_table_scorer(scores), train, test, k=k, per_user=True,
                      metrics=("recall", "precision", "ndcg", "mrr", "hit", "map"))
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for u in range(train.n_users):
        rel = test.items_of(u)
        if rel.size == 0:
            continue
        qrels[str(u)] = {f"d{j}": 1 for j in rel}
        ranked = _reference_ranking(train, scores, u, k)
        run[str(u)] = {f"d{j}": float(k - pos) for pos, j in enumerate(ranked)}
    ev = pytrec_eval.RelevanceEvaluator(
        qrels, {f"recall.{k}", f"P.{k}", f"ndcg_cut.{k}", "recip_rank", f"success.{k}", f"map_cut.{k}"}
    )
    ref = ev.evaluate(run)
    assert result.per_user is not None
    per = {int(row["user"]): row for row in result.per_user.iter_rows(named=True)}
    assert set(per) == {int(q) for q in ref}
    for q, m in ref.items():
        row = per[int(q)]
        n_rel = len(qrels[q])
        assert row[f"recall@{k}"] == pytest.approx(m[f"recall_{k}"], abs=1e-6)
        assert row[f"precision@{k}"] == pytest.approx(m[f"P_{k}"], abs=1e-6)
        assert row[f"ndcg@{k}"] == pytest.approx(m[f"ndcg_cut_{k}"], abs=1e-6)
        assert row[f"mrr@{k}"] == pytest.approx(m["recip_rank"], abs=1e-6)
        assert row[f"hit@{k}"] == pytest.approx(m[f"success_{k}"], abs=1e-6)
        # trec_eval's map_cut divides by |rel|; ours by min(|rel|, k)
        assert row[f"map@{k}"] == pytest.approx(m[f"map_cut_{k}"] * n_rel / min(n_rel, k), abs=1e-6)
    for name in ("recall", "precision", "ndcg", "mrr", "hit", "map"):
        key = f"{name}@{k}"
        assert result[key] == pytest.approx(float(result.per_user[key].mean()), abs=1e-12)


@pytest.mark.parametrize("seed", [4, 5])
def test_results_identical_across_batch_sizes(seed: int) -> None:
    train, test, scores = _random_case(seed, n_users=90)
    results = [evaluate(_table_scorer(scores), train, test, k=(3, 10), batch_size=b).metrics for b in (1, 7, 1024)]
    assert results[0] == results[1] == results[2]


def test_float32_and_float64_scores_agree_when_exactly_representable() -> None:
    train, test, scores = _random_case(6)
    scores = np.round(scores * 8) / 8
    r32 = evaluate(_table_scorer(scores.astype(np.float32)), train, test).metrics
    r64 = evaluate(_table_scorer(scores), train, test).metrics
    assert r32 == r64


def test_users_subset() -> None:
    train, test, scores = _random_case(7)
    full = evaluate(_table_scorer(scores), train, test, k=5, per_user=True, metrics=("recall",))
    assert full.per_user is not None
    some = full.per_user["user"].to_numpy()[:10]
    sub = evaluate(_table_scorer(scores), train, test, k=5, users=some, metrics=("recall",))
    assert sub.n_users == 10
    assert sub["recall@5"] == pytest.approx(float(full.per_user["recall@5"][:10].mean()))


# ------------------------------------------------------------------------- errors
def test_errors_name_the_problem() -> None:
    train = _inter([(0, 0)], 2, 3)
    test = _inter([(0, 1), (1, 2)], 2, 3)
    good = _table_scorer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        evaluate(_table_scorer(np.zeros((2, 4))), train, test, k=1)
    nan = np.zeros((2, 3))
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate(_table_scorer(nan), train, test, k=1)
    with pytest.raises(ValueError, match="exceeds the number of items"):
        evaluate(good, train, test, k=4)
    with pytest.raises(ValueError, match="positive integer"):
        evaluate(good, train, test, k=0)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(good, train, test, k=1, metrics=("auc",))
    with pytest.raises(ValueError, match="out of range"):
        evaluate(good, train, test, k=1, users=[5])
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(good, train, test, k=1, batch_size=0)
    other = _inter([(0, 1)], 2, 4)
    with pytest.raises(ValueError, match="shape"):
        evaluate(good, train, other, k=1)
    empty_test = _inter([(0, 1)], 2, 3)
    with pytest.raises(ValueError, match="no user"):
        evaluate(good, train, empty_test, k=1, users=[1])


def test_scorer_output_not_modified() -> None:
    train = _inter([(0, 0)], 1, 3)
    test = _inter([(0, 1)], 1, 3)
    table = torch.tensor([[3.0, 2.0, 1.0]])
    evaluate(lambda u: table[u] if False else table, train, test, k=1)
    assert torch.equal(table, torch.tensor([[3.0, 2.0, 1.0]]))


def test_propensity_weighted_metrics_by_hand() -> None:
    from recpref.evaluation import evaluate as ev

    train = Interactions.from_indices([0, 1], [0, 3], n_users=2, n_items=5)
    test = Interactions.from_indices([0, 0, 1, 1], [1, 2, 1, 4], n_users=2, n_items=5)
    scores = torch.tensor([[9.0, 8.0, 1.0, 7.0, 0.0], [0.0, 9.0, 1.0, 2.0, 3.0]])
    theta = np.array([1.0, 0.5, 0.25, 1.0, 0.1])
    res = ev(lambda u: scores[u], train, test, k=2, metrics=["ips_recall", "snips_recall", "ips_dcg", "snips_dcg"],
             propensity=theta)
    # user 0 ranks (train item 0 masked) 1, 3 -> hit item 1 (w 2) at rank 1; test weights 2 + 4
    # user 1 ranks (train item 3 masked) 1, 4 -> hits item 1 (w 2) rank 1, item 4 (w 10) rank 2; weights 2 + 10
    d2 = 1 / np.log2(3)
    assert res["ips_recall@2"] == pytest.approx(np.mean([2 / 2, 12 / 2]))
    assert res["snips_recall@2"] == pytest.approx(np.mean([2 / 6, 12 / 12]))
    assert res["ips_dcg@2"] == pytest.approx(np.mean([2 / 2, (2 + 10 * d2) / 2]))
    assert res["snips_dcg@2"] == pytest.approx(np.mean([2 / 6, (2 + 10 * d2) / 12]))
    # theta = 1 everywhere: IPS recall is recall
    ones = ev(lambda u: scores[u], train, test, k=2, metrics=["recall", "ips_recall"], propensity=np.ones(5))
    assert ones["ips_recall@2"] == pytest.approx(ones["recall@2"])
    # per-(user, item) propensities give the same answer when they repeat the item values
    full = ev(lambda u: scores[u], train, test, k=2, metrics=["snips_dcg"], propensity=np.tile(theta, (2, 1)))
    assert full["snips_dcg@2"] == pytest.approx(res["snips_dcg@2"])
    with pytest.raises(ValueError, match="need propensity"):
        ev(lambda u: scores[u], train, test, k=2, metrics=["ips_recall"])
    with pytest.raises(ValueError, match="zero or negative"):
        ev(lambda u: scores[u], train, test, k=2, metrics=["ips_recall"], propensity=np.zeros(5))
    with pytest.raises(ValueError, match="expected \\(5,\\)"):
        ev(lambda u: scores[u], train, test, k=2, metrics=["ips_recall"], propensity=np.ones(4))


def test_weighted_metrics_use_structure_not_rating_weights() -> None:
    """Rated train/test data (weights = ratings): a test item also in train is masked and must
    not enter the SNIPS denominator, whatever the two ratings are."""
    from recpref.evaluation import evaluate as ev

    train = Interactions.from_indices([0, 0], [0, 3], n_users=1, n_items=5, weights=[4.0, 4.0])
    test = Interactions.from_indices([0, 0, 0], [0, 1, 2], n_users=1, n_items=5, weights=[5.0, 5.0, 4.0])
    scores = torch.tensor([[9.0, 8.0, 1.0, 7.0, 0.0]])
    theta = np.array([0.1, 0.5, 0.25, 1.0, 1.0])
    res = ev(lambda u: scores[u], train, test, k=2, metrics=["snips_recall"], propensity=theta)
    # item 0 is masked (train); the top-2 of items 1, 2, 4 hits item 1 (w 2) and item 2 (w 4)
    assert res["snips_recall@2"] == pytest.approx((2 + 4) / (2 + 4))
    res1 = ev(lambda u: scores[u], train, test, k=1, metrics=["snips_recall"], propensity=theta)
    assert res1["snips_recall@1"] == pytest.approx(2 / 6)
