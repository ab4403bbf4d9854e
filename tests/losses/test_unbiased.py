"""MNAR losses: formulas against hand computation, gradients finite, errors clear."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recpref.losses.unbiased import doubly_robust_loss, local_losses, pointwise_ips_loss, ubpr_loss, wmf_loss


def test_local_losses() -> None:
    s = torch.tensor([-50.0, 0.0, 2.0, 50.0])
    d1, d0 = local_losses(s, "log")
    torch.testing.assert_close(d1, -torch.log(torch.sigmoid(s.double())).float(), rtol=1e-5, atol=1e-6)
    assert torch.isfinite(d1).all() and torch.isfinite(d0).all() and d0[0] < 1e-20
    q1, q0 = local_losses(s, "squared")
    torch.testing.assert_close(q1, (1 - torch.sigmoid(s)) ** 2)
    with pytest.raises(ValueError, match="local loss"):
        local_losses(s, "hinge")  # type: ignore[arg-type]


def test_pointwise_ips_formula_and_special_cases() -> None:
    s = torch.tensor([0.3, -1.0, 2.0, 0.0])
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    th = torch.tensor([0.5, 0.2, 0.05, 1.0])
    d1, d0 = F.softplus(-s), F.softplus(s)
    w = y / th
    torch.testing.assert_close(pointwise_ips_loss(s, y, th), (w * d1 + (1 - w) * d0).mean())
    clipped = torch.tensor([0.5, 0.2, 0.1, 1.0])
    wc = y / clipped
    torch.testing.assert_close(pointwise_ips_loss(s, y, th, clip=0.1), (wc * d1 + (1 - wc) * d0).mean())
    # theta = 1: the naive BCE
    torch.testing.assert_close(pointwise_ips_loss(s, y, torch.ones(4)), F.binary_cross_entropy_with_logits(s, y))
    snips = (w * d1).sum() / w.sum() + ((1 - w) * d0).mean()
    torch.testing.assert_close(pointwise_ips_loss(s, y, th, normalize="snips"), snips)
    sq = pointwise_ips_loss(s, y, th, local="squared")
    p = torch.sigmoid(s)
    torch.testing.assert_close(sq, (w * (1 - p) ** 2 + (1 - w) * p**2).mean())


def test_ubpr_formula_and_nonnegative_clip() -> None:
    pos, neg = torch.tensor([1.0, 0.5, -0.2]), torch.tensor([0.0, 1.5, 0.3])
    yp, yn = torch.ones(3), torch.tensor([0.0, 1.0, 1.0])
    tp, tn = torch.tensor([0.5, 0.25, 1.0]), torch.tensor([0.9, 0.2, 1.0])
    w = (yp / tp) * (1 - yn / tn)  # the second pair has a negative weight: 4 * (1 - 5)
    per = w * F.softplus(neg - pos)
    torch.testing.assert_close(ubpr_loss(pos, neg, yp, yn, tp, tn), per.mean())
    torch.testing.assert_close(ubpr_loss(pos, neg, yp, yn, tp, tn, nonneg=0.01), per.clamp_min(-0.01).mean())
    assert ubpr_loss(pos, neg, yp, yn, tp, tn, nonneg=0.01) > ubpr_loss(pos, neg, yp, yn, tp, tn)


def test_doubly_robust_formula() -> None:
    s = torch.tensor([0.3, -1.0, 2.0])
    o, r = torch.tensor([1.0, 1.0, 0.0]), torch.tensor([1.0, 0.0, 0.0])
    th, g = torch.tensor([0.5, 0.25, 0.1]), torch.tensor([0.4, 0.4, 0.4])
    gamma = g + o / th * (r - g)
    expected = (gamma * F.softplus(-s) + (1 - gamma) * F.softplus(s)).mean()
    torch.testing.assert_close(doubly_robust_loss(s, o, r, th, g), expected)
    with pytest.raises(ValueError, match="relevant cells must be exposed"):
        doubly_robust_loss(s, torch.zeros(3), r, th, g)
    with pytest.raises(ValueError, match="imputed relevance"):
        doubly_robust_loss(s, o, r, th, torch.tensor([1.5, 0.0, 0.0]))


def test_wmf_and_errors() -> None:
    s, y = torch.tensor([0.9, 0.2]), torch.tensor([1.0, 0.0])
    torch.testing.assert_close(wmf_loss(s, y, negative_weight=0.5), (0.01 + 0.5 * 0.04) / torch.tensor(2.0))
    with pytest.raises(ValueError, match="shape"):
        pointwise_ips_loss(s, y, torch.ones(3))
    with pytest.raises(ValueError, match="must be > 0"):
        pointwise_ips_loss(s, y, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        pointwise_ips_loss(s, y, torch.tensor([float("nan"), 1.0]))
    with pytest.raises(ValueError, match="clip must be"):
        pointwise_ips_loss(s, y, torch.ones(2), clip=2.0)
    with pytest.raises(ValueError, match="negative_weight"):
        wmf_loss(s, y, negative_weight=-1)


def test_gradients_are_finite_at_extreme_scores() -> None:
    s = torch.tensor([-60.0, 60.0, 0.0], requires_grad=True)
    loss = pointwise_ips_loss(s, torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.01, 0.5, 0.2]), clip=0.05)
    loss.backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()
