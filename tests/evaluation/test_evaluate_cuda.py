"""evaluate and topk_unseen on CUDA give exactly the CPU's results, ties included (the tie check
is read one batch late there). Skipped where no GPU is visible; run with
``pytest tests/evaluation/test_evaluate_cuda.py`` on a GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.data import Interactions, random_split
from recpref.evaluation import evaluate, topk_unseen

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _case(seed: int = 0) -> tuple[Interactions, Interactions, torch.Tensor]:
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((300, 120)) < 0.2)
    split = random_split(Interactions.from_indices(u, i, n_users=300, n_items=120), test_ratio=0.3, seed=seed)
    return split.train, split.test, torch.from_numpy(rng.integers(0, 6, (300, 120)).astype(np.float32))  # ties


@pytest.mark.parametrize("batch_size", [7, 64, 1024])
def test_evaluate_on_cuda_equals_cpu_with_ties(batch_size: int) -> None:
    train, test, table = _case()
    on_gpu = table.cuda()
    metrics = ("recall", "ndcg", "map", "coverage", "gini", "popularity")
    cpu = evaluate(lambda u: table[u.cpu()], train, test, k=(5, 20), metrics=metrics, per_user=True)
    gpu = evaluate(lambda u: on_gpu[u], train, test, k=(5, 20), metrics=metrics, per_user=True,
                   device="cuda", batch_size=batch_size)
    assert gpu.metrics == cpu.metrics
    assert cpu.per_user is not None and gpu.per_user is not None and cpu.per_user.equals(gpu.per_user)


def test_evaluate_on_cuda_from_a_cpu_scorer_and_nan() -> None:
    train, test, table = _case(1)
    ref = evaluate(lambda u: table[u.cpu()], train, test, k=10)
    assert evaluate(lambda u: table[u.cpu()], train, test, k=10, device="cuda", batch_size=32).metrics == ref.metrics
    bad = table.clone()
    user = int(np.flatnonzero(np.diff(test.indptr) > 0)[-1])
    free = int(np.setdiff1d(np.arange(train.n_items), train.items_of(user))[0])
    bad[user, free] = float("nan")
    with pytest.raises(ValueError, match=f"NaN .*\\[{user}\\]"):
        evaluate(lambda u: bad.cuda()[u], train, test, k=10, device="cuda", batch_size=32)


def test_topk_unseen_on_cuda_equals_cpu() -> None:
    train, _, table = _case(2)
    users = np.arange(0, 300, 3)
    cpu = topk_unseen(table[users], train, users, 15)
    gpu = topk_unseen(table[users].cuda(), train, users, 15)
    assert all(g.device.type == "cuda" for g in gpu)
    for c, g in zip(cpu, gpu):
        assert torch.equal(c, g.cpu())
