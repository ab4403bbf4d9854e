"""Training objectives by public loss name, resolved once when a module is built (never
string-compared per step). An objective scores a batch with the model(s) and applies a pure loss
from `recpref.losses`; it returns the loss and the embedding rows the L2 term regularises.

Pairwise objectives take ``(model, flip_model, users (B,), pos (B,), neg (B, K))``; MNAR cell
objectives take ``(ctx, users (B,), items (B,), batch)`` with ``ctx`` the module (for theta,
exposure and its hyperparameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F

from recpref.losses import (
    bpo_loss,
    bpr_loss,
    doubly_robust_loss,
    nbpo_exact_loss,
    nbpo_surrogate_loss,
    pointwise_ips_loss,
    ubpr_loss,
    wmf_loss,
)
from recpref.losses.softmax import ccl_loss, directau_loss, sampled_softmax_loss
from recpref.models import MF, Encoder

__all__ = ["MNAR_OBJECTIVES", "PAIRWISE_OBJECTIVES", "POOL_OBJECTIVES", "LossSettings", "layer0_rows", "Objective", "PairwiseObjective"]


class Objective(NamedTuple):
    loss: torch.Tensor
    rows: tuple[torch.Tensor, ...]  # embedding rows of the main model (L2)
    flip_rows: tuple[torch.Tensor, ...] | None = None  # NBPO's flip model rows (L2)


class PairwiseObjective(Protocol):
    def __call__(self, model: Encoder, flip: Encoder | None, users: torch.Tensor, pos: torch.Tensor,
                 neg: torch.Tensor) -> Objective: ...


def _rows(t: Any) -> tuple[torch.Tensor, ...]:
    return tuple(t.ego) if t.ego is not None else ()


def bpr_objective(model: Encoder, flip: Encoder | None, users: torch.Tensor, pos: torch.Tensor,
                  neg: torch.Tensor) -> Objective:
    t = model.triplet(users, pos, neg)
    return Objective(bpr_loss(t.pos, t.neg), _rows(t))


def bpo_objective(model: Encoder, flip: Encoder | None, users: torch.Tensor, pos: torch.Tensor,
                  neg: torch.Tensor) -> Objective:
    t = model.triplet(users, pos, neg)
    return Objective(bpo_loss(t.pos, t.neg), _rows(t))


def _nbpo(loss_fn: Any) -> PairwiseObjective:
    def objective(model: Encoder, flip: Encoder | None, users: torch.Tensor, pos: torch.Tensor,
                  neg: torch.Tensor) -> Objective:
        assert flip is not None, "NBPO needs its flip-rate model"
        t, f = model.triplet(users, pos, neg), flip.triplet(users, pos, neg)
        return Objective(loss_fn(t.pos, f.pos, t.neg, f.neg), _rows(t), _rows(f))

    return objective


@dataclass(frozen=True)
class LossSettings:
    """Hyperparameters of the softmax-family objectives (each loss reads its own)."""

    temperature: float = 1.0  # ssm
    margin: float = 0.5  # ccl
    negative_weight: float = 10.0  # ccl
    gamma: float = 1.0  # directau
    # ssm's log-Q correction: log q(item) of the per-positive negative sampler, (n_items,);
    # None = uniform over the catalogue (`recpref.sampling.batches.proposal_log_prob` builds it)
    item_log_q: torch.Tensor | None = field(default=None, compare=False, repr=False)


def _ssm(s: LossSettings) -> PairwiseObjective:
    def objective(model: Encoder, flip: Encoder | None, users: torch.Tensor, pos: torch.Tensor,
                  neg: torch.Tensor) -> Objective:
        """Sampled softmax over the positive and the drawn negatives, log-Q corrected for the
        sampler's proposal: ``s.item_log_q`` gathered at the negatives, or uniform q = 1/n_items
        (the exact samplers exclude the user's own items, a difference of deg_u / n_items)."""
        t = model.triplet(users, pos, neg)
        if s.item_log_q is None:
            log_q = torch.full((), -math.log(model.n_items), device=t.neg.device, dtype=t.neg.dtype)
        else:
            table = on_device.get(neg.device)
            if table is None:  # one copy per device, made once (not per step)
                table = on_device[neg.device] = s.item_log_q.to(device=neg.device, dtype=t.neg.dtype)
            log_q = table.index_select(0, neg.reshape(-1)).view(neg.shape)
        return Objective(sampled_softmax_loss(t.pos, t.neg, temperature=s.temperature, log_q=log_q), _rows(t))

    if s.item_log_q is not None and s.item_log_q.dim() != 1:
        raise ValueError(f"item_log_q must have shape (n_items,), got {tuple(s.item_log_q.shape)}")
    on_device: dict[torch.device, torch.Tensor] = {}
    return objective


def _representations(model: Encoder, users: torch.Tensor, *items: torch.Tensor,
                     sparse_rows: bool = False) -> tuple[torch.Tensor, ...]:
    """Final user (B, d) and item (*shape, d) representations (after propagation) of ``users`` and
    of each item index tensor, from one ``embed()`` (one propagation for graph encoders).

    ``sparse_rows`` (MF only): gather with row-sparse gradients (``F.embedding(sparse=True)``) for
    an optimiser that takes them (`recpref.modules.optim.RowSparseAdam`, Adagrad, SGD)."""
    u_all, i_all = model.embed()
    if sparse_rows and isinstance(model, MF):
        return (F.embedding(users, u_all, sparse=True),
                *(F.embedding(it, i_all, sparse=True) for it in items))
    return (u_all.index_select(0, users),
            *(i_all.index_select(0, it.reshape(-1)).view(*it.shape, -1) for it in items))


def layer0_rows(model: Encoder, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer-0 (trained) embedding rows of ``users`` (B, d) and ``items`` (*shape, d) for L2:
    graph encoders expose them (``ego_embeddings``), MF uses its tables."""
    ego = getattr(model, "ego_embeddings", None)
    if ego is not None:
        u, i = ego(users, items)
        return u, i
    if isinstance(model, MF):
        # index_select: its backward (index_add) is much cheaper on CPU than embedding's
        return (model.user_emb.weight.index_select(0, users),
                model.item_emb.weight.index_select(0, items.reshape(-1)).view(*items.shape, model.dim))
    raise TypeError(f"cannot regularise {type(model).__name__}: it exposes no ego_embeddings()")


def _ccl(s: LossSettings) -> PairwiseObjective:
    def objective(model: Encoder, flip: Encoder | None, users: torch.Tensor, pos: torch.Tensor,
                  neg: torch.Tensor) -> Objective:
        idx = torch.cat([pos.unsqueeze(1), neg], 1)  # one gather
        u_all, i_all = model.embed()
        u = F.normalize(u_all.index_select(0, users), dim=-1)
        if idx.numel() > i_all.shape[0]:  # many negatives: normalise the table once, then gather
            items = F.normalize(i_all, dim=-1).index_select(0, idx.reshape(-1)).view(*idx.shape, -1)
        else:
            items = F.normalize(i_all.index_select(0, idx.reshape(-1)).view(*idx.shape, -1), dim=-1)
        cos = torch.einsum("bd,bkd->bk", u, items)
        loss = ccl_loss(cos[:, 0], cos[:, 1:], margin=s.margin, negative_weight=s.negative_weight)
        return Objective(loss, ())  # L2 rows gathered by the module (layer-0 embeddings)

    return objective


def _directau(s: LossSettings) -> PairwiseObjective:
    def objective(model: Encoder, flip: Encoder | None, users: torch.Tensor, pos: torch.Tensor,
                  neg: torch.Tensor) -> Objective:
        """Alignment of the batch's positive pairs + gamma x uniformity; negatives are not used."""
        u, i = _representations(model, users, pos)
        return Objective(directau_loss(u, i, gamma=s.gamma), ())

    return objective


class PoolObjective(Protocol):
    def __call__(self, model: Encoder, users: torch.Tensor, pos: torch.Tensor, pool: torch.Tensor,
                 mask: torch.Tensor | None, *, sparse_rows: bool = False) -> Objective: ...


def _pool_objective(cosine: bool, pool_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, int],
                                                     torch.Tensor]) -> PoolObjective:
    def objective(model: Encoder, users: torch.Tensor, pos: torch.Tensor, pool: torch.Tensor,
                  mask: torch.Tensor | None, *, sparse_rows: bool = False) -> Objective:
        """Positive scores (B,) and pool scores (B, M) by one (B, d) @ (d, M) matmul (no (B, M, d)
        gather); masked pool entries (the user's own items) contribute nothing, means still divide
        by M. L2 rows: the batch's users and positives and the pool's items, once each (MF: the very
        rows the scores use, so each table is gathered once per step, not twice). ``sparse_rows``:
        see `_representations`."""
        u, ip, ipool = _representations(model, users, pos, pool, sparse_rows=sparse_rows)
        rows = ((u, ip, ipool) if isinstance(model, MF)
                else (*layer0_rows(model, users, pos), layer0_rows(model, users[:0], pool)[1]))
        if cosine:
            u, ip, ipool = F.normalize(u, dim=-1), F.normalize(ip, dim=-1), F.normalize(ipool, dim=-1)
        value = pool_loss((u * ip).sum(-1), u @ ipool.T, mask, model.n_items)
        return Objective(value, rows)

    return objective


