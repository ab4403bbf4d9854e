"""Shared negative pools: one pool of M uniform items per step scored by one matmul, each user's
own items in it masked out of the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.data import Interactions, Split
from recpref.models import MF, LightGCN
from recpref.modules import PreferenceDataModule, PreferenceModule
from recpref.modules.objectives import POOL_OBJECTIVES, LossSettings
from recpref.sampling import UniformSampler
from recpref.sampling.batches import PositiveSampler, SampledBatches
from recpref.training import settings_from_flat
from recpref.training.lightning_engine import make_trainer, run_fit


def _planted() -> Interactions:
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    like = (np.arange(n_items)[None, :] % 2) == (np.arange(n_users) % 2)[:, None]
    m = (like & (rng.random((n_users, n_items)) < 0.6)) | (rng.random((n_users, n_items)) < 0.03)
    u, i = np.nonzero(m)
    return Interactions.from_indices(u, i, n_users=n_users, n_items=n_items)


def test_pool_batches_and_their_mask_match_a_slow_reference() -> None:
    data = _planted()
    stream = SampledBatches(PositiveSampler(data, "shuffle"), UniformSampler(data), batch_size=16, n_neg=1,
                            steps=4, seed=3, steps_per_call=2, pool=12)
    dense = data.binarized().matrix.toarray() > 0
    chunks = list(stream)
    assert len(chunks) == 2
    for b in chunks:
        assert b["neg"].shape == (2, 12) and b["neg_mask"].shape == (2, 16, 12)
        for s in range(2):
            for r in range(16):
                for j in range(12):
                    assert bool(b["neg_mask"][s, r, j]) == dense[int(b["users"][s, r]), int(b["neg"][s, j])]
    again = list(SampledBatches(PositiveSampler(data, "shuffle"), UniformSampler(data), batch_size=16, n_neg=1,
                                steps=4, seed=3, steps_per_call=2, pool=12))
    assert all(torch.equal(a["neg"], b["neg"]) for a, b in zip(chunks, again))  # seeded


@pytest.mark.parametrize("loss", ["bpr", "ssm", "ccl"])
def test_masked_pool_items_get_no_gradient(loss: str) -> None:
    torch.manual_seed(0)
    model = MF(3, 6, 4)
    users, pos = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])
    pool = torch.tensor([5, 3, 4, 5])  # item 5 masked for every user, item 3 for none
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[:, 0] = mask[:, 3] = True
    obj = POOL_OBJECTIVES[loss](LossSettings(margin=-1.0))(model, users, pos, pool, mask)
    obj.loss.backward()
    grad = model.item_emb.weight.grad
    assert grad is not None
    assert torch.all(grad[5] == 0) and torch.any(grad[3] != 0)


@pytest.mark.parametrize(("loss", "model_name"), [("bpr", "mf"), ("ssm", "mf"), ("ccl", "mf"), ("ssm", "lightgcn")])
def test_pool_training_learns_planted_preferences(loss: str, model_name: str) -> None:
    data = _planted()
    torch.manual_seed(0)
    model = MF(40, 30, 8) if model_name == "mf" else LightGCN(data, 8, 2)
    module = PreferenceModule(model, loss=loss, lr=0.05, reg=1e-4, neg_pool=16)  # type: ignore[arg-type]
    dm = PreferenceDataModule(Split(train=data, test=data, allow_overlap=True), batch_size=64, seed=0, neg_pool=16)
    run_fit(make_trainer(max_epochs=15, accelerator="cpu"), module, dm)
    scores = module.score_all(torch.arange(40))
    own = (torch.arange(30)[None, :] % 2) == (torch.arange(40) % 2)[:, None]
    auc = (scores[:, :, None] > scores[:, None, :])[own[:, :, None] & ~own[:, None, :]].float().mean()
    assert auc > 0.8, auc


@pytest.mark.parametrize(("settings", "error"), [
    ({"loss": "directau", "neg_pool": 8}, "neg_pool applies to loss bpr, ssm, ccl"),
    ({"loss": "ccl", "neg_pool": 8, "n_neg": 2}, "n_neg and neg_pool exclude each other"),
    ({"loss": "ccl", "neg_pool": 0}, "neg_pool must be an integer >= 1"),
    ({"loss": "ssm", "neg_pool": 8, "negatives": "popularity"}, "neg_pool draws uniform items"),
    ({"loss": "ssm", "mask_pool": False}, "mask_pool applies with neg_pool only"),
])
def test_pool_settings_are_validated(settings: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        settings_from_flat(**settings)


def test_pool_fit_through_the_core_goes_to_lightning() -> None:
    from recpref.training import ModelConfig, PairwiseConfig, choose_engine, fit

    cfg = PairwiseConfig(loss="bpr", neg_pool=32, epochs=1, batch_size=64)
    assert choose_engine(ModelConfig("mf"), cfg, accelerator="cpu") == "lightning"
    result = fit(ModelConfig("mf", dim=4), cfg, _planted(), accelerator="cpu")
    assert result.engine == "lightning" and len(result.history) == 1


def test_compiled_pool_mask_agrees_with_the_membership_table_when_the_pool_repeats_items() -> None:
    from recpref.kernels.pool_mask import pool_mask
    from recpref.sampling import MembershipTable

    rng = np.random.default_rng(0)
    dense = rng.random((30, 9)) < 0.4
    dense[:, 0] = False  # no user holds every item
    u, i = np.nonzero(dense)
    data = Interactions.from_indices(u, i, n_users=30, n_items=9)
    table = MembershipTable(data)
    users = torch.as_tensor(rng.integers(0, 30, size=(3, 20)))
    pool = torch.as_tensor(rng.integers(0, 9, size=(3, 25)))  # 25 draws of 9 items: repeats for sure
    got = pool_mask(users.numpy(), pool.numpy(), table.indptr.numpy(), table.indices.numpy(), 9)
    want = table.is_positive(users.unsqueeze(-1), pool.unsqueeze(1))
    assert want.any() and not want.all()
    assert np.array_equal(got, want.numpy())
