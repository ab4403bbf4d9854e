"""The ranking core: topk_unseen / canonical_topk against slow per-user references, the
batched loop's tie resolution (also one batch late, as on CUDA), and evaluate's fast paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.data import Interactions, random_split
from recpref.evaluation import canonical_topk, evaluate, topk_unseen
from recpref.evaluation.full_ranking import _TopKRun
from recpref.evaluation.ranking import block_positions, boundary_topk, mask_


def _data(seed: int, n_users: int = 50, n_items: int = 30, density: float = 0.3) -> Interactions:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < density
    dense[0, :] = True  # a user with no unseen item at all
    dense[1, : n_items - 2] = True  # and one with fewer unseen items than k
    u, i = np.nonzero(dense)
    return Interactions.from_indices(u, i, n_users=n_users, n_items=n_items)


def _reference(scores: np.ndarray, train: Interactions, users: np.ndarray, k: int) -> tuple[list[list[int]], np.ndarray]:
    """Slow per-user reference: unseen items sorted by (score desc, index asc), padded with the
    canonical order of the masked items (score -inf), as a full stable sort gives."""
    items, valid = [], np.zeros((users.size, k), dtype=bool)
    for row, u in enumerate(users):
        seen = set(train.items_of(int(u)).tolist())
        unseen = sorted((j for j in range(train.n_items) if j not in seen), key=lambda j: (-scores[row, j], j))
        ranked = (unseen + sorted(seen))[:k]
        items.append(ranked)
        valid[row, : min(k, len(unseen))] = True
    return items, valid


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 4, 30])
def test_topk_unseen_matches_slow_reference_with_ties(seed: int, k: int) -> None:
    train = _data(seed)
    rng = np.random.default_rng(100 + seed)
    users = rng.permutation(train.n_users)[:40]
    scores = rng.integers(0, 3, (users.size, train.n_items)).astype(np.float32)  # ties everywhere
    scores_t = torch.from_numpy(scores.copy())
    items, top_scores, valid = topk_unseen(scores_t, train, users, k)
    ref_items, ref_valid = _reference(scores, train, users, k)
    assert items.dtype == torch.long and items.shape == (users.size, k)
    assert items.tolist() == ref_items
    assert np.array_equal(valid.numpy(), ref_valid)
    expect = np.where(ref_valid, np.take_along_axis(scores, np.array(ref_items), 1), -np.inf)
    assert np.array_equal(top_scores.numpy(), expect)
    assert torch.equal(scores_t, torch.from_numpy(scores))  # the caller's scores are not modified


def test_topk_unseen_tie_at_the_boundary_goes_to_the_lower_index() -> None:
    train = Interactions.from_indices([0], [0], n_users=1, n_items=6)
    scores = torch.tensor([[9.0, 5.0, 1.0, 5.0, 5.0, 7.0]])
    items, _, _ = topk_unseen(scores, train, np.array([0]), 2)  # 5 (7.0), then the lowest of 1, 3, 4
    assert items.tolist() == [[5, 1]]
    items, _, _ = topk_unseen(scores.flip(1), train, np.array([0]), 3)  # 7 masked; 9 (item 5), then 5, 5 of 1, 2, 4
    assert items.tolist() == [[5, 1, 2]]


def test_topk_unseen_rejects_bad_input_and_nan() -> None:
    train = Interactions.from_indices([0, 1], [0, 1], n_users=2, n_items=3)
    good = torch.zeros((2, 3))
    with pytest.raises(ValueError, match="expected \\(2, 3\\)"):
        topk_unseen(torch.zeros((2, 4)), train, np.array([0, 1]), 1)
    with pytest.raises(ValueError, match="out of range"):
        topk_unseen(good, train, np.array([0, 2]), 1)
    with pytest.raises(ValueError, match="k must be"):
        topk_unseen(good, train, np.array([0, 1]), 4)
    with pytest.raises(ValueError, match="integer user indices"):
        topk_unseen(good, train, np.array([0.0, 1.0]), 1)
    nan = good.clone()
    nan[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"NaN .*\(user indices \[1\]\)"):
        topk_unseen(nan, train, np.array([0, 1]), 1)
    masked_nan = good.clone()
    masked_nan[1, 1] = float("nan")  # a train item's score is never ranked
    assert topk_unseen(masked_nan, train, np.array([0, 1]), 1)[0].tolist() == [[1], [0]]


def test_canonical_topk_with_a_tie_only_at_the_boundary() -> None:
    # 20 distinct scores, then many copies of the k-th value far to the right
    gen = torch.Generator().manual_seed(3)
    scores = torch.randn(8, 500, generator=gen)
    scores[:, 480:] = scores.topk(10, dim=1).values[:, -1:]  # ties with the 10th value
    ref = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :10]
    assert torch.equal(canonical_topk(scores, 10), ref)
    _, _, ambiguous, _ = boundary_topk(scores, 10)
    assert ambiguous.all()


@pytest.mark.parametrize("lag", [0, 1])
def test_batched_run_resolves_ties_exactly_also_one_batch_late(lag: int) -> None:
    """The loop evaluate runs, with the tie check read at once (CPU) or one batch late (as on
    CUDA, here forced on the CPU): the same lists as a stable full sort of every row."""
    train = _data(4, n_users=23)
    gen = torch.Generator().manual_seed(0)
    table = torch.randint(0, 4, (train.n_users, train.n_items), generator=gen).float()
    users = np.arange(train.n_users)
    run = _TopKRun(users.size, 5, torch.device("cpu"), lag=lag)
    positions = torch.from_numpy(block_positions(train, users))
    bounds = np.concatenate([[0], np.cumsum(train.user_counts)])
    for batch, start in enumerate(range(0, users.size, 4)):
        end = min(start + 4, users.size)
        block = run.block_for(batch, table[start:end], owned=False)
        mask_(block, positions[bounds[start]:bounds[end]] - start * train.n_items)
        run.add(start, block)
    items, valid, has_nan = run.finish()
    ref_items, ref_valid = _reference(table.numpy(), train, users, 5)
    assert items.tolist() == ref_items and np.array_equal(valid.numpy(), ref_valid)
    assert not has_nan.any()
    assert torch.equal(table, torch.randint(0, 4, table.shape, generator=torch.Generator().manual_seed(0)).float())


def _case(seed: int) -> tuple[Interactions, Interactions, np.ndarray]:
    rng = np.random.default_rng(seed)
    dense = rng.random((70, 45)) < 0.3
    u, i = np.nonzero(dense)
    split = random_split(Interactions.from_indices(u, i, n_users=70, n_items=45), test_ratio=0.3, seed=seed)
    return split.train, split.test, rng.integers(0, 5, (70, 45)).astype(np.float64)


def test_evaluate_hits_match_the_reference_rankings_under_heavy_ties() -> None:
    train, test, scores = _case(1)
    res = evaluate(lambda u: torch.from_numpy(scores)[u], train, test, k=7, metrics=("recall", "hit"), per_user=True)
    assert res.per_user is not None
    for row in res.per_user.iter_rows(named=True):
        u = int(row["user"])
        ranked = _reference(scores[u:u + 1], train, np.array([u]), 7)[0][0]
        rel = set(test.items_of(u).tolist())
        assert row["recall@7"] == pytest.approx(len(rel & set(ranked)) / len(rel))


@pytest.mark.parametrize("kind", ["float16", "transposed view", "numpy", "same tensor every call"])
def test_evaluate_same_result_whatever_the_scorer_returns(kind: str) -> None:
    train, test, scores = _case(2)
    scores = scores / 4  # exactly representable in float16
    base = torch.from_numpy(scores).float()
    ref = evaluate(lambda u: base[u], train, test, k=(3, 10), batch_size=16).metrics
    if kind == "float16":
        got = evaluate(lambda u: base[u].half(), train, test, k=(3, 10), batch_size=16).metrics
    elif kind == "transposed view":
        cols = base.T.contiguous()
        got = evaluate(lambda u: cols[:, u].T, train, test, k=(3, 10), batch_size=16).metrics
    elif kind == "numpy":
        got = evaluate(lambda u: scores[u.numpy()], train, test, k=(3, 10), batch_size=16).metrics
    else:
        kept = base.clone()
        got = evaluate(lambda u: kept, train, test, k=(3, 10), batch_size=train.n_users).metrics
        assert torch.equal(kept, base)  # evaluate never writes into the scorer's tensor
    assert got == ref


def test_users_whose_test_items_are_all_train_items_are_skipped() -> None:
    train = Interactions.from_indices([0, 1, 1], [0, 1, 2], n_users=2, n_items=4)
    test = Interactions.from_indices([0, 1], [1, 1], n_users=2, n_items=4)  # user 1's only test item is in train
    scorer = lambda u: torch.tensor([[0.0, 3.0, 2.0, 1.0]]).expand(len(u), 4)  # noqa: E731
    r = evaluate(scorer, train, test, k=1, metrics=("recall",))
    assert r.n_users == 1 and r.n_skipped == 1 and r.n_test_in_train == 1 and r["recall@1"] == 1.0
    with pytest.raises(ValueError, match="also one of their train items"):
        evaluate(scorer, train, test, k=1, metrics=("recall",), users=[1])
