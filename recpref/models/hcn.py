"""HCN, our re-interpretation of the Hierarchical Co-Interest Network (Yuan et al., arXiv 2210.10547),
and :func:`rerank`, which re-scores a retriever's candidates with any sequence encoder.

HCN implements :class:`~recpref.models.sequential.SequenceEncoder` (read its module docstring for
the layout, padding and empty-history conventions), so ``score_all`` (max over interests), the
training readout and ``evaluate`` treat it as they treat MIND and ComiRec. Vectorised over the
batch (and over HCN's two sequences); the only Python loop is over the (few) clustering rounds.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recpref.catalog import check_choice, check_float, check_int
from recpref.models.sequential import Interests, SequenceEncoder, masked_softmax

__all__ = ["HCN", "HierarchicalExtractor", "RerankPooling", "rerank", "soft_cluster"]

RerankPooling = Literal["max", "attention"]
RERANK_POOLINGS: tuple[str, ...] = get_args(RerankPooling)

_MASS_EPS = 1e-12


def soft_cluster(points: Tensor, weights: Tensor, init: Tensor, n_iterations: int, tau: float
                 ) -> tuple[Tensor, Tensor]:
    """Weighted soft clustering (soft spherical k-means) of ``points`` around ``init`` centres.

    points (..., N, d), weights (..., N) >= 0 (0 = the point takes no part), init (K, d) or any
    shape that broadcasts to (..., K, d) -> (means (..., K, d), mass (..., K)). Centres start at
    ``normalise(init)``; each of the ``n_iterations`` rounds assigns a_nk = softmax over k of
    (p_n . c_k / tau), sums s_k = sum_n w_n a_nk p_n and moves the centre to c_k = normalise(s_k).
    The output is the last round's cluster mean s_k / m_k, m_k = sum_n w_n a_nk (a convex
    combination of the points, so it keeps their scale), and m_k. A row without weight gives zero
    means and zero mass.
    """
    centres = F.normalize(init, dim=-1).to(points.dtype)
    sums = mass = points.new_zeros(())
    for _ in range(n_iterations):
        assign = torch.softmax(points @ centres.transpose(-1, -2) / tau, dim=-1) * weights.unsqueeze(-1)  # (.., N, K)
        sums = assign.transpose(-1, -2) @ points  # (..., K, d)
        mass = assign.sum(-2)  # (..., K)
        centres = F.normalize(sums, dim=-1)
    return sums / mass.clamp(min=_MASS_EPS).unsqueeze(-1), mass


class HierarchicalExtractor(nn.Module):
    """Two levels of :func:`soft_cluster`, run on ``n_sequences`` sequences cut from one history
    (HCN: the long and the short one), each with its own parameters, in one batched pass:
    behaviours (B, T, d) and one mask per sequence (S, B, T) -> ``n_level1`` level-1 clusters ->
    ``n_level2`` interests (S, B, n_level2, d).

    Sequence s first maps the behaviours, ê_i = M_s e_i (``behaviour_maps[s]``, d x d, no bias,
    the identity at initialisation). Level 2 clusters the level-1 means, each weighted by its
    mass (the soft count of behaviours it holds), so an interest is a convex combination of the
    mapped behaviours: sum_i (sum_k b_kj a_ik) ê_i / sum_i (sum_k b_kj a_ik). The initial centres
    of both levels (``level1_init[s]``, ``level2_init[s]``) are learned (N(0, 1) rows, normalised
    before use)."""

    def __init__(self, dim: int, n_level1: int, n_level2: int, n_iterations: int, tau: float,
                 n_sequences: int = 1) -> None:
        super().__init__()
        self.n_iterations, self.tau = n_iterations, tau
        self.behaviour_maps = nn.Parameter(torch.eye(dim).repeat(n_sequences, 1, 1))
        self.level1_init = nn.Parameter(torch.randn(n_sequences, n_level1, dim))
        self.level2_init = nn.Parameter(torch.randn(n_sequences, n_level2, dim))

    def forward(self, emb: Tensor, masks: Tensor) -> Tensor:
        """emb (B, T, d) (0 at pads), masks (S, B, T) bool -> interests (S, B, n_level2, d)."""
        points = torch.einsum("sde,bte->sbtd", self.behaviour_maps, emb)
        means, mass = soft_cluster(points, masks.to(emb.dtype), self.level1_init.unsqueeze(1), self.n_iterations,
                                   self.tau)
        interests, _ = soft_cluster(means, mass, self.level2_init.unsqueeze(1), self.n_iterations, self.tau)
        return interests


class HCN(SequenceEncoder):
    """HCN [ours]: a re-interpretation of the Hierarchical Co-Interest Network (Yuan et al.,
    arXiv 2210.10547). Only the abstract is public (no code, no equations; methods.md section
    3.4), so every formula below is our choice, following the design methods.md suggests.

    1. **Hierarchical multi-interest extraction** (:class:`HierarchicalExtractor`) [ours]. The
       behaviours are mapped first, ê_i = M e_i (d x d, no bias, the identity at initialisation;
       as MIND's shared bilinear map): without it interest . item would be a symmetric item-item
       similarity, under which a history's own items outrank the items that follow them (on the
       sequential toy data of the tests, recall@5 0.19 without M, 0.6 with it). Level 1: soft clustering of the ê_i (pads take no part) around
       ``level1_interests`` K1 centres (default 2 K), c_k <- normalise(sum_i softmax_k(ê_i . c_k /
       tau) ê_i), ``n_iterations`` rounds from learned initial centres (shared by all users).
       Level 2: the same clustering of the K1 level-1 cluster means, each weighted by its soft
       behaviour count, into K = ``n_interests`` interests, from their own learned initial
       centres. An interest is the mean of its cluster (a convex combination of the ê_i, as
       ComiRec-SA's interests are of the e_i), not the unit centre, so it keeps the embeddings'
       scale for the inner-product scores. Full gradient through every round; ``tau`` (default
       0.1) is fixed, not learned. Redundancy is reduced by construction (an interest gathers
       several level-1 clusters; the level-2 centres compete for them through the softmax).
    2. **No orthogonality penalty** [ours]. The training objectives
       (`recpref.modules.sequence`) call a loss that is a pure function of scores; a penalty on
       the interests would need a second term there (objective + lambda * penalty(interests)) and
       a weight setting, so it is left out rather than hidden in the model.
    3. **Co-interest network** [ours]. The extraction runs separately, with separate parameters
       (maps M and initial centres; one batched pass computes both), on the long sequence (the whole given history window, up to ``max_len`` items) and on the
       short one (the last ``short_len`` real items of it; all of them when the history is
       shorter, so ``short_len >= max_len`` makes both sequences the same). Co-attention: each
       long-term interest L_k attends to the short-term interests S_j with the bilinear affinity
       a_kj = (W_a L_k) . S_j / sqrt(d) (softmax over j), giving S^_k = sum_j softmax_j(a_kj) S_j.
       Gated fusion per dimension: g_k = sigmoid(W_g [L_k; S^_k] + b_g), V_k = g_k * L_k +
       (1 - g_k) * S^_k. The K fused vectors V are the interests (all active); they are anchored
       on the long-term interests and take in the short-term ones through the attention, so a
       recent interest the long window dilutes can still dominate an interest when g is small.
       (Same toy data, where the next item follows the one two steps back: recall@5 0.6 with
       ``short_len`` >= the history, 0.88-0.89 with ``short_len`` 2, over two runs.)
    4. **Training and retrieval** unchanged: ComiRec's readout (the interest closest to the
       target) and score_all = max over interests. **Coarse ranking**: :func:`rerank` with
       pooling ``attention`` (its default for HCN) scores a candidate by target-aware attention
       pooling, sum_k softmax_k(V_k . e) (V_k . e), a smooth lower bound of the max that equals
       it when one interest dominates.

    An empty history gives zero interests (every sum is empty and the fusion has no additive
    term), so every score is 0. Positions play no part: the short sequence is cut from the
    left-aligned layout, so only the real items' order matters.
    """

    def __init__(self, n_items: int, dim: int = 64, *, n_interests: int = 4, max_len: int = 50,
                 short_len: int = 20, level1_interests: int | None = None, n_iterations: int = 3, tau: float = 0.1,
                 init_std: float = 0.1) -> None:
        super().__init__(n_items, dim, n_interests, max_len, init_std)
        check_int("short_len", short_len, 1)
        if level1_interests is None:
            level1_interests = 2 * n_interests
        check_int("level1_interests", level1_interests, n_interests)
        check_int("n_iterations", n_iterations, 1)
        check_float("tau", tau, low=0.0, low_open=True)
        self.short_len, self.level1_interests, self.n_iterations, self.tau = (
            short_len, level1_interests, n_iterations, float(tau))
        self.extractor = HierarchicalExtractor(dim, level1_interests, n_interests, n_iterations, self.tau,
                                               n_sequences=2)  # [0] long, [1] short
        self.co_attention = nn.Linear(dim, dim, bias=False)
        self.gate = nn.Linear(2 * dim, dim)

    def short_mask(self, mask: Tensor) -> Tensor:
        """Left-aligned mask (B, T) -> (B, T): True at the last ``short_len`` real items only."""
        t = mask.shape[1]
        recent = torch.arange(t, device=mask.device) >= t - self.short_len
        return mask & recent

    def interest_sets(self, history: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """history (B, T), mask (B, T) -> (long-term, short-term) interests, each (B, K, d),
        before the co-interest fusion."""
        ids, m = self._prepare(history, mask)
        return self._sets(ids, m)

    def _sets(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        long, short = self.extractor(self._embed(ids, mask), torch.stack([mask, self.short_mask(mask)]))
        return long, short

    def fuse(self, long: Tensor, short: Tensor) -> Tensor:
        """Co-attention and gated fusion: long (B, K, d), short (B, K, d) -> (B, K, d)."""
        affinity = self.co_attention(long) @ short.transpose(1, 2) / math.sqrt(self.dim)  # (B, K, K)
        attended = torch.softmax(affinity, dim=-1) @ short
        g = torch.sigmoid(self.gate(torch.cat([long, attended], dim=-1)))
        return g * long + (1.0 - g) * attended

    def _encode(self, ids: Tensor, mask: Tensor) -> Interests:
        v = self.fuse(*self._sets(ids, mask))
        v = v.masked_fill(~mask.any(1).view(-1, 1, 1), 0.0)  # exactly 0 for an empty history
        return Interests(v, torch.ones(v.shape[0], self.n_interests, dtype=torch.bool, device=v.device))


def rerank(encoder: SequenceEncoder, history: Tensor, mask: Tensor, candidates: Tensor,
           pooling: RerankPooling | None = None) -> Tensor:
    """Re-score a retriever's candidates (coarse ranking): history (B, T) int64, mask (B, T) bool,
    candidates (B, C) int64 item indices -> scores (B, C).

    ``pooling``: ``max`` = the encoder's own ``score`` (max over its active interests of
    interest . item); ``attention`` = target-aware attention pooling over the active interests,
    sum_k softmax_k(v_k . e_c) (v_k . e_c) (an empty history scores 0). ``None`` (default) picks
    ``attention`` for :class:`HCN` (its coarse-ranker score, methods.md 3.4) and ``max`` for every
    other encoder. Any :class:`SequenceEncoder` works with either pooling.
    """
    if pooling is None:
        pooling = "attention" if isinstance(encoder, HCN) else "max"
    check_choice("pooling", pooling, RERANK_POOLINGS)
    if candidates.dtype != torch.int64 or candidates.dim() != 2 or candidates.shape[0] != history.shape[0]:
        raise ValueError(f"candidates must be int64 of shape (B, C) with B = {history.shape[0]}; got "
                         f"{candidates.dtype} {tuple(candidates.shape)}")
    if pooling == "max":
        return encoder.score(history, mask, candidates)
    encoder._check_inputs(history, mask)
    encoder._check_ids(history, mask)
    if candidates.numel() and (int(candidates.min()) < 0 or int(candidates.max()) >= encoder.n_items):
        raise ValueError(f"item indices out of range [0, {encoder.n_items})")
    v, im = encoder.interests(history, mask)
    s = torch.einsum("bkd,bcd->bkc", v, encoder.item_emb(candidates))  # (B, K, C)
    w = masked_softmax(s, im.unsqueeze(-1), dim=1)
    return (w * s).sum(1)
