"""Softmax-family losses for many negatives: sampled/full softmax, SimpleX's CCL and DirectAU.

Pure functions of scores or embeddings -> scalar (no ids, no state, no config). Shapes use
``B`` for the number of positives in the batch, ``N`` for negatives per positive, ``d`` for the
embedding size. Softmaxes go through ``logsumexp`` so values and gradients stay finite for
scores of +-50 and beyond. Optional ``weight (B,)`` multiplies each positive's term before the
batch mean (e.g. inverse propensities), as in :mod:`recpref.losses.pairwise`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from recpref.losses.pairwise import _neg_2d, _reduce

__all__ = ["ccl_loss", "directau_loss", "full_softmax_loss", "sampled_softmax_loss"]


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")


class _SoftmaxOverNegatives(torch.autograd.Function):
    """The sampled softmax with its gradient written out: one (B, 1 + N) logit block, one fused
    ``log_softmax`` and, backward, ``softmax - onehot`` scaled, instead of autograd through the
    dozen element-wise passes of ``logsumexp`` over a concatenation. Same value and gradient (tested against the
    autograd path and the slow reference); no gradient reaches ``offset``."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, pos: Tensor, neg: Tensor, temperature: float,
                offset: Tensor | None, mask: Tensor | None, weight: Tensor | None) -> Tensor:
        b, n = neg.shape
        logits = torch.empty((b, n + 1), dtype=torch.result_type(pos, neg), device=neg.device)
        logits[:, 0] = pos
        logits[:, 1:] = neg
        logits.mul_(1.0 / temperature)
        if offset is not None:
            if offset.numel() == 1:  # one offset for every negative: move it to the positive instead
                logits[:, 0] += offset.reshape(())
            else:
                logits[:, 1:] -= offset
        if mask is not None:
            logits[:, 1:].masked_fill_(mask, float("-inf"))
        log_p = torch.log_softmax(logits, dim=1)
        per_pos = -log_p[:, 0]
        ctx.temperature = temperature  # type: ignore[attr-defined]
        ctx.save_for_backward(log_p, weight)  # type: ignore[arg-type]  # None is allowed
        return (per_pos if weight is None else weight * per_pos).mean()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor
                 ) -> tuple[Tensor, Tensor, None, None, None, None]:
        log_p, weight = ctx.saved_tensors  # type: ignore[attr-defined]
        g = log_p.exp()
        g[:, 0] -= 1.0
        scale = grad / (log_p.shape[0] * ctx.temperature)  # type: ignore[attr-defined]
        g.mul_(scale if weight is None else (weight * scale).unsqueeze(-1))
        return g[:, 0], g[:, 1:], None, None, None, None


