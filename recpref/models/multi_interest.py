"""Multi-interest extractors: MIND and ComiRec-DR / ComiRec-SA (methods.md section 3).

All three implement :class:`~recpref.models.sequential.SequenceEncoder` (read its module
docstring for the layout, positions, padding and empty-history conventions): a history (B, T)
becomes K interest vectors (B, K, d), scored by the max over interests. Vectorised over the
batch; the only Python loop is over the (few) routing iterations.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from recpref.catalog import check_float, check_int
from recpref.models.sequential import (
    Interests,
    SequenceEncoder,
    check_positive_power,
    hard_readout,
    masked_softmax,
)

__all__ = ["MIND", "ComiRecDR", "ComiRecSA", "squash"]


def squash(z: Tensor, eps: float = 1e-9) -> Tensor:
    """Capsule squash over the last dimension: ``|z|^2 / (1 + |z|^2) * z / |z|``; 0 at z = 0
    (``eps`` keeps the value and the gradient finite there)."""
    sq = (z * z).sum(-1, keepdim=True)
    return z * (sq / (1.0 + sq) / torch.sqrt(sq + eps))


class MIND(SequenceEncoder):
    """MIND (Li et al., CIKM 2019): behaviour-to-interest dynamic routing.

    ê_i = S e_i with one shared bilinear map S (d x d, no bias). Routing logits b_ki (B, K, T)
    start random N(0, ``routing_init_std``^2) (with a shared S, equal logits would give equal
    capsules); ``n_iterations`` rounds of: w_ki = softmax over the active interests k of b_ki,
    z_k = sum_i w_ki ê_i over the real items, v_k = squash(z_k), b_ki += v_k . ê_i (no update
    after the last round). Full gradient through every round (the paper has no stop-gradient).

    Dynamic interest count: K'_u = max(1, min(K, floor(log2 n_u))), n_u = number of real items in
    the given history (the paper's |I_u|, truncated by the history window); interests K'_u..K-1
    take no part in the routing softmax, are zero and have ``mask`` False.

    Readout (training): label-aware attention v_u = V_u^T softmax(p * V_u e_i) over the active
    interests; ``power = inf`` is the hard argmax. [ours] The paper writes softmax(pow(V_u e_i, p)):
    a literal power is undefined for negative scores at non-integer p and tends to uniform, not to
    the argmax, when all |scores| < 1; softmax(p x) = the softmax distribution raised to the power
    p and renormalised, which has the limits the paper states (p -> 0 uniform, p -> inf hard) and
    equals the literal form at the default p = 1.

    Choices [ours]:

    * Routing-logit init: a fresh draw per forward in training mode (from ``generator`` when
      given); in eval mode a fixed draw per (interest, position), the buffer ``routing_init``
      (K, max_len) drawn at construction and saved in the state dict, so evaluation and serving
      are deterministic and survive save/load.
    * ``mlp_hidden > 0`` adds the paper's ReLU layers after the capsules, per capsule:
      Linear(d, h) -> ReLU -> Linear(h, d) (the last layer linear so interests keep any sign).
      The user-profile embedding the paper concatenates is not part of this interface
      (history only); ``mlp_hidden = 0`` (default) leaves the capsules as they are.
    """

    routing_init: Tensor

    def __init__(self, n_items: int, dim: int = 64, *, n_interests: int = 4, max_len: int = 50,
                 n_iterations: int = 3, power: float = 1.0, routing_init_std: float = 1.0, mlp_hidden: int = 0,
                 init_std: float = 0.1) -> None:
        super().__init__(n_items, dim, n_interests, max_len, init_std)
        check_int("n_iterations", n_iterations, 1)
        check_positive_power("power", power)
        check_float("routing_init_std", routing_init_std, low=0.0, low_open=True)
        check_int("mlp_hidden", mlp_hidden, 0)
        self.n_iterations, self.power, self.routing_init_std = n_iterations, float(power), float(routing_init_std)
        self.bilinear = nn.Linear(dim, dim, bias=False)
        self.register_buffer("routing_init", torch.randn(n_interests, max_len) * routing_init_std)
        self.mlp = (nn.Sequential(nn.Linear(dim, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, dim))
                    if mlp_hidden else None)

    def active_interests(self, lengths: Tensor) -> Tensor:
        """lengths (B,) number of real items -> K'_u (B,) int64 = max(1, min(K, floor(log2 n)));
        integer arithmetic (the count of j in 1..K with 2^j <= n), exact for every n."""
        powers = 2 ** torch.arange(1, self.n_interests + 1, device=lengths.device)
        return (lengths.unsqueeze(1) >= powers).sum(1).clamp(min=1)

    def interests(self, history: Tensor, mask: Tensor, *, generator: torch.Generator | None = None) -> Interests:
        """As :meth:`SequenceEncoder.interests`; ``generator`` draws the training-mode routing init."""
        ids, m = self._prepare(history, mask)
        return self._route(ids, m, generator)

    def _encode(self, ids: Tensor, mask: Tensor) -> Interests:
        return self._route(ids, mask, None)

    def _route(self, ids: Tensor, mask: Tensor, generator: torch.Generator | None) -> Interests:
        b, t = ids.shape
        k = self.n_interests
        u = self.bilinear(self._embed(ids, mask))  # (B, T, d), 0 at pads (no bias)
        active = torch.arange(k, device=ids.device) < self.active_interests(mask.sum(1)).unsqueeze(1)  # (B, K)
        if self.training:
            logits = torch.randn((b, k, t), generator=generator, device=u.device, dtype=u.dtype)
            logits = logits * self.routing_init_std
        else:
            logits = self.routing_init[:, self._positions(t)].to(u.dtype).expand(b, k, t)
        for it in range(self.n_iterations):
            w = masked_softmax(logits, active.unsqueeze(-1), dim=1).masked_fill(~mask.unsqueeze(1), 0.0)
            v = squash(w @ u)  # (B, K, d)
            if it < self.n_iterations - 1:
                logits = logits + v @ u.transpose(1, 2)
        if self.mlp is not None:
            v = self.mlp(v)
        nonzero = active & mask.any(1, keepdim=True)  # inactive or empty history -> 0 (not the MLP's bias)
        return Interests(v.masked_fill(~nonzero.unsqueeze(-1), 0.0), active)

    def readout(self, vectors: Tensor, interest_mask: Tensor, target_emb: Tensor) -> Tensor:
        """Label-aware attention: (B, K, d), (B, K), (B, d) -> (B, d) = sum_k a_k V_k with
        a = softmax over the active interests of ``power * V e`` (hard argmax at power = inf)."""
        self._check_readout(vectors, interest_mask, target_emb)
        if math.isinf(self.power):
            return hard_readout(vectors, interest_mask, target_emb)
        logits = torch.einsum("bkd,bd->bk", vectors, target_emb) * self.power
        return torch.einsum("bk,bkd->bd", masked_softmax(logits, interest_mask, dim=1), vectors)


class ComiRecDR(SequenceEncoder):
    """ComiRec-DR (Cen et al., KDD 2020): CapsNet dynamic routing with one capsule map per
    (position, interest).

    û_ki = W_{pos(i), k} e_i with ``capsule_maps`` of shape (max_len, K * d, d), N(0,
    ``capsule_init_std``^2) (the official code: (T, K d, d), N(0, 1)); logits b_ki = 0; then
    ``n_iterations`` rounds of: w_ki = softmax over interests k of b_ki (per behaviour), zeroed at
    pads; v_k = squash(sum_i w_ki û_ki); b_ki += v_k . û_ki. Every round but the last routes with
    û under stop-gradient, so the logits (and with them the weights of the last round) are
    constants to autograd and the gradient reaches û through the last round's sum only.
    All K interests are active. Positions: see the `recpref.models.sequential` docstring.
    """

    def __init__(self, n_items: int, dim: int = 64, *, n_interests: int = 4, max_len: int = 50,
                 n_iterations: int = 3, capsule_init_std: float = 1.0, init_std: float = 0.1) -> None:
        super().__init__(n_items, dim, n_interests, max_len, init_std)
        check_int("n_iterations", n_iterations, 1)
        check_float("capsule_init_std", capsule_init_std, low=0.0, low_open=True)
        self.n_iterations = n_iterations
        self.capsule_maps = nn.Parameter(torch.randn(max_len, n_interests * dim, dim) * capsule_init_std)

    def predictions(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Left-aligned ids (B, T), mask (B, T) -> û (B, K, T, d), 0 at pads."""
        b, t = ids.shape
        e = self._embed(ids, mask)
        w = self.capsule_maps[self._positions(t)]  # (T, K d, d)
        u = torch.einsum("tod,btd->bto", w, e)  # (B, T, K d)
        return u.view(b, t, self.n_interests, self.dim).transpose(1, 2)

    def _encode(self, ids: Tensor, mask: Tensor) -> Interests:
        b, t = ids.shape
        u = self.predictions(ids, mask)
        u_fixed = u.detach()
        logits = torch.zeros(b, self.n_interests, t, dtype=u.dtype, device=u.device)
        pads = ~mask.unsqueeze(1)
        for it in range(self.n_iterations):
            last = it == self.n_iterations - 1
            w = torch.softmax(logits, dim=1).masked_fill(pads, 0.0)  # (B, K, T)
            v = squash(torch.einsum("bkt,bktd->bkd", w, u if last else u_fixed))
            if not last:
                logits = logits + torch.einsum("bkd,bktd->bkt", v, u_fixed)
        return Interests(v, torch.ones(b, self.n_interests, dtype=torch.bool, device=v.device))


class ComiRecSA(SequenceEncoder):
    """ComiRec-SA (Cen et al., KDD 2020): self-attentive multi-interest extraction.

    H (B, T, d) = the history's item embeddings; P = learned positional embeddings (max_len, d),
    used inside the attention only. A = softmax over positions of W2 tanh(W1 (H + P)^T)
    (B, K, T), W1: d_a x d, W2: K x d_a, d_a = ``attention_dim`` (default 4 d); pads take no
    part in the softmax (weight exactly 0); interests V = A H (without positions). All K
    interests are active. [ours] W1 has a bias (as the official code's dense layer; the paper's
    formula has none); W2 has none (a per-interest constant cannot change a softmax over positions).
    """

    def __init__(self, n_items: int, dim: int = 64, *, n_interests: int = 4, max_len: int = 50,
                 attention_dim: int | None = None, init_std: float = 0.1) -> None:
        super().__init__(n_items, dim, n_interests, max_len, init_std)
        if attention_dim is not None:
            check_int("attention_dim", attention_dim, 1)
        self.attention_dim = 4 * dim if attention_dim is None else attention_dim
        self.pos_emb = nn.Embedding(max_len, dim)
        nn.init.normal_(self.pos_emb.weight, std=init_std)
        self.w1 = nn.Linear(dim, self.attention_dim)
        self.w2 = nn.Linear(self.attention_dim, n_interests, bias=False)

    def attention(self, history: Tensor, mask: Tensor) -> Tensor:
        """history (B, T), mask (B, T) -> A (B, K, T) in the left-aligned layout (the input's for
        left-padded input); each row sums to 1 over the real items (0 for an empty history)."""
        ids, m = self._prepare(history, mask)
        return self._attention(self._embed(ids, m), m)

    def _attention(self, h: Tensor, mask: Tensor) -> Tensor:
        x = h + self.pos_emb.weight[self._positions(h.shape[1])]
        logits = self.w2(torch.tanh(self.w1(x))).transpose(1, 2)  # (B, K, T)
        return masked_softmax(logits, mask.unsqueeze(1), dim=-1)

    def _encode(self, ids: Tensor, mask: Tensor) -> Interests:
        h = self._embed(ids, mask)
        v = self._attention(h, mask) @ h
        return Interests(v, torch.ones(v.shape[0], self.n_interests, dtype=torch.bool, device=v.device))
