"""implicit's BPR and ALS (CPU) as benchmark runners, scored through recpref's evaluator."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from recpref.data import Interactions


class _ImplicitFactorRunner:
    tool = "implicit"
    name = "implicit"

    def __init__(self) -> None:
        self._user: torch.Tensor | None = None
        self._item: torch.Tensor | None = None
        self._kwargs: dict[str, Any] = {}

    def params(self) -> dict[str, Any]:
        return dict(self._kwargs)

    def warmup(self) -> None:
        """Import implicit (one-time cost, not train time)."""
        import implicit.cpu.als  # noqa: F401
        import implicit.cpu.bpr  # noqa: F401

    def _user_items(self, train: Interactions) -> sp.csr_matrix:
        return train.binarized().matrix.astype(np.float32)

    def _store(self, model: Any) -> None:
        self._user = torch.from_numpy(np.ascontiguousarray(model.user_factors, dtype=np.float32))
        self._item = torch.from_numpy(np.ascontiguousarray(model.item_factors, dtype=np.float32))

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        if self._user is None or self._item is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train, seed) first")
        return self._user[users.cpu()] @ self._item.T


class ImplicitBPR(_ImplicitFactorRunner):
    """implicit.cpu.bpr.BayesianPersonalizedRanking. Its item factors carry a bias column and
    its user factors a matching column of ones, so the dot product is the full score."""

    name = "implicit BPR"

    def __init__(self, factors: int = 100, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, num_threads: int = 0) -> None:
        super().__init__()
        self._kwargs = dict(factors=factors, learning_rate=learning_rate, regularization=regularization,
                            iterations=iterations, num_threads=num_threads)

    def fit(self, train: Interactions, seed: int) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(random_state=seed, **self._kwargs)
        model.fit(self._user_items(train), show_progress=False)
        self._store(model)


class ImplicitALS(_ImplicitFactorRunner):
    """implicit.cpu.als.AlternatingLeastSquares with confidence C = 1 + alpha * R (Hu et al.);
    ``alpha`` is the "matrix x 40" confidence scaling of the literature."""

    name = "implicit ALS"

    def __init__(self, factors: int = 100, regularization: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, num_threads: int = 0) -> None:
        super().__init__()
        self._kwargs = dict(factors=factors, regularization=regularization, alpha=alpha,
                            iterations=iterations, num_threads=num_threads)

    def fit(self, train: Interactions, seed: int) -> None:
        from recpref.training.als import train_als

        kw = self._kwargs
        user, item = train_als(train, factors=kw["factors"], reg=kw["regularization"], alpha=kw["alpha"],
                               iterations=kw["iterations"], seed=seed, threads=kw["num_threads"])
        self._user, self._item = torch.from_numpy(user), torch.from_numpy(item)
