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


def _lazy_reference(w0: torch.Tensor, steps: list[tuple[torch.Tensor, torch.Tensor]], lr: float,
                    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> torch.Tensor:
    """Row by row: rows in step t's gradient get Adam's update with bias correction of t; others stay."""
    w, m, v = w0.clone().double(), torch.zeros_like(w0).double(), torch.zeros_like(w0).double()
    for t, (idx, vals) in enumerate(steps, start=1):
        grad: dict[int, torch.Tensor] = {}
        for r, val in zip(idx.tolist(), vals.double()):
            grad[r] = grad.get(r, torch.zeros_like(val)) + val
        for r, g in grad.items():
            m[r] = b1 * m[r] + (1 - b1) * g
            v[r] = b2 * v[r] + (1 - b2) * g * g
            w[r] -= lr * (m[r] / (1 - b1 ** t)) / ((v[r] / (1 - b2 ** t)).sqrt() + eps)
    return w.float()


def test_lazy_adam_matches_row_by_row_reference() -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(25, 3))
    w0 = w.detach().clone()
    opt = RowSparseAdam([w], lr=0.05, lazy=True)
    g = torch.Generator().manual_seed(3)
    steps = []
    for step in range(6):
        idx = torch.randint(0, 8 if step % 2 else 25, (10,), generator=g)  # repeats; some rows skip steps
        opt.zero_grad(set_to_none=True)
        out = F.embedding(idx, w, sparse=True)
        (out ** 3).sum().backward()
        steps.append((idx, 3 * out.detach() ** 2))
        opt.step()
    torch.testing.assert_close(w.detach(), _lazy_reference(w0, steps, 0.05), rtol=1e-5, atol=1e-6)
    never = sorted(set(range(25)) - {r for idx, _ in steps for r in idx.tolist()})
    assert never and torch.equal(w.detach()[never], w0[never])  # untouched rows never move


def test_lazy_adam_refuses_dense_gradients_and_other_options() -> None:
    w = torch.nn.Parameter(torch.ones(4, 2))
    opt = RowSparseAdam([w], lr=0.1, lazy=True)
    (w ** 2).sum().backward()
    with pytest.raises(ValueError, match="lazy Adam needs row-sparse gradients"):
        opt.step()
    with pytest.raises(ValueError, match="lazy Adam supports lr, betas and eps only"):
        RowSparseAdam([w], lr=0.1, lazy=True, weight_decay=0.1)


def test_lazy_adam_setting_is_validated() -> None:
    from recpref.serving import Recommender

    with pytest.raises(ValueError, match="optimizer 'lazy_adam' .* needs neg_pool"):
        Recommender(model="mf", loss="ssm", optimizer="lazy_adam")
    with pytest.raises(ValueError, match="optimizer 'lazy_adam' trains model mf only"):
        Recommender(model="lightgcn", loss="ssm", neg_pool=10, optimizer="lazy_adam")
    with pytest.raises(ValueError, match="optimizer 'lazy_adam' needs row-sparse gradients"):
        PreferenceModule(MF(3, 4, 2), loss="ssm", optimizer="lazy_adam")  # no pool
    module = PreferenceModule(MF(5, 6, 4), loss="ssm", neg_pool=3, optimizer="lazy_adam")
    opt = module.configure_optimizers()
    assert isinstance(opt, RowSparseAdam) and opt.lazy and module._sparse_rows()


def test_lazy_adam_fit_trains_and_scores() -> None:
    import data_loaders
    from recpref.data import random_split
    from recpref.evaluation import evaluate
    from recpref.serving import Recommender

    split = random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=0)
    scores = {}
    for opt in ("adam", "lazy_adam"):
        rec = Recommender(model="mf", loss="ssm", neg_pool=100, temperature=0.5, optimizer=opt, lr=5e-3, reg=0.0,
                          epochs=3, dim=16, patience=None).fit(split.train, progress=False)
        scores[opt] = evaluate(rec.score_all, split.train, split.test, k=(20,), metrics=("ndcg",))["ndcg@20"]
    # both learn (random ranking scores about 0.01 here); the two optimisers differ
    assert scores["lazy_adam"] > 0.05 and scores["adam"] > 0.05 and scores["lazy_adam"] != scores["adam"]


@pytest.mark.parametrize("optimizer", ["adam", "adagrad", "sgd"])
def test_pooled_module_steps_same_with_sparse_or_dense_gathers(optimizer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # every optimiser the module builds takes the row-sparse gradients of CPU MF gathers
    g = torch.Generator().manual_seed(4)
    users, pos = torch.randint(0, 9, (16,), generator=g), torch.randint(0, 30, (16,), generator=g)
    pools = [torch.randint(0, 30, (7,), generator=g) for _ in range(4)]
    weights = []
    for sparse in (False, True):
        torch.manual_seed(0)
        module = PreferenceModule(MF(9, 30, 6), loss="ssm", neg_pool=7, optimizer=optimizer, lr=0.05, reg=0.01)  # type: ignore[arg-type]
        monkeypatch.setattr(module, "_sparse_rows", lambda s=sparse: s)
        opt = module.configure_optimizers()
        for pool in pools:
            opt.zero_grad(set_to_none=True)
            module._pool_step_loss(users, pos, pool, None).backward()
            assert module.model.item_emb.weight.grad is not None
            assert module.model.item_emb.weight.grad.is_sparse == sparse
            opt.step()
        weights.append([p.detach().clone() for p in module.parameters()])
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
