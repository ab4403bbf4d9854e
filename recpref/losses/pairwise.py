"""Pure loss functions of scores: BPR, BPO and NBPO (methods.md section 1).

Every loss maps score tensors to a scalar, with optional per-sample weights ``weight (B,)``
(e.g. inverse propensities). Log-sigmoids are computed with ``F.logsigmoid`` so the losses and
their gradients stay finite for scores of +-50 and beyond.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bpo_loss", "bpr_loss", "l2_regularization", "nbpo_exact_loss", "nbpo_surrogate_loss"]


def _reduce(per_sample: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return per_sample.mean()
    if weight.shape != per_sample.shape:
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected {tuple(per_sample.shape)}")
    return (weight * per_sample).mean()


def _neg_2d(pos: torch.Tensor, neg: torch.Tensor, pos_name: str = "pos", neg_name: str = "neg") -> torch.Tensor:
    """pos (B,) and neg (B,) or (B, K), K >= 1 -> neg as (B, K); a clear error naming the arguments otherwise."""
    if pos.dim() != 1:
        raise ValueError(f"{pos_name} must have shape (B,), got {tuple(pos.shape)}")
    neg = neg.unsqueeze(-1) if neg.dim() == 1 else neg
    if neg.dim() != 2 or neg.shape[0] != pos.shape[0] or neg.shape[1] < 1:
        raise ValueError(
            f"{neg_name} must have shape (B,) or (B, K) with B={pos.shape[0]}, K>=1, got {tuple(neg.shape)}"
        )
    return neg


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """BPR: mean over pairs of ``softplus(s_uj - s_ui) = -log sigmoid(s_ui - s_uj)``.

    pos (B,), neg (B,) or (B, K) -> scalar; each positive's K pairs are averaged first.
    """
    neg = _neg_2d(pos, neg)
    per_pos = -F.logsigmoid(pos.unsqueeze(-1) - neg).mean(-1)
    return _reduce(per_pos, weight)


def bpo_loss(pos: torch.Tensor, neg: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """BPO (pointwise Bernoulli likelihood): ``-log sigmoid(s_ui) - mean_K log(1 - sigmoid(s_uj))``.

    The positive term counts once per positive and the K negative terms are averaged. The
    official code adds the positive term once per negative instead; with K = 1 the two agree.
    pos (B,), neg (B,) or (B, K) -> scalar.
    """
    neg = _neg_2d(pos, neg)
    per_pos = -F.logsigmoid(pos) - F.logsigmoid(-neg).mean(-1)
    return _reduce(per_pos, weight)


def nbpo_exact_loss(
    pos_pref: torch.Tensor,
    pos_flip: torch.Tensor,
    neg_pref: torch.Tensor,
    neg_flip: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """NBPO, exact negative log-likelihood ("NBPOo").

    rho = sigmoid(pref), phi = sigmoid(flip). Observed positive: P = rho (1 - phi);
    unvoted: P = 1 - rho (1 - phi). Loss = -[log rho + log(1 - phi)] - mean_K log(1 - rho(1 - phi)).
    Shapes: pos_* (B,), neg_* (B,) or (B, K) -> scalar.
    """
    neg_pref = _neg_2d(pos_pref, neg_pref)
    neg_flip = _neg_2d(pos_flip, neg_flip)
    pos_term = F.logsigmoid(pos_pref) + F.logsigmoid(-pos_flip)
    # log(1 - rho(1-phi)) = log((1-rho) + rho*phi) = logaddexp(log(1-rho), log rho + log phi)
    neg_term = torch.logaddexp(F.logsigmoid(-neg_pref), F.logsigmoid(neg_pref) + F.logsigmoid(neg_flip))
    return _reduce(-(pos_term + neg_term.mean(-1)), weight)


def nbpo_surrogate_loss(
    pos_pref: torch.Tensor,
    pos_flip: torch.Tensor,
    neg_pref: torch.Tensor,
    neg_flip: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """NBPO with the official code's surrogate gradient (``_NBPO.py``), as a loss.

    Each factor of a product likelihood gets the gradient of its own log, weighted by the
    other factor's probability held constant (sg = stop-gradient)::

        L_pos = -( sg(1-phi) log rho + sg(rho) log(1-phi) )
        L_neg = -( log(1-rho) + sg(phi) log rho + sg(rho) log phi )

    Gradients w.r.t. the logits: positive d pref = -(1-phi)(1-rho), d flip = rho phi;
    unvoted d pref = rho - phi (1-rho), d flip = -rho (1-phi). Rank with rho only.
    Shapes: pos_* (B,), neg_* (B,) or (B, K) -> scalar.
    """
    neg_pref = _neg_2d(pos_pref, neg_pref)
    neg_flip = _neg_2d(pos_flip, neg_flip)
    rho_p, phi_p = torch.sigmoid(pos_pref).detach(), torch.sigmoid(pos_flip).detach()
    rho_n, phi_n = torch.sigmoid(neg_pref).detach(), torch.sigmoid(neg_flip).detach()
    l_pos = -((1 - phi_p) * F.logsigmoid(pos_pref) + rho_p * F.logsigmoid(-pos_flip))
    l_neg = -(F.logsigmoid(-neg_pref) + phi_n * F.logsigmoid(neg_pref) + rho_n * F.logsigmoid(neg_flip))
    return _reduce(l_pos + l_neg.mean(-1), weight)


def l2_regularization(*embeddings: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """``1/2 * sum ||e||^2`` over the batch's embedding rows, divided by ``batch_size`` when
    given (LightGCN/NGCF code: ``reg * l2_regularization(u, i, j, batch_size=B)``)."""
    if not embeddings:
        raise ValueError("l2_regularization needs at least one tensor")
    total = sum(e.pow(2).sum() for e in embeddings) / 2
    assert isinstance(total, torch.Tensor)
    return total / batch_size if batch_size else total