def sampled_softmax_loss(
    pos: Tensor,
    neg: Tensor,
    *,
    temperature: float = 1.0,
    log_q: Tensor | None = None,
    weight: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    r"""Sampled softmax (SSM) over the positive and N drawn negatives, with optional log-Q correction.

    pos (B,), neg (B, N) (or (B,) for N = 1) scores -> scalar. Per positive b, with T the
    temperature and o_bj the logit offset of negative j::

        loss_b = -log softmax([s_b+ / T, s_b1 / T - o_b1, ..., s_bN / T - o_bN])[0]
               = logsumexp([s_b+ / T, s_bj / T - o_bj]_j) - s_b+ / T

    and the result is ``mean_b loss_b`` (or ``mean_b weight_b * loss_b``).

    - ``log_q is None``: o_bj = 0, the plain sampled softmax over the drawn negatives.
    - ``log_q`` given (log proposal probability of each drawn negative, broadcastable to (B, N):
      (N,) for a pool shared by the batch, (B, N) for per-positive draws): o_bj = log q_bj + log N
      (log-Q correction; Jean et al., ACL 2015; Yi et al., RecSys 2019). Then
      ``sum_j exp(s_bj / T) / (N q_bj)`` is an unbiased importance-sampling estimate of the
      partition sum over the items the proposal covers, so as N grows the loss converges to the
      full softmax loss of :func:`full_softmax_loss`. If the proposal can also draw the positive
      ("accidental hits"), the positive is counted in the estimate too, a bias of order
      exp(s_b+ / T) / Z that is the caller's to mask (``mask``) or accept.
    - ``mask`` (B, N) bool: True leaves that negative out of the softmax (as if its logit were
      -inf; e.g. a shared pool's items that are the row's own positives). N still counts every
      drawn negative in the log-Q offset.

    ``log_q`` values are not checked (that would synchronise with the device); pass log
    probabilities, not probabilities. With a ``log_q`` or ``weight`` that requires grad the loss
    runs through autograd; otherwise through a hand-written backward (same value and gradient,
    fewer passes over the (B, N) scores).
    """
    _check_temperature(temperature)
    neg = _neg_2d(pos, neg)
    if mask is not None and (mask.shape != neg.shape or mask.dtype != torch.bool):
        raise ValueError(f"mask must be a bool tensor of neg's shape {tuple(neg.shape)}, "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    offset = None
    if log_q is not None:
        try:
            shape = torch.broadcast_shapes(log_q.shape, neg.shape)
        except RuntimeError:
            shape = None
        if shape != neg.shape:
            raise ValueError(
                f"log_q must be broadcastable to neg's shape {tuple(neg.shape)}, got {tuple(log_q.shape)}"
            )
        offset = log_q + math.log(neg.shape[1])
    if weight is not None and weight.shape != pos.shape:
        raise ValueError(f"weight has shape {tuple(weight.shape)}, expected {tuple(pos.shape)}")
    if (offset is None or not offset.requires_grad) and (weight is None or not weight.requires_grad):
        out: Tensor = _SoftmaxOverNegatives.apply(pos, neg, temperature, offset, mask, weight)
        return out
    pos_logit = pos / temperature
    neg_logit = neg / temperature
    if offset is not None:
        neg_logit = neg_logit - offset
    if mask is not None:
        neg_logit = neg_logit.masked_fill(mask, float("-inf"))
    logits = torch.cat([pos_logit.unsqueeze(-1), neg_logit], dim=-1)
    per_pos = torch.logsumexp(logits, dim=-1) - pos_logit
    return _reduce(per_pos, weight)


def full_softmax_loss(
    scores: Tensor,
    pos_items: Tensor,
    *,
    temperature: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    r"""Full softmax (cross-entropy) of each positive over the whole catalogue.

    scores (B, n_items), pos_items (B,) integer indices into the item axis -> scalar::

        loss_b = logsumexp_i(s_bi / T) - s_b,pos_b / T

    averaged over b (or ``mean_b weight_b * loss_b``). Other positives of the same user stay in
    the denominator; mask them in ``scores`` (set to -inf) if that is not wanted.
    """
    _check_temperature(temperature)
    if scores.dim() != 2 or scores.shape[1] < 1:
        raise ValueError(f"scores must have shape (B, n_items) with n_items>=1, got {tuple(scores.shape)}")
    if pos_items.dim() != 1 or pos_items.shape[0] != scores.shape[0]:
        raise ValueError(f"pos_items must have shape (B,) with B={scores.shape[0]}, got {tuple(pos_items.shape)}")
    if pos_items.dtype.is_floating_point or pos_items.dtype.is_complex or pos_items.dtype == torch.bool:
        raise ValueError(f"pos_items must be an integer tensor, got {pos_items.dtype}")
    n_items = scores.shape[1]
    if pos_items.numel() and (int(pos_items.min()) < 0 or int(pos_items.max()) >= n_items):
        raise ValueError(f"pos_items must lie in [0, {n_items}), got values in [{int(pos_items.min())}, {int(pos_items.max())}]")
    logits = scores / temperature
    pos_logit = logits.gather(1, pos_items.long().unsqueeze(-1)).squeeze(-1)
    per_pos = torch.logsumexp(logits, dim=-1) - pos_logit
    return _reduce(per_pos, weight)


def ccl_loss(
    pos_cos: Tensor,
    neg_cos: Tensor,
    *,
    margin: float = 0.5,
    negative_weight: float = 10.0,
    weight: Tensor | None = None,
) -> Tensor:
    r"""Cosine contrastive loss (CCL) of SimpleX (Mao et al., CIKM 2021).

    pos_cos (B,), neg_cos (B, N) (or (B,) for N = 1) cosine similarities -> scalar::

        loss_b = (1 - cos_b+) + negative_weight / N * sum_j max(0, cos_bj - margin)

    averaged over b (or ``mean_b weight_b * loss_b``). Negatives whose cosine is at or below the
    margin contribute nothing (and get no gradient).

    Defaults ``margin=0.5, negative_weight=10`` are RecBole's SimpleX config
    (``recbole/properties/model/SimpleX.yaml``), whose loss is the same formula
    (``relu(neg_cos - margin).mean(1) * negative_weight``); the paper tunes both per dataset.
    Inputs are meant to be cosines in [-1, 1]; this is not checked (it would synchronise with the
    device), and the positive term is the paper's linear ``1 - cos``, not clipped.
    """
    if not (math.isfinite(margin) and -1.0 <= margin <= 1.0):
        raise ValueError(f"margin must lie in [-1, 1], got {margin}")
    if not (math.isfinite(negative_weight) and negative_weight >= 0):
        raise ValueError(f"negative_weight must be a finite number >= 0, got {negative_weight}")
    neg_cos = _neg_2d(pos_cos, neg_cos, "pos_cos", "neg_cos")
    per_pos = (1.0 - pos_cos) + negative_weight * F.relu(neg_cos - margin).mean(-1)
    return _reduce(per_pos, weight)


def _uniformity(x: Tensor, t: float) -> Tensor:
    """log mean_{a<b} exp(-t ||x_a - x_b||^2) for unit-norm rows x (B, d), via the Gram matrix."""
    b = x.shape[0]
    # the pair set is symmetric: the mean over a < b equals the mean over a != b, so the whole
    # (B, B) block with its diagonal left out serves (no triu index gather and scatter)
    logits = (2.0 - 2.0 * (x @ x.T)).clamp_min(0.0).mul(-t)
    logits.diagonal().fill_(-math.inf)
    return torch.logsumexp(logits.reshape(-1), dim=0) - math.log(b * (b - 1))


def directau_loss(user_emb: Tensor, item_emb: Tensor, *, gamma: float = 1.0, t: float = 2.0) -> Tensor:
    r"""DirectAU: alignment + uniformity on the hypersphere (Wang et al., KDD 2022).

    user_emb (B, d), item_emb (B, d): the embeddings of B positive (user, item) pairs, B >= 2.
    Rows are L2-normalised inside (u~ = u / ||u||), so the loss is invariant to their scale::

        l_align   = mean_b ||u~_b - i~_b||^2
        l_uniform(x) = log mean_{a < b} exp(-t ||x~_a - x~_b||^2)   (the B(B-1)/2 distinct pairs)
        loss = l_align + gamma * (l_uniform(users) + l_uniform(items)) / 2

    Defaults ``gamma=1`` (the authors' ``recbole/properties/model/DirectAU.yaml`` in
    THUwangcy/DirectAU; the paper tunes it per dataset) and ``t=2`` (their ``uniformity(x, t=2)``).
    Duplicate users or items in the batch are kept, as in the authors' code. Pair distances come
    from the Gram matrix (||a - b||^2 = 2 - 2 a.b for unit vectors), O(B^2) memory, no (B, B, d)
    tensor.
    """
    if not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma}")
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"t must be a finite number > 0, got {t}")
    if user_emb.dim() != 2 or user_emb.shape != item_emb.shape:
        raise ValueError(
            f"user_emb and item_emb must both have shape (B, d), got {tuple(user_emb.shape)} and {tuple(item_emb.shape)}"
        )
    if user_emb.shape[0] < 2:
        raise ValueError(f"directau_loss needs B >= 2 pairs for uniformity, got B={user_emb.shape[0]}")
    u = F.normalize(user_emb, dim=-1)
    i = F.normalize(item_emb, dim=-1)
    align = (u - i).pow(2).sum(-1).mean()
    uniform = (_uniformity(u, t) + _uniformity(i, t)) / 2
    return align + gamma * uniform
