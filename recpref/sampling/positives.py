"""Positive streams: (user, item) index tensors drawn from the observed interactions."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from recpref.data import Interactions

__all__ = ["PositiveSampler", "PositiveStream"]

PositiveStream = Literal["interactions", "users", "shuffle"]
"""``interactions``: uniform over stored (user, item) pairs (LearnBPR's bootstrap).
``users``: a user uniformly among users with at least one interaction, then one of their
items uniformly (LightGCN's sampler). ``shuffle``: every stored pair once per epoch in a
random order (RecBole's and most reference code's epochs); see `PositiveSampler.epoch`."""


class PositiveSampler:
    """Draws observed (user, item) pairs with replacement, vectorised over the CSR arrays.

    Tensors live on ``device``; every draw takes an explicit ``torch.Generator`` on that device.
    """

    def __init__(self, train: Interactions, stream: PositiveStream = "interactions",
                 device: torch.device | str = "cpu") -> None:
        if stream not in ("interactions", "users", "shuffle"):
            raise ValueError(f"stream must be 'interactions', 'users' or 'shuffle', got {stream!r}")
        csr = train.to_torch(device)
        self.stream: PositiveStream = stream
        self.device = torch.device(device)
        self.indptr = csr.indptr
        self.indices = csr.indices
        self.rows = torch.repeat_interleave(torch.arange(train.n_users, device=self.device), csr.indptr.diff())
        self.active_users = torch.nonzero(csr.indptr.diff() > 0).flatten()
        self.n_users, self.n_items = train.n_users, train.n_items

    def _pairs(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored pairs at positions ``idx``. On the CPU the gathers run in numpy, one plain
        loop on the caller's thread: a torch gather of this size opens an OpenMP parallel region,
        and on a busy small machine such a region spin-waits for a descheduled worker
        (docs/benchmarks.md, "Sampler throughput"). Same values either way."""
        if self.device.type == "cpu":
            i = idx.numpy()
            return torch.from_numpy(self.rows.numpy().take(i)), torch.from_numpy(self.indices.numpy().take(i))
        return self.rows.index_select(0, idx), self.indices.index_select(0, idx)

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` pairs: users (n,) int64 and items (n,) int64."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if self.stream in ("interactions", "shuffle"):  # "shuffle" draws epochs via epoch()
            return self._pairs(torch.randint(len(self.indices), (n,), generator=gen, device=self.device))
        users = self.active_users[torch.randint(len(self.active_users), (n,), generator=gen, device=self.device)]
        start = self.indptr[users]
        deg = self.indptr[users + 1] - start
        offset = (torch.rand(n, generator=gen, device=self.device) * deg).long().clamp_max_(deg - 1)
        return users, self.indices[start + offset]

    def epoch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs for one epoch. With the ``shuffle`` stream: successive random
        permutations of all stored pairs (each pair once per pass, a new order per pass,
        continued for ``n`` > nnz); otherwise ``n`` independent draws as `sample`."""
        if self.stream != "shuffle":
            return self.sample(n, gen)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        nnz = len(self.indices)
        perms = [torch.randperm(nnz, generator=gen, device=self.device) for _ in range(-(-n // nnz) if n else 0)]
        if len(perms) < 2:
            idx = perms[0][:n] if perms else torch.empty(0, dtype=torch.long, device=self.device)
        elif self.device.type == "cpu":  # numpy: a torch.cat this size is an OpenMP region (see `_pairs`)
            idx = torch.from_numpy(np.concatenate([p.numpy() for p in perms])[:n])
        else:
            idx = torch.cat(perms)[:n]
        return self._pairs(idx)
