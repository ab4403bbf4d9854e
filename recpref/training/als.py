"""Weighted-MF ALS through implicit's CPU solver (Hu, Koren & Volinsky, ICDM 2008): the one
place recpref calls it, for the ``als`` family of the training core and for the implicit ALS
benchmark row alike."""

from __future__ import annotations

import numpy as np

from recpref.data import Interactions


def train_als(train: Interactions, *, factors: int, reg: float, alpha: float, iterations: int, seed: int,
              threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """User (n_users, factors) and item (n_items, factors) float32 factors of implicit's
    ``AlternatingLeastSquares`` on the binarised ``train`` with confidence 1 + alpha x r."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    user_items = train.binarized().matrix.astype(np.float32)
    # implicit's own advice: its solver is parallel, so BLAS must not also spawn threads
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=factors, regularization=reg, alpha=alpha, iterations=iterations,
                                        num_threads=threads, random_state=seed)
        model.fit(user_items, show_progress=False)
    return (np.ascontiguousarray(model.user_factors, dtype=np.float32),
            np.ascontiguousarray(model.item_factors, dtype=np.float32))
