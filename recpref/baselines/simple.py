"""Most-popular and random scorers: ``scorer(users (B,)) -> (B, n_items)``."""

from __future__ import annotations

import numpy as np
import torch

from recpref.data import Interactions

_MASK64 = (1 << 64) - 1


class MostPopular:
    """Scores every item by its number of training interactions (same for every user).

    Ties (equal counts) are resolved by the evaluator's canonical order (lower item index).
    """

    name = "MostPopular"
    tool = "recpref"

    def __init__(self) -> None:
        self._counts: torch.Tensor | None = None

    def fit(self, train: Interactions, seed: int = 0) -> MostPopular:
        self._counts = torch.from_numpy(train.item_counts.astype(np.float32))
        return self

    def params(self) -> dict[str, object]:
        return {}

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        if self._counts is None:
            raise RuntimeError("MostPopular is not fitted; call fit(train) first")
        return self._counts.to(users.device).unsqueeze(0).expand(users.shape[0], -1)

    __call__ = score_all


class RandomScorer:
    """Uniform random scores, a pure function of (seed, user, item): the same user gets the
    same ranking whatever the batch it is scored in (a splitmix64 hash, not a stateful RNG)."""

    name = "Random"
    tool = "recpref"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._n_items: int | None = None

    def fit(self, train: Interactions, seed: int | None = None) -> RandomScorer:
        self._n_items = train.n_items
        if seed is not None:
            self.seed = seed
        return self

    def params(self) -> dict[str, object]:
        return {"seed": self.seed}

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        if self._n_items is None:
            raise RuntimeError("RandomScorer is not fitted; call fit(train) first")
        u = users.detach().cpu().numpy().astype(np.uint64)[:, None]
        i = np.arange(self._n_items, dtype=np.uint64)[None, :]
        with np.errstate(over="ignore"):
            x = (u * np.uint64(0x9E3779B97F4A7C15) + i + np.uint64(self.seed & _MASK64)) & np.uint64(_MASK64)
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            x = x ^ (x >> np.uint64(31))
        scores = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        return torch.from_numpy(scores).to(users.device)

    __call__ = score_all
