"""The CUDA-graph step path: on the CPU it runs through the same static buffers eagerly and must
train exactly like the eager loop (the CUDA capture itself is checked in tests/test_cuda.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.data import Interactions, Split
from recpref.models import MF, NGCF, LightGCN
from recpref.modules import PreferenceDataModule, PreferenceModule
from recpref.modules.graph_step import GraphStep
from recpref.training.lightning_engine import make_trainer, run_fit


def _data() -> Interactions:
    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((40, 30)) < 0.25)
    return Interactions.from_indices(u, i, n_users=40, n_items=30)


def _fit(model_name: str, step_mode: str, loss: str = "bpr", pool: int | None = None,
         mask_pool: bool = True) -> torch.nn.Module:
    data = _data()
    torch.manual_seed(0)
    model = MF(40, 30, 8) if model_name == "mf" else LightGCN(data, 8, 2)
    module = PreferenceModule(model, loss=loss, lr=0.05, reg=1e-3, flip_dim=4, step_mode=step_mode,  # type: ignore[arg-type]
                              neg_pool=pool)
    dm = PreferenceDataModule(Split(train=data, test=data, allow_overlap=True), batch_size=32,
                              n_neg=2 if pool is None else 1, seed=0, neg_pool=pool, mask_pool=mask_pool)
    run_fit(make_trainer(max_epochs=3, accelerator="cpu"), module, dm)
    if step_mode == "graph":  # the step went through the static buffers
        assert module._graph is not None and module._graph.steps > 0
    return model


@pytest.mark.parametrize(("model_name", "loss", "pool", "mask_pool"), [
    ("mf", "bpr", None, True), ("lightgcn", "bpr", None, True), ("mf", "nbpo", None, True),
    ("mf", "ssm", 12, True), ("lightgcn", "ccl", 12, True), ("mf", "bpr", 12, False),
])
def test_graph_path_trains_like_the_eager_loop(model_name: str, loss: str, pool: int | None, mask_pool: bool) -> None:
    eager, graph = _fit(model_name, "eager", loss, pool, mask_pool), _fit(model_name, "graph", loss, pool, mask_pool)
    for a, b in zip(eager.parameters(), graph.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert not torch.equal(a, torch.zeros_like(a))


def test_graph_step_refuses_changing_shapes_and_bad_settings() -> None:
    calls: list[int] = []

    def step(u: torch.Tensor, p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        calls.append(int(u.sum()))
        return (u.float().sum() + n.float().sum()).requires_grad_()

    g = GraphStep(step, lambda: None, capture=False)
    assert float(g(torch.tensor([1, 2]), torch.tensor([0, 0]), torch.tensor([[1], [2]]))) == 6.0
    assert float(g(torch.tensor([3, 4]), torch.tensor([0, 0]), torch.tensor([[0], [0]]))) == 7.0
    assert calls == [3, 7]  # each call sees its own indices through the static buffers
    with pytest.raises(ValueError, match="fixed shapes"):
        g(torch.tensor([1, 2, 3]), torch.tensor([0, 0, 0]), torch.tensor([[1], [2], [3]]))
    with pytest.raises(ValueError, match="warmup"):
        GraphStep(step, lambda: None, capture=True, warmup=0)
    with pytest.raises(ValueError, match="step_mode 'graph' needs Adam and capturable"):
        PreferenceModule(NGCF(_data(), 8, 1), step_mode="graph")
    with pytest.raises(ValueError, match="step_mode must be one of"):
        PreferenceModule(MF(3, 3, 2), step_mode="jit")  # type: ignore[arg-type]
