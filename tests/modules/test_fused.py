"""The fused numba MF trainer against the autograd + torch.optim.Adam reference."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from recpref.data import Interactions, random_split
from recpref.losses import bpo_loss, bpr_loss, l2_regularization
from recpref.models import MF
from recpref.modules import PreferenceDataModule, PreferenceModule
from recpref.training.fused import FusedMFTrainer


def _reference_steps(model: MF, loss: str, reg: float, lr: float, users: torch.Tensor, pos: torch.Tensor,
                     neg: torch.Tensor) -> list[float]:
    """Plain autograd: mean loss + reg * L2(batch rows) / B, then torch's (unfused) Adam."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    out = []
    for s in range(users.shape[0]):
        u, p, n = users[s], pos[s], neg[s]
        eu, ep, en = model.user_emb.weight[u], model.item_emb.weight[p], model.item_emb.weight[n]
        s_pos = (eu * ep).sum(-1)
        s_neg = (eu.unsqueeze(1) * en).sum(-1)
        main = bpr_loss(s_pos, s_neg) if loss == "bpr" else bpo_loss(s_pos, s_neg)
        total = main + reg * l2_regularization(eu, ep, en, batch_size=len(u))
        opt.zero_grad()
        total.backward()
        opt.step()
        out.append(float(total.detach()))
    return out


@pytest.mark.parametrize("loss", ["bpr", "bpo"])
@pytest.mark.parametrize(("n_neg", "reg"), [(1, 0.0), (3, 0.05)])
def test_fused_steps_match_autograd_and_adam(loss: str, n_neg: int, reg: float) -> None:
    torch.manual_seed(0)
    n_users, n_items, steps, batch = 7, 11, 5, 16  # few rows: duplicates in every batch
    ref = MF(n_users, n_items, 8, init_std=0.5)
    fused_model = MF(n_users, n_items, 8)
    fused_model.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(1)
    users = torch.randint(n_users, (steps, batch), generator=g)
    pos = torch.randint(n_items, (steps, batch), generator=g)
    neg = torch.randint(n_items, (steps, batch, n_neg), generator=g)
    expected = _reference_steps(ref, loss, reg, 0.01, users, pos, neg)
    trainer = FusedMFTrainer(fused_model, loss, lr=0.01, reg=reg)  # type: ignore[arg-type]
    got = trainer.step(users[:2], pos[:2], neg[:2]) * 2 + trainer.step(users[2:], pos[2:], neg[2:]) * 3
    assert got == pytest.approx(sum(expected), rel=1e-5)
    assert trainer.steps == steps
    for name in ("user_emb.weight", "item_emb.weight"):
        torch.testing.assert_close(fused_model.state_dict()[name], ref.state_dict()[name], rtol=1e-5, atol=1e-6)


def _planted() -> Interactions:
    rng = np.random.default_rng(0)
    group = np.arange(40) % 2
    like = (np.arange(30)[None, :] % 2) == group[:, None]
    u, i = np.nonzero((like & (rng.random((40, 30)) < 0.6)) | (rng.random((40, 30)) < 0.03))
    return Interactions.from_indices(u, i, n_users=40, n_items=30)


def test_fused_fit_equals_the_lightning_fit() -> None:
    split = random_split(_planted(), 0.2, seed=1)
    torch.manual_seed(0)
    a = MF(40, 30, 8, init="xavier")
    b = MF(40, 30, 8)
    b.load_state_dict(a.state_dict())
    module = PreferenceModule(a, loss="bpr", lr=0.01, reg=1e-3)
    dm = PreferenceDataModule(split, batch_size=64, n_neg=2, stream="shuffle", seed=3)
    pl.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, limit_val_batches=0, accelerator="cpu").fit(module, dm)
    history = FusedMFTrainer(b, "bpr", lr=0.01, reg=1e-3).fit(split.train, epochs=4, batch_size=64, n_neg=2,
                                                                stream="shuffle", seed=3)
    assert len(history) == 4 and history[-1] < history[0]
    for name in ("user_emb.weight", "item_emb.weight"):
        torch.testing.assert_close(b.state_dict()[name], a.state_dict()[name], rtol=1e-4, atol=1e-5)


def test_fused_fit_stops_when_asked() -> None:
    data = _planted()
    seen: list[int] = []
    FusedMFTrainer(MF(40, 30, 4)).fit(data, epochs=10, batch_size=32, on_epoch_end=lambda e, _: seen.append(e) or e == 2)
    assert seen == [0, 1, 2]


def test_fused_trainer_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="without biases"):
        FusedMFTrainer(MF(3, 4, 2, biases=True))
    with pytest.raises(ValueError, match="loss must be one of"):
        FusedMFTrainer(MF(3, 4, 2), "nbpo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="need lr > 0"):
        FusedMFTrainer(MF(3, 4, 2), lr=0.0)
    t = FusedMFTrainer(MF(3, 4, 2))
    with pytest.raises(ValueError, match="negative item indices out of range"):
        t.step(torch.tensor([0]), torch.tensor([1]), torch.tensor([[4]]))
    with pytest.raises(ValueError, match=r"need users/pos \(S, B\)"):
        t.step(torch.tensor([[0]]), torch.tensor([[1]]), torch.tensor([[1]]))
    with pytest.raises(ValueError, match="train is"):
        t.fit(_planted(), epochs=1)
