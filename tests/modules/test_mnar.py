"""Click-cell sampler and the MNAR Lightning module."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from recpref.data import Interactions
from recpref.models import MF
from recpref.modules import MNARDataModule, MNARModule, click_rate_among_exposed
from recpref.propensity import popularity_propensity
from recpref.sampling import make_generator
from recpref.sampling.cells import ClickCellSampler
from recpref.simulation import SemiSynthetic, low_rank_relevance, popularity_exposure


def _world(seed: int = 0) -> tuple[SemiSynthetic, Interactions]:
    gamma = low_rank_relevance(60, 40, dim=3, seed=seed, offset=-1.0)
    theta = popularity_exposure(np.linspace(1.0, 0.02, 40), power=1.0, floor=0.02)
    sim = SemiSynthetic(gamma, theta)
    return sim, sim.draw(seed).to_interactions()


def test_cell_sampler_labels_are_the_clicks() -> None:
    _, clicks = _world()
    s = ClickCellSampler(clicks)
    dense = clicks.matrix.toarray() > 0
    u, i, y = s.pointwise(4000, make_generator(0))
    assert u.shape == i.shape == y.shape == (4000,)
    assert np.array_equal(dense[u.numpy(), i.numpy()], y.numpy().astype(bool))
    assert y[:2000].all()  # the first half are clicks
    # the second half is uniform over all cells: its click rate estimates the density
    assert abs(float(y[2000:].mean()) - dense.mean()) < 0.03
    u, i, j, yj = s.pairwise(3000, make_generator(1))
    assert dense[u.numpy(), i.numpy()].all() and (i != j).all()
    assert np.array_equal(dense[u.numpy(), j.numpy()], yj.numpy().astype(bool))
    u, i, j, yj = s.pairwise(3000, make_generator(1), unclicked_only=True)
    assert not dense[u.numpy(), j.numpy()].any() and (yj == 0).all()
    a = s.pointwise(100, make_generator(5))
    b = s.pointwise(100, make_generator(5))
    assert all(torch.equal(x, z) for x, z in zip(a, b))


@pytest.mark.parametrize("loss", ["naive", "relmf", "snips", "dr", "wmf", "bpr", "ubpr"])
def test_every_mnar_loss_trains_and_learns(loss: str) -> None:
    sim, clicks = _world()
    torch.manual_seed(0)
    model = MF(clicks.n_users, clicks.n_items, 8)
    exposure_cells = np.nonzero(sim.draw(0).exposed)
    exposure = Interactions.from_indices(*exposure_cells, n_users=clicks.n_users, n_items=clicks.n_items)
    extra = {"exposure": exposure, "imputed": click_rate_among_exposed(clicks, exposure)} if loss == "dr" else {}
    theta = sim.theta if loss != "dr" else np.broadcast_to(sim.theta, clicks.shape)
    local = "squared" if loss in ("relmf", "snips", "dr") else "log"
    module = MNARModule(model, loss, theta, lr=0.02, local=local, clip=0.02 if loss != "naive" else None,  # type: ignore[arg-type]
                        **extra)
    dm = MNARDataModule(clicks, loss, batch_size=256, steps_per_epoch=150, seed=0)  # type: ignore[arg-type]
    pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, accelerator="cpu").fit(module, dm)
    scores = module.score_all(torch.arange(clicks.n_users)).numpy()
    # scores should rank true relevance above chance: positive rank correlation per user
    corr = np.mean([np.corrcoef(scores[u], sim.gamma[u])[0, 1] for u in range(clicks.n_users)])
    assert corr > 0.2, corr


def test_mnar_module_refuses_bad_setups() -> None:
    _, clicks = _world()
    model = MF(clicks.n_users, clicks.n_items, 4)
    with pytest.raises(ValueError, match="needs propensities"):
        MNARModule(model, "relmf")
    with pytest.raises(ValueError, match="zero or negative"):
        MNARModule(model, "relmf", np.zeros(clicks.n_items))
    with pytest.raises(ValueError, match=r"expected \(40,\)"):
        MNARModule(model, "ubpr", np.full(39, 0.5))
    with pytest.raises(ValueError, match="needs exposure"):
        MNARModule(model, "dr", popularity_propensity(clicks), imputed=0.1)
    with pytest.raises(ValueError, match="needs imputed"):
        MNARModule(model, "dr", popularity_propensity(clicks), exposure=clicks)
    with pytest.raises(ValueError, match="loss must be one of naive"):
        MNARModule(model, "ips_bpr")  # type: ignore[arg-type]


def test_exposure_and_clicks_may_cover_a_whole_row() -> None:
    """A user shown (or clicking) every item is fine for membership lookups; only exact
    unclicked negatives (BPR) need a user with at least one unclicked item."""
    u, i = np.nonzero(np.ones((3, 4), dtype=bool))
    everything = Interactions.from_indices(u, i, n_users=3, n_items=4)
    clicks = Interactions.from_indices([0, 1, 2, 2, 2, 2], [0, 1, 0, 1, 2, 3], n_users=3, n_items=4)
    module = MNARModule(MF(3, 4, 2), "dr", np.full(4, 0.5), exposure=everything, imputed=0.3)
    assert module.exposure_table is not None
    assert module.exposure_table.is_positive(torch.tensor([2]), torch.tensor([3])).all()
    s = ClickCellSampler(clicks)
    _, _, y = s.pointwise(64, make_generator(0))
    assert y[:32].all()
    with pytest.raises(ValueError, match="interacted with every item"):
        s.pairwise(8, make_generator(0), unclicked_only=True)
