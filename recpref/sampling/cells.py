"""Cell samplers for learning from MNAR clicks: (user, item) cells with their click label.

Unlike the negative samplers, an "unlabeled" cell here may be a click: IPS-style estimators
need the click indicator of every sampled cell, clicked or not (methods.md section 2).
"""

from __future__ import annotations

import torch

from recpref.data import Interactions
from recpref.sampling.negatives import MembershipTable, UniformSampler
from recpref.sampling.positives import PositiveSampler

__all__ = ["ClickCellSampler"]


class ClickCellSampler:
    """Draws index tensors of (user, item) cells and their click labels from ``clicks``.

    - `pointwise`: half the batch clicked cells (uniform over clicks), half cells uniform over
      the whole user x item grid, clicked or not (the Rel-MF code's batches).
    - `pairwise`: a clicked (u, i) and another item j != i of the same user, uniform, clicked
      or not, with its label (UBPR); ``unclicked_only=True`` draws j among u's unclicked
      items (BPR).
    """

    def __init__(self, clicks: Interactions, device: torch.device | str = "cpu") -> None:
        if clicks.nnz == 0:
            raise ValueError("no clicks: nothing to learn from")
        if clicks.n_items < 2:
            raise ValueError("need at least two items to sample pairs")
        self.device = torch.device(device)
        self.n_users, self.n_items = clicks.shape
        self.clicks = clicks
        self.positives = PositiveSampler(clicks, "interactions", device=device)
        self.table = MembershipTable(clicks, device=device)
        self._negatives: UniformSampler | None = None  # exact unclicked draws, built when BPR asks

    def is_click(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.table.is_positive(users, items)

    def pointwise(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """users (n,), items (n,), clicks (n,) float32."""
        if n < 2:
            raise ValueError(f"a pointwise batch needs at least 2 cells, got {n}")
        u1, i1 = self.positives.sample(n // 2, gen)
        m = n - n // 2
        u2 = torch.randint(self.n_users, (m,), generator=gen, device=self.device)
        i2 = torch.randint(self.n_items, (m,), generator=gen, device=self.device)
        users, items = torch.cat([u1, u2]), torch.cat([i1, i2])
        clicks = torch.cat([torch.ones(n // 2, device=self.device), self.is_click(u2, i2).float()])
        return users, items, clicks

    def pairwise(self, n: int, gen: torch.Generator, *, unclicked_only: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """users (n,), clicked items i (n,), other items j (n,), clicks of j (n,) float32."""
        users, pos = self.positives.sample(n, gen)
        if unclicked_only:
            if self._negatives is None:
                self._negatives = UniformSampler(self.clicks, device=self.device)
            neg = self._negatives.sample(users, 1, gen).squeeze(1)
            return users, pos, neg, torch.zeros(n, device=self.device)
        j = torch.randint(self.n_items - 1, (n,), generator=gen, device=self.device)
        j = j + (j >= pos).long()  # uniform over the items other than i
        return users, pos, j, self.is_click(users, j).float()
