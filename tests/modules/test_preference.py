"""PreferenceModule + PreferenceDataModule: learns a planted structure, deterministic, validates input."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from recpref.data import Interactions, random_split
from recpref.models import MF, LightGCN
from recpref.modules import PreferenceDataModule, PreferenceModule


def _planted(seed: int = 0) -> Interactions:
    """Two user groups, each liking its own half of the items (with some noise)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    group = np.arange(n_users) % 2
    like = (np.arange(n_items)[None, :] % 2) == group[:, None]
    m = (like & (rng.random((n_users, n_items)) < 0.6)) | (rng.random((n_users, n_items)) < 0.03)
    u, i = np.nonzero(m)
    return Interactions.from_indices(u, i, n_users=n_users, n_items=n_items)


def _fit(loss: str, model_name: str = "mf", seed: int = 0, epochs: int = 15) -> tuple[PreferenceModule, Interactions]:
    data = _planted()
    split = random_split(data, 0.2, seed=1)
    torch.manual_seed(seed)
    model = MF(data.n_users, data.n_items, 8) if model_name == "mf" else LightGCN(split.train, 8, 2)
    module = PreferenceModule(model, loss=loss, lr=0.05, reg=1e-4, flip_dim=4)  # type: ignore[arg-type]
    dm = PreferenceDataModule(split, batch_size=64, n_neg=2, seed=seed)
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, accelerator="cpu")
    trainer.fit(module, dm)
    return module, data


@pytest.mark.parametrize(("loss", "model_name"), [("bpr", "mf"), ("bpo", "mf"), ("nbpo", "mf"),
                                                  ("nbpo_exact", "mf"), ("bpr", "lightgcn"), ("ssm", "mf"),
                                                  ("ccl", "mf"), ("directau", "mf"), ("ssm", "lightgcn"),
                                                  ("ccl", "lightgcn")])
def test_learns_planted_preferences(loss: str, model_name: str) -> None:
    module, data = _fit(loss, model_name)
    scores = module.score_all(torch.arange(data.n_users))
    group = torch.arange(data.n_users) % 2
    own = (torch.arange(data.n_items)[None, :] % 2) == group[:, None]
    # an item of the user's own half outscores one of the other half far more often than not
    auc = (scores[:, :, None] > scores[:, None, :])[own[:, :, None] & ~own[:, None, :]].float().mean()
    assert auc > 0.8, auc


def test_same_seed_same_weights() -> None:
    a, _ = _fit("bpr", seed=3, epochs=2)
    b, _ = _fit("bpr", seed=3, epochs=2)
    c, _ = _fit("bpr", seed=4, epochs=2)
    wa, wb, wc = (m.model.state_dict()["user_emb.weight"] for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_hyperparameters_exclude_objects() -> None:
    module = PreferenceModule(MF(3, 4, 2), loss="bpo", lr=0.1)
    assert "model" not in module.hparams and module.hparams["loss"] == "bpo"


def test_nbpo_creates_flip_model() -> None:
    flip = PreferenceModule(MF(30, 40, 2), loss="nbpo", flip_dim=50).flip_model
    assert flip is not None
    phi = torch.sigmoid(flip.score_all(torch.arange(30)))
    assert 0.0005 < phi.mean().item() < 0.01  # official init: flip rates start near 0.002
    assert PreferenceModule(MF(3, 4, 2), loss="bpr").flip_model is None


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        PreferenceModule(MF(3, 4, 2), loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr must be"):
        PreferenceModule(MF(3, 4, 2), lr=0.0)
    split = random_split(_planted(), 0.2, seed=0)
    with pytest.raises(ValueError, match="negatives must be"):
        PreferenceDataModule(split, negatives="hard")  # type: ignore[arg-type]


def test_chunks_cover_every_step() -> None:
    split = random_split(_planted(), 0.2, seed=0)
    dm = PreferenceDataModule(split, batch_size=8, steps_per_epoch=5, seed=1, steps_per_call=2)
    shapes = [tuple(b["users"].shape) for b in dm.train_dataloader()]
    assert shapes == [(2, 8), (2, 8), (1, 8)]
    with pytest.raises(ValueError, match="steps_per_call"):
        PreferenceDataModule(split, steps_per_call=0)


def test_epochs_draw_different_batches() -> None:
    split = random_split(_planted(), 0.2, seed=0)
    dm = PreferenceDataModule(split, batch_size=16, steps_per_epoch=2, seed=7)
    loader = dm.train_dataloader()
    first = [b["neg"].clone() for b in loader]
    second = [b["neg"].clone() for b in loader]
    assert len(first) == 1 and first[0].shape == (2, 16, 1)  # 2 steps in one chunk
    assert not torch.equal(first[0], second[0])
    again = [b["neg"] for b in PreferenceDataModule(split, batch_size=16, steps_per_epoch=2, seed=7).train_dataloader()]
    assert torch.equal(first[0], again[0])
