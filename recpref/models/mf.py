"""Matrix factorisation: s_ui = p_u . q_i (+ b_u + b_i)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

__all__ = ["MF", "Encoder", "Triplet"]


class Triplet(NamedTuple):
    pos: torch.Tensor  # (B,)
    neg: torch.Tensor  # (B, K)
    ego: tuple[torch.Tensor, ...] | None  # embedding rows for L2, e.g. (u, i_pos, i_neg)


class Encoder(nn.Module):
    """Base for models that map ids to scores through user and item representations.

    Subclasses implement :meth:`embed`, returning ``(user_repr (n_users, d), item_repr
    (n_items, d))``, plus optional per-id biases via :meth:`biases`.
    """

    n_users: int
    n_items: int
    capturable: bool = False
    """Whether a training step is free of host syncs and randomness, so it can be captured as a
    CUDA graph (`recpref.modules.graph_step`)."""

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def biases(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return None, None

    def _check(self, users: torch.Tensor, items: torch.Tensor | None = None) -> None:
        if users.numel() and (int(users.min()) < 0 or int(users.max()) >= self.n_users):
            raise ValueError(f"user indices out of range [0, {self.n_users})")
        if items is not None and items.numel() and (int(items.min()) < 0 or int(items.max()) >= self.n_items):
            raise ValueError(f"item indices out of range [0, {self.n_items})")

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """users (B,), items (B,) or (B, K) -> scores of the same shape as items."""
        self._check(users, items)
        u_all, i_all = self.embed()
        u = u_all[users]
        i = i_all[items]
        s = (u * i).sum(-1) if items.dim() == 1 else torch.einsum("bd,bkd->bk", u, i)
        bu, bi = self.biases()
        if bu is not None:
            s = s + (bu[users] if items.dim() == 1 else bu[users].unsqueeze(-1))
        if bi is not None:
            s = s + bi[items]
        return s

    def triplet(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> Triplet:
        """Training scores for users (B,), pos (B,), neg (B, K) plus the layer-0 embedding rows
        the L2 term regularises (None when the encoder has no such rows). Subclasses fuse the
        gathers; this default calls `score` twice.

        Subclass versions do not range-check the indices (a check is a host sync per step, which
        also blocks CUDA-graph capture): the training batch stream validates each epoch's indices
        once (`recpref.sampling.batches.SampledBatches`). An index out of range raises in the
        gather on CPU and is a device-side assert on CUDA."""
        return Triplet(self.score(users, pos), self.score(users, neg), None)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """users (B,) -> scores (B, n_items)."""
        self._check(users)
        u_all, i_all = self.embed()
        s = u_all[users] @ i_all.T
        bu, bi = self.biases()
        if bu is not None:
            s = s + bu[users].unsqueeze(-1)
        if bi is not None:
            s = s + bi.unsqueeze(0)
        return s


class MF(Encoder):
    """Matrix factorisation with optional user/item biases.

    Embeddings are initialised N(0, ``init_std``) (LightGCN's code uses 0.1), or with
    ``init="xavier"`` Xavier-normal per table (RecBole's BPR); biases at 0.
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 64, *, biases: bool = False,
                 init_std: float = 0.1, init: Literal["normal", "xavier"] = "normal") -> None:
        super().__init__()
        if n_users < 1 or n_items < 1 or dim < 1:
            raise ValueError(f"need n_users, n_items, dim >= 1, got {n_users}, {n_items}, {dim}")
        self.n_users, self.n_items, self.dim = n_users, n_items, dim
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        if init == "xavier":
            nn.init.xavier_normal_(self.user_emb.weight)
            nn.init.xavier_normal_(self.item_emb.weight)
        elif init == "normal":
            nn.init.normal_(self.user_emb.weight, std=init_std)
            nn.init.normal_(self.item_emb.weight, std=init_std)
        else:
            raise ValueError(f"init must be 'normal' or 'xavier', got {init!r}")
        self.capturable = True
        self.user_bias = nn.Parameter(torch.zeros(n_users)) if biases else None
        self.item_bias = nn.Parameter(torch.zeros(n_items)) if biases else None

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def triplet(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> Triplet:
        # The user rows are gathered once and shared by both scores and the L2 term. (Separate
        # pos/neg gathers: one concatenated gather is slower, its slicing backward copies.)
        # No range check here: see Encoder.triplet.
        b, k = neg.shape
        u = self.user_emb.weight.index_select(0, users)
        i_pos = self.item_emb.weight.index_select(0, pos)
        i_neg = self.item_emb.weight.index_select(0, neg.reshape(-1)).view(b, k, self.dim)
        s_pos = (u * i_pos).sum(-1)
        s_neg = (u.unsqueeze(1) * i_neg).sum(-1)
        if self.user_bias is not None:
            s_pos = s_pos + self.user_bias[users]
            s_neg = s_neg + self.user_bias[users].unsqueeze(-1)
        if self.item_bias is not None:
            s_pos = s_pos + self.item_bias[pos]
            s_neg = s_neg + self.item_bias[neg]
        return Triplet(s_pos, s_neg, (u, i_pos, i_neg))

    def biases(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return self.user_bias, self.item_bias

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        # Gather only the rows needed (no full-table pass). index_select's backward is an
        # index_add, measurably cheaper on CPU than nn.Embedding's sort-based backward.
        self._check(users, items)
        u = self.user_emb.weight.index_select(0, users)
        if items.dim() == 1:
            s = (u * self.item_emb.weight.index_select(0, items)).sum(-1)
        else:
            i = self.item_emb.weight.index_select(0, items.reshape(-1)).view(*items.shape, self.dim)
            s = (u.unsqueeze(1) * i).sum(-1)
        if self.user_bias is not None:
            s = s + (self.user_bias[users] if items.dim() == 1 else self.user_bias[users].unsqueeze(-1))
        if self.item_bias is not None:
            s = s + self.item_bias[items]
        return s
