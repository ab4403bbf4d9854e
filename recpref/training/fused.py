"""CPU fast path for MF with BPR or BPO and Adam: the same batches and the same updates as
`PreferenceModule` under Lightning, with each step run by the fused numba kernel
(`recpref.kernels.mf_adam`) instead of autograd + torch.optim.

Use it where an MF step is so small that framework overhead dominates (ml-100k: ~0.07 s per
epoch through Lightning, a few ms fused). Batches come from `SampledBatches`, so with the same
seed both paths see identical index tensors and end at the same weights up to float rounding
(tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numba
import numpy as np
import torch

from recpref.data import Interactions
from recpref.models import MF
from recpref.catalog import NegativeKind, PositiveStream
from recpref.sampling.batches import build_batches

__all__ = ["FusedMFTrainer"]

FusedLoss = Literal["bpr", "bpo"]


class FusedMFTrainer:
    """Trains ``model`` (an `MF` without biases, float32, on the CPU) in place.

    ``reg`` is the L2 coefficient on the batch's embedding rows divided by the batch size, as in
    `PreferenceModule`; Adam with ``betas``/``eps`` as torch's defaults. ``threads`` is the
    number of numba threads for the Adam sweep (1 by default: the sweep is vectorised either
    way, and on a small machine a second thread competes with torch's and other libraries'
    spinning OpenMP workers more than it helps).
    """

    def __init__(self, model: MF, loss: FusedLoss = "bpr", *, lr: float = 1e-3, reg: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, threads: int = 1) -> None:
        from recpref.kernels.mf_adam import LOSS_CODES

        if not isinstance(model, MF):
            raise TypeError(f"the fused trainer handles MF only, got {type(model).__name__}")
        if model.user_bias is not None or model.item_bias is not None:
            raise ValueError("the fused trainer handles MF without biases; use PreferenceModule")
        weights = (model.user_emb.weight, model.item_emb.weight)
        if any(w.device.type != "cpu" or w.dtype != torch.float32 for w in weights):
            raise ValueError("the fused trainer runs on CPU float32 weights; use PreferenceModule on a GPU")
        if loss not in LOSS_CODES:
            raise ValueError(f"loss must be one of {sorted(LOSS_CODES)}, got {loss!r}")
        if not (lr > 0 and reg >= 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1 and eps > 0):
            raise ValueError(f"need lr > 0, reg >= 0, betas in [0, 1), eps > 0; got {lr}, {reg}, {betas}, {eps}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.model, self.loss_code = model, LOSS_CODES[loss]
        self.lr, self.reg, self.betas, self.eps = lr, reg, betas, eps
        self._u = model.user_emb.weight.detach().numpy()  # shares memory with the module
        self._i = model.item_emb.weight.detach().numpy()
        self._state = [np.zeros_like(a) for a in (self._u, self._u, self._i, self._i)]
        self.steps = 0

    def step(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> float:
        """Optimiser steps for users/pos (S, B) or (B,), neg (S, B, K) or (B, K); returns the
        mean step loss (loss + L2 term)."""
        from recpref.kernels.mf_adam import mf_adam_steps

        if users.dim() == 1:
            users, pos, neg = users.unsqueeze(0), pos.unsqueeze(0), neg.unsqueeze(0)
        if users.shape != pos.shape or neg.dim() != 3 or neg.shape[:2] != users.shape:
            raise ValueError(f"need users/pos (S, B) and neg (S, B, K); got {tuple(users.shape)}, "
                             f"{tuple(pos.shape)}, {tuple(neg.shape)}")
        n_u, n_i = self._u.shape[0], self._i.shape[0]
        for name, idx, n in (("user", users, n_u), ("positive item", pos, n_i), ("negative item", neg, n_i)):
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
                raise ValueError(f"{name} indices out of range [0, {n})")
        u, p, q = (np.ascontiguousarray(t.cpu().numpy(), dtype=np.int64) for t in (users, pos, neg))
        m_u, v_u, m_i, v_i = self._state
        before = numba.get_num_threads()
        numba.set_num_threads(min(self.threads, int(numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
        try:
            total = mf_adam_steps(self._u, self._i, m_u, v_u, m_i, v_i, u, p, q, self.loss_code, self.lr, self.reg,
                                  self.betas[0], self.betas[1], self.eps, self.steps)
        finally:
            numba.set_num_threads(before)
        self.steps += u.shape[0]
        if not math.isfinite(total):
            raise FloatingPointError(f"non-finite training loss after step {self.steps}; lower lr")
        return float(total) / u.shape[0]

    def fit(self, train: Interactions, *, epochs: int, batch_size: int = 2048, n_neg: int = 1,
            negatives: NegativeKind = "uniform", popularity_exponent: float = 0.75,
            stream: PositiveStream = "interactions", seed: int = 0, steps_per_call: int = 16,
            on_epoch_end: Callable[[int, float], bool | None] | None = None) -> list[float]:
        """``epochs`` passes of ``ceil(nnz / batch_size)`` steps, drawn exactly as
        `PreferenceDataModule` draws them (same seed -> same batches). ``on_epoch_end(epoch,
        mean_loss)`` may return True to stop. Returns the mean loss of each epoch."""
        if epochs < 1 or batch_size < 1 or n_neg < 1:
            raise ValueError(f"need epochs, batch_size, n_neg >= 1; got {epochs}, {batch_size}, {n_neg}")
        if train.shape != (self._u.shape[0], self._i.shape[0]):
            raise ValueError(f"train is {train.shape} but the model is {(self._u.shape[0], self._i.shape[0])}")
        batches = build_batches(train, batch_size=batch_size, n_neg=n_neg, negatives=negatives,
                                popularity_exponent=popularity_exponent, stream=stream,
                                steps=math.ceil(train.nnz / batch_size), seed=seed, steps_per_call=steps_per_call)
        history: list[float] = []
        for epoch in range(epochs):
            batches.epoch = epoch
            losses = [self.step(b["users"], b["pos"], b["neg"]) * b["users"].shape[0] for b in batches]
            history.append(sum(losses) / batches.steps)
            if on_epoch_end is not None and on_epoch_end(epoch, history[-1]):
                break
        return history