def _pool_bpr(s: LossSettings) -> PoolObjective:
    def loss(s_pos: torch.Tensor, s_pool: torch.Tensor, mask: torch.Tensor | None, n_items: int) -> torch.Tensor:
        return bpr_loss(s_pos, s_pool if mask is None else s_pool.masked_fill(mask, float("-inf")))

    return _pool_objective(False, loss)


def _pool_ssm(s: LossSettings) -> PoolObjective:
    def loss(s_pos: torch.Tensor, s_pool: torch.Tensor, mask: torch.Tensor | None, n_items: int) -> torch.Tensor:
        # the pool is uniform with replacement: q = 1 / n_items exactly
        log_q = torch.full((), -math.log(n_items), device=s_pool.device, dtype=s_pool.dtype)
        return sampled_softmax_loss(s_pos, s_pool, temperature=s.temperature, log_q=log_q, mask=mask)

    return _pool_objective(False, loss)


def _pool_ccl(s: LossSettings) -> PoolObjective:
    def loss(s_pos: torch.Tensor, s_pool: torch.Tensor, mask: torch.Tensor | None, n_items: int) -> torch.Tensor:
        cos = s_pool if mask is None else s_pool.masked_fill(mask, -1.0)  # below any margin: no hinge term
        return ccl_loss(s_pos, cos, margin=s.margin, negative_weight=s.negative_weight)

    return _pool_objective(True, loss)


