"""Losses for missing-not-at-random implicit feedback (methods.md section 2): pure functions
of scores, click labels and propensities. Estimating the propensities lives in
`recpref.propensity`; clipping from below is the ``clip`` argument (Rel-MF's M).

Notation: a batch of (user, item) cells with score ``s``, click ``y`` in {0, 1} and exposure
propensity ``theta`` in (0, 1]. The ideal pointwise loss weighs the local losses
``delta1(s)`` (the item is relevant) and ``delta0(s)`` (it is not) by the unknown relevance
probability gamma; each estimator below replaces gamma by something observable.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "LocalLoss",
    "doubly_robust_loss",
    "local_losses",
    "pointwise_ips_loss",
    "ubpr_loss",
    "wmf_loss",
]

LocalLoss = Literal["log", "squared"]


def local_losses(scores: torch.Tensor, local: LocalLoss = "log") -> tuple[torch.Tensor, torch.Tensor]:
    """``(delta1, delta0)`` per score: log loss ``-log sigmoid(s)``, ``-log(1 - sigmoid(s))``
    (softplus forms, finite at +-50), or the official code's squared loss on a sigmoid
    output ``(1 - sigmoid(s))^2``, ``sigmoid(s)^2``."""
    if local == "log":
        return F.softplus(-scores), F.softplus(scores)
    if local == "squared":
        p = torch.sigmoid(scores)
        return (1 - p) ** 2, p**2
    raise ValueError(f"local loss must be 'log' or 'squared', got {local!r}")


def _check(scores: torch.Tensor, **others: torch.Tensor) -> None:
    for name, t in others.items():
        if t.shape != scores.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(scores.shape)} like the scores")


def _theta(theta: torch.Tensor, clip: float | None) -> torch.Tensor:
    if clip is not None:
        if not 0 < clip <= 1:
            raise ValueError(f"clip must be in (0, 1], got {clip}")
        theta = theta.clamp_min(clip)
    if torch.isnan(theta).any():
        raise ValueError("propensities contain NaN")
    if (theta <= 0).any():
        raise ValueError("propensities must be > 0 (clip them from below)")
    return theta


def pointwise_ips_loss(scores: torch.Tensor, clicks: torch.Tensor, theta: torch.Tensor, *,
                       clip: float | None = None, local: LocalLoss = "log",
                       normalize: Literal["ips", "snips"] = "ips") -> torch.Tensor:
    """Rel-MF: ``mean[(y/theta) delta1(s) + (1 - y/theta) delta0(s)]`` over the batch, with
    ``theta`` clipped to ``max(theta, clip)`` when ``clip`` is given (unbiased for the ideal
    loss when unclipped). ``normalize="snips"`` divides the positive term by
    ``sum_{y=1} 1/theta`` instead of the batch size (self-normalised: lower variance,
    consistent, not unbiased). With ``theta = 1`` this is the naive pointwise loss (BCE for
    ``local="log"``). Note the weight ``1 - y/theta`` is negative for clicked cells with
    theta < 1: with ``local="log"`` that term is unbounded below, which clipping bounds."""
    _check(scores, clicks=clicks, theta=theta)
    th = _theta(theta, clip)
    d1, d0 = local_losses(scores, local)
    w1 = clicks / th
    if normalize == "ips":
        return (w1 * d1 + (1 - w1) * d0).mean()
    if normalize == "snips":
        total = w1.sum()
        positive = (w1 * d1).sum() / total if total > 0 else scores.new_zeros(())
        return positive + ((1 - w1) * d0).mean()
    raise ValueError(f"normalize must be 'ips' or 'snips', got {normalize!r}")


def ubpr_loss(pos: torch.Tensor, neg: torch.Tensor, y_pos: torch.Tensor, y_neg: torch.Tensor,
              theta_pos: torch.Tensor, theta_neg: torch.Tensor, *, clip: float | None = None,
              nonneg: float | None = None) -> torch.Tensor:
    """UBPR (Saito, ICTIR 2020): mean over pairs of
    ``(y_i / theta_i)(1 - y_j / theta_j) * -log sigmoid(s_i - s_j)``, unbiased for the ideal
    pairwise loss ``gamma_i (1 - gamma_j) l(s_i - s_j)``. ``nonneg=beta`` clips each pair's
    loss from below at ``-beta`` (the non-negative variant). All arguments have shape (P,)."""
    _check(pos, neg=neg, y_pos=y_pos, y_neg=y_neg, theta_pos=theta_pos, theta_neg=theta_neg)
    w = (y_pos / _theta(theta_pos, clip)) * (1 - y_neg / _theta(theta_neg, clip))
    per_pair = w * F.softplus(neg - pos)
    if nonneg is not None:
        if nonneg < 0:
            raise ValueError(f"nonneg (beta) must be >= 0, got {nonneg}")
        per_pair = per_pair.clamp_min(-nonneg)
    return per_pair.mean()


def doubly_robust_loss(scores: torch.Tensor, exposed: torch.Tensor, relevant: torch.Tensor, theta: torch.Tensor,
                       imputed: torch.Tensor, *, clip: float | None = None, local: LocalLoss = "log") -> torch.Tensor:
    """Doubly robust pointwise loss for data where exposure is observed (ratings: a cell is
    exposed when rated; relevant when its rating passes the threshold). The relevance estimate
    ``gamma_DR = g + (o / theta)(r - g)`` with imputed relevance ``g`` is unbiased when either
    ``theta`` or ``g`` is right; the loss is ``mean[gamma_DR delta1 + (1 - gamma_DR) delta0]``.
    ``relevant`` must be 0 wherever ``exposed`` is 0."""
    _check(scores, exposed=exposed, relevant=relevant, theta=theta, imputed=imputed)
    if ((relevant > 0) & (exposed == 0)).any():
        raise ValueError("relevant cells must be exposed: relevance is observed only where exposed == 1")
    if ((imputed < 0) | (imputed > 1)).any() or torch.isnan(imputed).any():
        raise ValueError("imputed relevance must be probabilities in [0, 1]")
    th = _theta(theta, clip)
    gamma = imputed + exposed / th * (relevant - imputed)
    d1, d0 = local_losses(scores, local)
    return (gamma * d1 + (1 - gamma) * d0).mean()


def wmf_loss(scores: torch.Tensor, clicks: torch.Tensor, *, negative_weight: float = 1.0) -> torch.Tensor:
    """Weighted MF (Hu et al.; the Rel-MF baseline): squared error on the raw score,
    ``mean[y (1 - s)^2 + w (1 - y) s^2]`` with weight ``w`` on unclicked cells."""
    _check(scores, clicks=clicks)
    if negative_weight < 0:
        raise ValueError(f"negative_weight must be >= 0, got {negative_weight}")
    return (clicks * (1 - scores) ** 2 + negative_weight * (1 - clicks) * scores**2).mean()
