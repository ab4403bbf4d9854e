"""Loss contract: finite at +-50, right gradient signs, gradients equal methods.md formulas."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from recpref.losses import bpo_loss, bpr_loss, l2_regularization, nbpo_exact_loss, nbpo_surrogate_loss

TWO_SCORE = {"bpr": bpr_loss, "bpo": bpo_loss}
FOUR_SCORE = {"nbpo_exact": nbpo_exact_loss, "nbpo_surrogate": nbpo_surrogate_loss}


def _leaf(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("name", sorted(TWO_SCORE))
class TestTwoScoreContract:
    def test_finite_at_extremes(self, name: str) -> None:
        pos, neg = _leaf(50.0, -50.0, 50.0), _leaf(-50.0, 50.0, 50.0)
        loss = TWO_SCORE[name](pos, neg)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()  # type: ignore[arg-type]

    def test_gradient_signs(self, name: str) -> None:
        pos, neg = _leaf(0.3, -1.0), _leaf(0.1, 2.0)
        TWO_SCORE[name](pos, neg).backward()
        assert (pos.grad < 0).all() and (neg.grad > 0).all()  # type: ignore[operator]

    def test_weights_and_shapes(self, name: str) -> None:
        pos, neg = torch.randn(4), torch.randn(4, 3)
        f = TWO_SCORE[name]
        w = torch.tensor([1.0, 0.0, 2.0, 1.0])
        manual = torch.stack([f(pos[i : i + 1], neg[i : i + 1]) for i in range(4)])
        assert torch.allclose(f(pos, neg, w), (w * manual).mean())
        with pytest.raises(ValueError, match="weight has shape"):
            f(pos, neg, torch.ones(3))
        with pytest.raises(ValueError, match="neg must have shape"):
            f(pos, torch.randn(5, 2))


def test_bpr_value_and_gradient() -> None:
    pos, neg = _leaf(1.0, 0.0), _leaf(0.0, 2.0)
    loss = bpr_loss(pos, neg)
    x = pos.detach() - neg.detach()
    assert torch.allclose(loss, torch.log1p(torch.exp(-x)).mean())
    loss.backward()
    assert torch.allclose(pos.grad, -torch.sigmoid(-x) / 2)  # type: ignore[arg-type]


def test_bpo_gradient_matches_official_update() -> None:
    # methods.md 1.2: d logL / d s_ui = sigmoid(-s_ui), d logL / d s_uj = -sigmoid(s_uj)
    pos, neg = _leaf(0.7, -0.2), _leaf(1.5, -3.0)
    bpo_loss(pos, neg).backward()
    assert torch.allclose(pos.grad, -torch.sigmoid(-pos.detach()) / 2)  # type: ignore[arg-type]
    assert torch.allclose(neg.grad, torch.sigmoid(neg.detach()) / 2)  # type: ignore[arg-type]


def _nbpo_inputs() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(
        (torch.randn(6, dtype=torch.float64, generator=g) * 2).requires_grad_() for _ in range(4)
    )


def test_nbpo_surrogate_gradients_match_methods_md() -> None:
    pp, pf, nprf, nf = _nbpo_inputs()
    nbpo_surrogate_loss(pp, pf, nprf, nf).backward()
    b = len(pp)
    rho_p, phi_p = torch.sigmoid(pp.detach()), torch.sigmoid(pf.detach())
    rho_n, phi_n = torch.sigmoid(nprf.detach()), torch.sigmoid(nf.detach())
    # log-likelihood gradients in methods.md; the loss is their negation, averaged over B
    assert torch.allclose(pp.grad, -(1 - phi_p) * (1 - rho_p) / b)  # type: ignore[arg-type]
    assert torch.allclose(pf.grad, rho_p * phi_p / b)  # type: ignore[arg-type]
    assert torch.allclose(nprf.grad, -(phi_n * (1 - rho_n) - rho_n) / b)  # type: ignore[arg-type]
    assert torch.allclose(nf.grad, -(rho_n * (1 - phi_n)) / b)  # type: ignore[arg-type]


def test_nbpo_exact_equals_naive_likelihood() -> None:
    pp, pf, nprf, nf = _nbpo_inputs()
    loss = nbpo_exact_loss(pp, pf, nprf, nf)
    rho_p, phi_p = torch.sigmoid(pp), torch.sigmoid(pf)
    rho_n, phi_n = torch.sigmoid(nprf), torch.sigmoid(nf)
    naive = -(torch.log(rho_p * (1 - phi_p)) + torch.log(1 - rho_n * (1 - phi_n))).mean()
    assert torch.allclose(loss, naive)
    g1 = torch.autograd.grad(loss, (pp, pf, nprf, nf))
    g2 = torch.autograd.grad(naive, (pp, pf, nprf, nf))
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b)


@pytest.mark.parametrize("name", sorted(FOUR_SCORE))
def test_nbpo_finite_at_extremes(name: str) -> None:
    vals = [50.0, -50.0, 50.0, -50.0]
    tensors = [_leaf(v, -v, 0.0) for v in vals]
    loss = FOUR_SCORE[name](*tensors)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(t.grad).all() for t in tensors)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(FOUR_SCORE))
def test_nbpo_gradient_signs(name: str) -> None:
    # moderate flip rate: positives pushed up, unvoted pushed down when rho is large
    pp, pf, nprf, nf = _leaf(0.0), _leaf(-3.0), _leaf(2.0), _leaf(-3.0)
    f: Callable[..., torch.Tensor] = FOUR_SCORE[name]
    f(pp, pf, nprf, nf).backward()
    assert pp.grad.item() < 0 and nprf.grad.item() > 0  # type: ignore[union-attr]


def test_l2_regularization() -> None:
    a, b = torch.ones(2, 3), torch.full((2, 3), 2.0)
    assert l2_regularization(a, b).item() == pytest.approx((6 + 24) / 2)
    assert l2_regularization(a, b, batch_size=2).item() == pytest.approx(7.5)
    with pytest.raises(ValueError):
        l2_regularization()
