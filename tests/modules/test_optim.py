"""RowSparseAdam: row-sparse gradients give dense Adam's exact update; the pooled MF objective's
sparse gathers train like its dense gathers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recpref.models import MF
from recpref.modules import PreferenceModule
from recpref.modules.objectives import POOL_OBJECTIVES, LossSettings
from recpref.modules.optim import RowSparseAdam


def _steps(sparse: bool, fused: bool, zero_to_none: bool = True) -> torch.Tensor:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(30, 4))
    opt = (RowSparseAdam if sparse else torch.optim.Adam)([w], lr=0.05, fused=fused)
    g = torch.Generator().manual_seed(1)
    for step in range(8):
        # rows repeat within a step, and each step touches other rows (stale rows must be cleared)
        idx = torch.randint(0, 10 if step % 2 else 30, (12,), generator=g)
        opt.zero_grad(set_to_none=zero_to_none)
        loss = (F.embedding(idx, w, sparse=sparse) ** 3).sum()
        loss.backward()
        opt.step()
    return w.detach().clone()


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("zero_to_none", [True, False])
def test_row_sparse_gradients_give_dense_adams_update(fused: bool, zero_to_none: bool) -> None:
    dense = _steps(sparse=False, fused=fused)
    sparse = _steps(sparse=True, fused=fused, zero_to_none=zero_to_none)
    torch.testing.assert_close(sparse, dense, rtol=1e-6, atol=1e-6)
    torch.manual_seed(0)
    assert not torch.allclose(dense, torch.randn(30, 4), atol=1e-3)  # the steps moved the weights


def test_two_backwards_accumulate_as_dense() -> None:
    # no zero_grad between two backward passes: gradients add up, as with dense gradients
    results = []
    for sparse in (False, True):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(20, 3))
        opt = (RowSparseAdam if sparse else torch.optim.Adam)([w], lr=0.1)
        for step in range(4):
            if step % 2 == 0:
                opt.zero_grad(set_to_none=True)
            F.embedding(torch.tensor([step, step + 5, 1]), w, sparse=sparse).pow(2).sum().backward()
            opt.step()
        results.append(w.detach().clone())
    torch.testing.assert_close(results[1], results[0], rtol=1e-6, atol=1e-6)


def test_rejects_gradients_sparse_in_two_dims() -> None:
    w = torch.nn.Parameter(torch.zeros(3, 3))
    opt = RowSparseAdam([w], lr=0.1)
    w.grad = torch.eye(3).to_sparse(2)
    with pytest.raises(ValueError, match="row-sparse gradients"):
        opt.step()


@pytest.mark.parametrize("loss", ["ssm", "ccl", "bpr"])
def test_pool_objective_sparse_rows_same_loss_and_gradients(loss: str) -> None:
    torch.manual_seed(0)
    model = MF(12, 40, 8)
    objective = POOL_OBJECTIVES[loss](LossSettings(temperature=0.5, margin=0.1, negative_weight=3.0))
    users, pos, pool = torch.tensor([0, 3, 3, 7]), torch.tensor([1, 2, 2, 9]), torch.tensor([5, 9, 5, 30, 2])
    mask = torch.zeros(4, 5, dtype=torch.bool)
    mask[1, 4] = mask[3, 1] = True
    grads = []
    for sparse in (False, True):
        model.zero_grad(set_to_none=True)
        obj = objective(model, users, pos, pool, mask, sparse_rows=sparse)
        total = obj.loss + sum((r ** 2).sum() for r in obj.rows) * 0.01
        total.backward()
        gs = [p.grad.to_dense() if p.grad.is_sparse else p.grad for p in (model.user_emb.weight, model.item_emb.weight)]
        assert all(p.grad.is_sparse == sparse for p in (model.user_emb.weight, model.item_emb.weight))
        grads.append((float(total.detach()), gs))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_module_uses_sparse_rows_on_cpu_only_for_mf_pools() -> None:
    module = PreferenceModule(MF(5, 6, 4), loss="ssm", neg_pool=3)
    assert module._sparse_rows() and isinstance(module.configure_optimizers(), RowSparseAdam)
