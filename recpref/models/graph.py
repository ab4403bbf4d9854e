"""Graph encoders on the user-item bipartite graph: LightGCN and NGCF (methods.md section 6)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from recpref.data import Interactions
from recpref.models.mf import Encoder, Triplet

__all__ = ["LightGCN", "NGCF", "normalized_adjacency"]


def normalized_adjacency(train: Interactions) -> torch.Tensor:
    """Symmetric-normalised bipartite adjacency ``D^-1/2 A D^-1/2`` as a sparse COO tensor of
    shape (n_users + n_items, n_users + n_items); no self-loops, unit edge weights; nodes of
    degree 0 get a zero row."""
    n_u, n_i = train.shape
    r = train.binarized().matrix
    a = sp.bmat([[None, r], [r.T, None]], format="coo", dtype=np.float64)
    deg = np.asarray(a.sum(1)).ravel()
    with np.errstate(divide="ignore"):
        d = np.where(deg > 0, deg ** -0.5, 0.0)
    vals = d[a.row] * a.data * d[a.col]
    idx = torch.as_tensor(np.vstack([a.row, a.col]), dtype=torch.int64)
    return torch.sparse_coo_tensor(
        idx, torch.as_tensor(vals, dtype=torch.float32), (n_u + n_i, n_u + n_i), check_invariants=True
    ).coalesce()


class _SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a *symmetric* sparse ``adj``: the backward is ``adj @ grad`` with the
    same CSR matrix (no transpose, no COO), ~7x faster than ``torch.sparse.mm`` on a COO
    tensor for fwd+bwd on CPU."""

    @staticmethod
    def forward(ctx: Any, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, ctx.adj @ grad


def propagate(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One propagation step with the symmetric normalised adjacency (CSR)."""
    out: torch.Tensor = _SymmetricSpMM.apply(adj, x)
    return out


class _GraphEncoder(Encoder):
    def __init__(self, train: Interactions, dim: int, n_layers: int, init_std: float) -> None:
        super().__init__()
        if dim < 1 or n_layers < 0:
            raise ValueError(f"need dim >= 1 and n_layers >= 0, got {dim}, {n_layers}")
        self.n_users, self.n_items = train.shape
        self.dim, self.n_layers = dim, n_layers
        self.emb = nn.Embedding(self.n_users + self.n_items, dim)
        nn.init.normal_(self.emb.weight, std=init_std)
        # CSR for fast CPU/GPU spmm; symmetric, so the backward reuses it (see propagate)
        with warnings.catch_warnings():  # torch labels sparse CSR "beta"; spmm is what we use
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta.*")
            adj = normalized_adjacency(train).to_sparse_csr()
        self.register_buffer("adj", adj, persistent=False)

    def ego_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-0 (trained) embeddings of the given ids, for L2 regularisation."""
        return self.emb.weight[users], self.emb.weight[self.n_users + items]

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[: self.n_users], x[self.n_users :]

    def triplet(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> Triplet:
        """One propagation per step for both scores (the default would propagate twice); no
        range check (see `Encoder.triplet`)."""
        u_all, i_all = self.embed()
        u = u_all[users]
        s_pos = (u * i_all[pos]).sum(-1)
        s_neg = (u.unsqueeze(1) * i_all[neg]).sum(-1)
        eu, ei = self.ego_embeddings(users, torch.cat([pos.unsqueeze(1), neg], 1))
        return Triplet(s_pos, s_neg, (eu, ei))


class LightGCN(_GraphEncoder):
    """LightGCN: E^(k+1) = D^-1/2 A D^-1/2 E^(k); final = mean of layers 0..K; s = e_u . e_i."""

    def __init__(self, train: Interactions, dim: int = 64, n_layers: int = 3, *, init_std: float = 0.1) -> None:
        super().__init__(train, dim, n_layers, init_std)
        self.capturable = True  # deterministic CSR spmm, no dropout

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.emb.weight
        acc = x
        adj: torch.Tensor = self.adj  # type: ignore[assignment]
        for _ in range(self.n_layers):
            x = propagate(adj, x)
            acc = acc + x
        return self._split(acc / (self.n_layers + 1))


class NGCF(_GraphEncoder):
    """NGCF (Wang et al., SIGIR 2019) as published: per layer
    ``e' = LeakyReLU(W1 (e + L e) + W2 ((L e) * e))`` with L the normalised adjacency (the
    official code's form of the paper's message passing), message dropout on each layer's
    output, L2-normalised layer outputs, and the concatenation of layers 0..L as the final
    representation (dim * (L + 1))."""

    def __init__(self, train: Interactions, dim: int = 64, n_layers: int = 3, *,
                 message_dropout: float = 0.1, init_std: float = 0.1) -> None:
        super().__init__(train, dim, n_layers, init_std)
        if not 0.0 <= message_dropout < 1.0:
            raise ValueError(f"message_dropout must be in [0, 1), got {message_dropout}")
        self.message_dropout = message_dropout
        self.w1 = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))
        self.w2 = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_layers))
        for lin in [*self.w1, *self.w2]:
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.emb.weight
        layers = [x]
        adj: torch.Tensor = self.adj  # type: ignore[assignment]
        for w1, w2 in zip(self.w1, self.w2):
            side = propagate(adj, x)
            x = F.leaky_relu(w1(side + x) + w2(side * x), negative_slope=0.2)
            x = F.dropout(x, p=self.message_dropout, training=self.training)
            layers.append(F.normalize(x, p=2, dim=1))
        return self._split(torch.cat(layers, dim=1))