POOL_OBJECTIVES: dict[str, Callable[[LossSettings], PoolObjective]] = {
    "bpr": _pool_bpr,
    "ssm": _pool_ssm,
    "ccl": _pool_ccl,
}
"""Objectives against a shared negative pool per step (`PairwiseConfig.neg_pool`)."""


PAIRWISE_OBJECTIVES: dict[str, Callable[[LossSettings], PairwiseObjective]] = {
    "bpr": lambda s: bpr_objective,
    "bpo": lambda s: bpo_objective,
    "nbpo": lambda s: _nbpo(nbpo_surrogate_loss),
    "nbpo_exact": lambda s: _nbpo(nbpo_exact_loss),
    "ssm": _ssm,
    "ccl": _ccl,
    "directau": _directau,
}
"""Pairwise objectives by public loss name: each entry builds the objective from `LossSettings`."""


class CellContext(Protocol):
    """What MNAR objectives read from their module."""

    @property
    def hparams(self) -> Any: ...
    @property
    def imputed(self) -> float | None: ...

    def theta_of(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor: ...
    def exposed(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor: ...


def _cell_scores(model: Any, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    eu = model.user_emb.weight.index_select(0, users)
    ei = model.item_emb.weight.index_select(0, items)
    return (eu * ei).sum(-1), (eu, ei)


def naive_objective(ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective:
    """Clicks as labels, every cell weighted 1 (IPS with theta = 1)."""
    s, rows = _cell_scores(model, b["users"], b["items"])
    return Objective(pointwise_ips_loss(s, b["clicks"], torch.ones_like(s), local=ctx.hparams["local"]), rows)


def relmf_objective(ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective:
    """Rel-MF's IPS estimator (clipped at ``clip`` when given)."""
    u, i = b["users"], b["items"]
    s, rows = _cell_scores(model, u, i)
    hp = ctx.hparams
    return Objective(pointwise_ips_loss(s, b["clicks"], ctx.theta_of(u, i), clip=hp["clip"], local=hp["local"]), rows)


def snips_objective(ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective:
    """Self-normalised IPS: the IPS sum divided by the sum of the batch's 1/theta weights."""
    u, i = b["users"], b["items"]
    s, rows = _cell_scores(model, u, i)
    hp = ctx.hparams
    loss = pointwise_ips_loss(s, b["clicks"], ctx.theta_of(u, i), clip=hp["clip"], local=hp["local"],
                              normalize="snips")
    return Objective(loss, rows)


def wmf_objective(ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective:
    s, rows = _cell_scores(model, b["users"], b["items"])
    return Objective(wmf_loss(s, b["clicks"], negative_weight=ctx.hparams["negative_weight"]), rows)


def dr_objective(ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective:
    """Doubly robust: exposure indicator, clicks, propensities and a constant imputed relevance."""
    u, i = b["users"], b["items"]
    s, rows = _cell_scores(model, u, i)
    assert ctx.imputed is not None
    hp = ctx.hparams
    loss = doubly_robust_loss(s, ctx.exposed(u, i), b["clicks"], ctx.theta_of(u, i), torch.full_like(s, ctx.imputed),
                              clip=hp["clip"], local=hp["local"])
    return Objective(loss, rows)


def _pair_scores(model: Any, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    t = model.triplet(b["users"], b["items"], b["others"].unsqueeze(1))
    return t.pos, t.neg.squeeze(1), _rows(t)


def clicked_bpr_objective(ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective:
    """BPR with exact unclicked negatives."""
    s_i, s_j, rows = _pair_scores(model, b)
    return Objective(bpr_loss(s_i, s_j), rows)


def ubpr_objective(ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective:
    """Unbiased pairwise loss (non-negative when ``nonneg`` is given)."""
    u, i, j = b["users"], b["items"], b["others"]
    s_i, s_j, rows = _pair_scores(model, b)
    hp = ctx.hparams
    loss = ubpr_loss(s_i, s_j, torch.ones_like(s_i), b["other_clicks"], ctx.theta_of(u, i), ctx.theta_of(u, j),
                     clip=hp["clip"], nonneg=hp["nonneg"])
    return Objective(loss, rows)


class CellObjective(Protocol):
    def __call__(self, ctx: CellContext, model: Any, b: dict[str, torch.Tensor]) -> Objective: ...


MNAR_OBJECTIVES: dict[str, CellObjective] = {
    "naive": naive_objective,
    "relmf": relmf_objective,
    "snips": snips_objective,
    "dr": dr_objective,
    "wmf": wmf_objective,
    "bpr": clicked_bpr_objective,
    "ubpr": ubpr_objective,
}
"""MNAR objectives; ``bpr`` here draws exact unclicked negatives (`ClickCellSampler.pairwise`)."""
