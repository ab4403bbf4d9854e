"""The semi-synthetic simulator, and the acceptance check of the MNAR estimators: averaged
over many exposure draws, IPS-based losses equal the ideal loss (within a confidence bound);
the naive loss does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.losses.unbiased import doubly_robust_loss, pointwise_ips_loss, ubpr_loss
from recpref.simulation import SemiSynthetic, graded_relevance, low_rank_relevance, popularity_exposure

N_DRAWS = 300


@pytest.fixture(scope="module")
def world() -> tuple[SemiSynthetic, torch.Tensor]:
    gamma = low_rank_relevance(30, 40, dim=4, seed=1)
    theta = popularity_exposure(np.arange(1, 41)[::-1] ** 2.0, power=1.0, floor=0.05)  # strong skew
    # a model that has learned something: scores track the true relevance, with noise
    logit = np.log(gamma / (1 - gamma))
    scores = torch.as_tensor(logit + 0.5 * np.random.default_rng(2).standard_normal((30, 40)))
    return SemiSynthetic(gamma, theta), scores


def _estimates(sim: SemiSynthetic, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([fn(sim.draw(seed)) for seed in range(N_DRAWS)])


def _z(values: np.ndarray, target: float) -> float:
    return abs(values.mean() - target) / (values.std(ddof=1) / np.sqrt(len(values)))


@pytest.mark.parametrize("local", ["log", "squared"])
def test_ips_is_unbiased_and_naive_is_not(world: tuple[SemiSynthetic, torch.Tensor], local: str) -> None:
    sim, s = world
    ideal = sim.ideal_loss(s, local)  # type: ignore[arg-type]
    th = torch.as_tensor(sim.theta_matrix().copy())
    ips = _estimates(sim, lambda d: float(pointwise_ips_loss(s, torch.as_tensor(d.clicks, dtype=s.dtype), th,
                                                             local=local)))  # type: ignore[arg-type]
    naive = _estimates(sim, lambda d: float(pointwise_ips_loss(s, torch.as_tensor(d.clicks, dtype=s.dtype),
                                                               torch.ones_like(th), local=local)))  # type: ignore[arg-type]
    assert _z(ips, ideal) < 4.0, (ips.mean(), ideal)
    assert _z(naive, ideal) > 10.0, (naive.mean(), ideal)


def test_clipping_trades_bias_for_variance(world: tuple[SemiSynthetic, torch.Tensor]) -> None:
    sim, s = world
    th = torch.as_tensor(sim.theta_matrix().copy())
    ips = _estimates(sim, lambda d: float(pointwise_ips_loss(s, torch.as_tensor(d.clicks, dtype=s.dtype), th)))
    clipped = _estimates(sim, lambda d: float(pointwise_ips_loss(s, torch.as_tensor(d.clicks, dtype=s.dtype), th,
                                                                 clip=0.3)))
    assert clipped.std() < ips.std()
    assert _z(clipped, sim.ideal_loss(s)) > 4.0


def test_ubpr_is_unbiased_for_the_ideal_pairwise_loss(world: tuple[SemiSynthetic, torch.Tensor]) -> None:
    sim, s = world
    n_u, n_i = sim.shape
    ui, uj = torch.meshgrid(torch.arange(n_i), torch.arange(n_i), indexing="ij")
    keep = ui != uj
    i_idx, j_idx = ui[keep], uj[keep]
    users = torch.arange(n_u).repeat_interleave(len(i_idx))
    i_all, j_all = i_idx.repeat(n_u), j_idx.repeat(n_u)
    g = torch.as_tensor(sim.gamma)
    th = torch.as_tensor(sim.theta_matrix().copy())
    pair_loss = torch.nn.functional.softplus(s[users, j_all] - s[users, i_all])
    ideal = float((g[users, i_all] * (1 - g[users, j_all]) * pair_loss).mean())

    def est(d) -> float:  # type: ignore[no-untyped-def]
        y = torch.as_tensor(d.clicks, dtype=s.dtype)
        return float(ubpr_loss(s[users, i_all], s[users, j_all], y[users, i_all], y[users, j_all],
                               th[users, i_all], th[users, j_all]))

    def naive(d) -> float:  # type: ignore[no-untyped-def]
        y = torch.as_tensor(d.clicks, dtype=s.dtype)
        return float((y[users, i_all] * (1 - y[users, j_all]) * pair_loss).mean())

    sims = SemiSynthetic(sim.gamma, sim.theta)
    ubpr = np.array([est(sims.draw(k)) for k in range(120)])
    base = np.array([naive(sims.draw(k)) for k in range(120)])
    assert _z(ubpr, ideal) < 4.0
    assert _z(base, ideal) > 10.0


def test_doubly_robust_needs_only_one_model_right(world: tuple[SemiSynthetic, torch.Tensor]) -> None:
    sim, s = world
    ideal = sim.ideal_loss(s)
    th = torch.as_tensor(sim.theta_matrix().copy())
    gamma = torch.as_tensor(sim.gamma)
    wrong_theta, wrong_gamma = torch.full_like(th, 0.5), torch.full_like(gamma, 0.5)

    def dr(theta: torch.Tensor, imputed: torch.Tensor) -> np.ndarray:
        return _estimates(sim, lambda d: float(doubly_robust_loss(
            s, torch.as_tensor(d.exposed, dtype=s.dtype), torch.as_tensor(d.clicks, dtype=s.dtype), theta, imputed)))

    assert _z(dr(th, wrong_gamma), ideal) < 4.0      # right propensities
    assert _z(dr(wrong_theta, gamma), ideal) < 4.0   # right imputation
    assert _z(dr(wrong_theta, wrong_gamma), ideal) > 10.0


def test_graded_relevance_and_generators() -> None:
    r = np.array([[0, 1, 3, 5]])
    np.testing.assert_allclose(graded_relevance(r, eps=0.1), [[0.1, 0.1, 0.1 + 0.9 * 3 / 15, 1.0]])
    np.testing.assert_allclose(graded_relevance(r, eps=0.0, unrated=0.0)[0, 0], 0.0)
    with pytest.raises(ValueError, match="ratings must be in"):
        graded_relevance(np.array([[6.0]]))
    with pytest.raises(ValueError, match="popularity must be"):
        popularity_exposure(np.zeros(3))
    with pytest.raises(ValueError, match="exposure propensities"):
        SemiSynthetic(np.full((2, 3), 0.5), np.array([0.5, 0.0, 0.2]))
    d = SemiSynthetic(np.full((20, 30), 0.5), np.full(30, 0.5)).draw(0)
    assert (d.clicks == (d.exposed & d.relevant)).all()
    assert d.to_interactions().nnz == int(d.clicks.sum())


def test_complete_ratings_keeps_observed_and_predicts_structure() -> None:
    from recpref.simulation import complete_ratings

    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((40, 2)), rng.standard_normal((30, 2))
    full = np.clip(np.rint(3 + u @ v.T), 1, 5)
    mask = rng.random(full.shape) < 0.5
    observed = np.where(mask, full, 0)
    done = complete_ratings(observed, dim=2, reg=0.5, iterations=20)
    assert np.array_equal(done[mask], full[mask]) and done.min() >= 1 and done.max() <= 5
    hidden = ~mask
    assert np.mean(np.abs(done[hidden] - full[hidden])) < np.mean(np.abs(observed[mask].mean() - full[hidden]))
    with pytest.raises(ValueError, match="no observed rating"):
        complete_ratings(np.zeros((3, 3)))
