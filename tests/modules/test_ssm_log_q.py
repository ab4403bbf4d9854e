"""Sampled softmax's log-Q correction follows the negative sampler's proposal: uniform or
popularity (the sampler's own weights), wired from the training core to the objective."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.data import Interactions
from recpref.losses.softmax import sampled_softmax_loss
from recpref.models import MF
from recpref.modules.objectives import PAIRWISE_OBJECTIVES, LossSettings
from recpref.sampling import PopularitySampler
from recpref.sampling.batches import proposal_log_prob


def _data() -> Interactions:
    rng = np.random.default_rng(1)
    n_users, n_items = 60, 25
    p = np.linspace(0.5, 0.02, n_items)  # item 0 popular, item 24 rare
    m = rng.random((n_users, n_items)) < p[None, :]
    m[:, -1] = False  # one item nobody has: smoothing keeps it reachable
    u, i = np.nonzero(m)
    return Interactions.from_indices(u, i, n_users=n_users, n_items=n_items)


def test_uniform_proposal_is_one_over_the_catalogue() -> None:
    data = _data()
    lq = proposal_log_prob(data, "uniform")
    assert lq.shape == (25,) and torch.allclose(lq, torch.full((25,), -np.log(25.0), dtype=torch.float32))


def test_popularity_proposal_matches_the_samplers_draws() -> None:
    data = _data()
    lq = proposal_log_prob(data, "popularity")
    counts = torch.as_tensor(data.item_counts, dtype=torch.float64)
    want = (counts + 1.0) ** 0.75
    assert torch.allclose(lq.double().exp(), want / want.sum(), atol=1e-6)
    sampler = PopularitySampler(data, exponent=0.75, smoothing=1.0)  # what build_batches constructs
    gen = torch.Generator().manual_seed(0)
    draws = sampler._propose((200_000,), gen)
    freq = torch.bincount(draws, minlength=25).double() / draws.numel()
    assert torch.allclose(freq, lq.double().exp(), atol=4e-3)  # the proposal the correction assumes


def test_ssm_objective_gathers_the_proposal_at_each_negative() -> None:
    torch.manual_seed(0)
    model = MF(10, 25, 8)
    users, pos = torch.tensor([0, 3, 7]), torch.tensor([1, 2, 3])
    neg = torch.tensor([[0, 24, 5, 5], [9, 0, 1, 2], [24, 24, 3, 8]])
    lq = torch.linspace(-1.0, -6.0, 25)
    got = PAIRWISE_OBJECTIVES["ssm"](LossSettings(temperature=0.5, item_log_q=lq))(model, None, users, pos, neg)
    t = model.triplet(users, pos, neg)
    want = sampled_softmax_loss(t.pos, t.neg, temperature=0.5, log_q=lq[neg])
    assert torch.allclose(got.loss, want)
    uniform = PAIRWISE_OBJECTIVES["ssm"](LossSettings(temperature=0.5))(model, None, users, pos, neg)
    assert not torch.allclose(got.loss, uniform.loss)  # the proposal changes the loss
    with pytest.raises(ValueError, match="item_log_q must have shape"):
        PAIRWISE_OBJECTIVES["ssm"](LossSettings(item_log_q=torch.zeros(3, 3)))


@pytest.mark.parametrize(("negatives", "expect_table"), [("popularity", True), ("uniform", False)])
def test_core_hands_the_samplers_proposal_to_ssm(monkeypatch: pytest.MonkeyPatch, negatives: str,
                                                  expect_table: bool) -> None:
    import recpref.modules as modules
    from recpref.training import fit, settings_from_flat

    seen: list[LossSettings] = []
    real = modules.PreferenceModule

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs["loss_settings"])  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(modules, "PreferenceModule", spy)
    data = _data()
    model_cfg, train_cfg = settings_from_flat(loss="ssm", negatives=negatives, n_neg=4, epochs=1, dim=8)
    fit(model_cfg, train_cfg, data, progress=False)
    (settings,) = seen
    if expect_table:
        assert settings.item_log_q is not None
        assert torch.allclose(settings.item_log_q, proposal_log_prob(data, "popularity"))
    else:
        assert settings.item_log_q is None
