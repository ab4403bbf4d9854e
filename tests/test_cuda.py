"""The same code on CUDA: samplers stay exact and deterministic on the GPU, encoders and
evaluation agree with the CPU, and a Lightning fit runs unchanged with ``accelerator="gpu"``.

Skipped where no GPU is visible (CI); run on a lent GPU with ``pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.data import Interactions, random_split
from recpref.evaluation import evaluate
from recpref.models import MF, NGCF, LightGCN
from recpref.sampling import HardNegativeSampler, PopularitySampler, PositiveSampler, UniformSampler, make_generator

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _data(seed: int = 0, n_users: int = 60, n_items: int = 50, density: float = 0.3) -> Interactions:
    rng = np.random.default_rng(seed)
    m = rng.random((n_users, n_items)) < density
    m[:, 0] = False
    m[0, 1:] = True  # user 0 has a single negative: exercises the masked fallback
    u, i = np.nonzero(m)
    return Interactions.from_indices(u, i, n_users=n_users, n_items=n_items)


@pytest.mark.parametrize("kind", ["uniform-bytemap", "uniform-bitset", "uniform-sorted", "popularity-bytemap",
                                  "popularity-bitset", "popularity-sorted"])
def test_negative_samplers_on_cuda_are_exact_and_deterministic(kind: str) -> None:
    d = _data()
    caps = {"bitset_max_bytes": 0 if kind.endswith("sorted") else 1 << 20,
            "bytemap_max_bytes": 1 << 20 if kind.endswith("bytemap") else 0}
    s = (UniformSampler(d, device="cuda", **caps) if kind.startswith("uniform")
         else PopularitySampler(d, exponent=0.75, smoothing=1.0, device="cuda", **caps))
    users = torch.arange(d.n_users, device="cuda").repeat(300)
    a = s.sample(users, 3, make_generator(3, device="cuda"))
    b = s.sample(users, 3, make_generator(3, device="cuda"))
    assert a.device.type == "cuda" and a.dtype == torch.int64 and a.shape == (users.numel(), 3)
    assert torch.equal(a, b)
    dense = d.matrix.toarray() > 0
    assert not dense[users.cpu().numpy()[:, None], a.cpu().numpy()].any()
    # user 0's only negative is item 0
    assert torch.all(a[users == 0] == 0)


def test_positive_streams_and_hard_negatives_on_cuda() -> None:
    d = _data()
    for stream in ("interactions", "users", "shuffle"):
        u, p = PositiveSampler(d, stream, device="cuda").epoch(5000, make_generator(1, device="cuda"))
        assert u.device.type == "cuda"
        assert (d.matrix.toarray()[u.cpu().numpy(), p.cpu().numpy()] > 0).all()
    model = MF(d.n_users, d.n_items, 8).cuda()
    hard = HardNegativeSampler(UniformSampler(d, device="cuda"), n_candidates=8)
    users = torch.arange(d.n_users, device="cuda")
    neg = hard.sample(users, 2, make_generator(0, device="cuda"), model.score)
    assert neg.device.type == "cuda" and not (d.matrix.toarray()[users.cpu().numpy()[:, None],
                                                                  neg.cpu().numpy()] > 0).any()


@pytest.mark.parametrize("cls", [MF, LightGCN, NGCF])
def test_encoders_agree_with_cpu(cls: type) -> None:
    d = _data()
    torch.manual_seed(0)
    enc = MF(d.n_users, d.n_items, 16) if cls is MF else cls(d, 16, 2)
    enc.eval()
    users = torch.arange(d.n_users)
    cpu = enc.score_all(users).detach()
    gpu = enc.cuda().score_all(users.cuda()).detach().cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)
    items = torch.randint(d.n_items, (d.n_users,))
    torch.testing.assert_close(enc.score(users.cuda(), items.cuda()).detach().cpu(),
                               cpu[users, items], rtol=1e-4, atol=1e-4)


def test_lightgcn_gradients_agree_with_cpu() -> None:
    d = _data()
    torch.manual_seed(0)
    enc = LightGCN(d, 16, 3)
    users, pos, neg = torch.arange(10), torch.arange(10), torch.arange(10, 20).view(10, 1)
    enc.triplet(users, pos, neg).pos.sum().backward()
    cpu_grad = enc.emb.weight.grad.clone()
    enc.zero_grad()
    enc = enc.cuda()
    enc.triplet(users.cuda(), pos.cuda(), neg.cuda()).pos.sum().backward()
    torch.testing.assert_close(enc.emb.weight.grad.cpu(), cpu_grad, rtol=1e-4, atol=1e-5)


def test_evaluate_on_cuda_equals_cpu() -> None:
    d = _data(n_users=80, n_items=70)
    split = random_split(d, 0.3, seed=0)
    torch.manual_seed(0)
    enc = MF(d.n_users, d.n_items, 8)
    kw = dict(k=(5, 10), metrics=("recall", "ndcg", "map"), batch_size=7)
    cpu = evaluate(enc.score_all, split.train, split.test, device="cpu", **kw)  # type: ignore[arg-type]
    enc = enc.cuda()
    gpu = evaluate(enc.score_all, split.train, split.test, device="cuda", **kw)  # type: ignore[arg-type]
    for name, value in cpu.metrics.items():
        assert gpu[name] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize(("loss", "model_name"), [("bpr", "mf"), ("nbpo", "mf"), ("bpr", "lightgcn")])
def test_lightning_fit_runs_unchanged_on_gpu(loss: str, model_name: str) -> None:
    import lightning.pytorch as pl

    from recpref.modules import PreferenceDataModule, PreferenceModule

    d = _data()
    split = random_split(d, 0.2, seed=1)
    torch.manual_seed(0)
    model = MF(d.n_users, d.n_items, 8) if model_name == "mf" else LightGCN(split.train, 8, 2)
    module = PreferenceModule(model, loss=loss, lr=0.05, reg=1e-4, flip_dim=4,  # type: ignore[arg-type]
                              eval_train=split.train, eval_target=split.test, eval_k=(5,))
    dm = PreferenceDataModule(split, batch_size=64, n_neg=2, seed=0)
    before = [p.detach().clone() for p in module.model.parameters()]
    seen: dict[str, str] = {}

    class Where(pl.Callback):  # Lightning moves the module back to the CPU after fit
        def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict[str, torch.Tensor],
                                 batch_idx: int) -> None:
            seen["params"] = next(pl_module.parameters()).device.type
            seen["batch"] = batch["users"].device.type

    trainer = pl.Trainer(max_epochs=20, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="gpu", devices=1, callbacks=[Where()])
    trainer.fit(module, dm)
    assert seen == {"params": "cuda", "batch": "cuda"}  # sampled on the GPU, trained there
    after = evaluate(module.score_all, split.train, split.test, k=(5,), metrics=("recall",), device="cuda")
    on_cpu = evaluate(module.score_all, split.train, split.test, k=(5,), metrics=("recall",), device="cpu")
    assert after.metrics == on_cpu.metrics  # the same scores ranked on the GPU and on the CPU
    # the last validation (on the GPU, inside fit) scored the same final weights
    assert float(trainer.callback_metrics["val/recall@5"]) == pytest.approx(after["recall@5"], abs=1e-6)
    assert all(not torch.equal(b, a.detach().cpu()) for b, a in zip(before, module.model.parameters()))


@pytest.mark.parametrize("loss", ["relmf", "dr", "ubpr"])
def test_mnar_fit_runs_on_gpu(loss: str) -> None:
    import lightning.pytorch as pl

    from recpref.modules import MNARDataModule, MNARModule, click_rate_among_exposed
    from recpref.simulation import SemiSynthetic, low_rank_relevance, popularity_exposure

    sim = SemiSynthetic(low_rank_relevance(40, 30, dim=3, offset=-1.0), popularity_exposure(np.linspace(1, 0.05, 30)))
    draw = sim.draw(0)
    clicks = draw.to_interactions()
    u, i = np.nonzero(draw.exposed)
    exposure = Interactions.from_indices(u, i, n_users=40, n_items=30)
    extra = {"exposure": exposure, "imputed": click_rate_among_exposed(clicks, exposure)} if loss == "dr" else {}
    module = MNARModule(MF(40, 30, 8), loss, sim.theta, local="squared", lr=0.01, **extra)  # type: ignore[arg-type]
    seen: dict[str, str] = {}

    class Where(pl.Callback):
        def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict[str, torch.Tensor],
                                 batch_idx: int) -> None:
            seen["batch"] = batch["users"].device.type
            if isinstance(pl_module, MNARModule) and pl_module.exposure_table is not None:
                seen["exposure"] = pl_module.exposure_table.device.type

    dm = MNARDataModule(clicks, loss, batch_size=64, steps_per_epoch=10, seed=0)  # type: ignore[arg-type]
    pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, accelerator="gpu", devices=1, callbacks=[Where()]).fit(module, dm)
    assert seen["batch"] == "cuda" and seen.get("exposure", "cuda") == "cuda"


@pytest.mark.parametrize(("model_name", "loss", "pool"), [("mf", "bpr", None), ("lightgcn", "bpr", None),
                                                     ("mf", "ssm", 64), ("mf", "ccl", 64)])
def test_cuda_graph_step_trains_like_eager(model_name: str, loss: str, pool: int | None) -> None:
    """The captured-and-replayed step gives the eager step's weights for the same seed."""
    from recpref.data import Split
    from recpref.modules import PreferenceDataModule, PreferenceModule
    from recpref.training.lightning_engine import make_trainer, run_fit

    d = _data()
    weights = []
    for mode in ("eager", "graph"):
        torch.manual_seed(0)
        model = MF(d.n_users, d.n_items, 8) if model_name == "mf" else LightGCN(d, 8, 2)
        module = PreferenceModule(model, loss=loss, lr=0.01, reg=1e-4, step_mode=mode, neg_pool=pool)  # type: ignore[arg-type]
        dm = PreferenceDataModule(Split(train=d, test=d, allow_overlap=True), batch_size=64, n_neg=1, seed=0,
                                  neg_pool=pool)
        run_fit(make_trainer(max_epochs=5, accelerator="gpu", devices=1), module, dm)
        if mode == "graph":  # captured once and replayed
            assert module._graph is not None and module._graph.graph is not None
        weights.append([p.detach().cpu() for p in model.parameters()])
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
