"""Streams whole batches of sampled index tensors: no per-index Dataset/DataLoader overhead."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from recpref.data import Interactions, Split
from recpref.sampling import NegativeSampler, PopularitySampler, PositiveSampler, PositiveStream, UniformSampler, make_generator

__all__ = ["NegativeKind", "PreferenceDataModule", "SampledBatches"]

NegativeKind = Literal["uniform", "popularity"]


class SampledBatches(IterableDataset[dict[str, torch.Tensor]]):
    """One epoch = ``steps`` optimiser steps of batch size B, delivered as chunks of up to
    ``steps_per_call`` steps: ``{"users" (S, B), "pos" (S, B), "neg" (S, B, n_neg)}``.

    Chunking amortises the framework's per-batch overhead (on CPU, Lightning's hooks cost
    more than an MF step) and lets the samplers draw S x B triples in one vectorised call.
    Each epoch draws from a fresh generator seeded by (seed, rank, epoch), so runs repeat
    exactly and distributed ranks draw different streams.
    """

    def __init__(self, positives: PositiveSampler, negatives: NegativeSampler, *, batch_size: int,
                 n_neg: int, steps: int, seed: int, steps_per_call: int = 1) -> None:
        if steps_per_call < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
        self.positives, self.negatives = positives, negatives
        self.batch_size, self.n_neg, self.steps, self.seed = batch_size, n_neg, steps, seed
        self.steps_per_call = steps_per_call
        self.epoch = 0
        self.rank = 0

    def __len__(self) -> int:
        return math.ceil(self.steps / self.steps_per_call)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        gen = make_generator(self.seed, rank=self.rank, epoch=self.epoch, device=self.positives.device)
        self.epoch += 1  # the next pass over the loader is the next epoch
        b = self.batch_size
        # the epoch's positives up front: with the "shuffle" stream a permutation of all pairs
        all_users, all_pos = self.positives.epoch(self.steps * b, gen)
        for start in range(0, self.steps, self.steps_per_call):
            s = min(self.steps_per_call, self.steps - start)
            users, pos = all_users[start * b:(start + s) * b], all_pos[start * b:(start + s) * b]
            neg = self.negatives.sample(users, self.n_neg, gen)
            yield {"users": users.view(s, b), "pos": pos.view(s, b), "neg": neg.view(s, b, self.n_neg)}


def build_batches(train: Interactions, *, batch_size: int, n_neg: int, negatives: NegativeKind,
                  popularity_exponent: float, stream: PositiveStream, steps: int, seed: int, steps_per_call: int,
                  device: torch.device | str = "cpu") -> SampledBatches:
    """The samplers and batch stream every MF/graph trainer draws from (Lightning and fused
    alike), so the same settings and seed give the same batches."""
    neg: NegativeSampler = (
        UniformSampler(train, device=device) if negatives == "uniform"
        else PopularitySampler(train, exponent=popularity_exponent, smoothing=1.0, device=device)
    )
    return SampledBatches(PositiveSampler(train, stream, device=device), neg, batch_size=batch_size, n_neg=n_neg,
                          steps=steps, seed=seed, steps_per_call=steps_per_call)


class _One(IterableDataset[torch.Tensor]):
    def __iter__(self) -> Iterator[torch.Tensor]:
        yield torch.zeros(1)


class PreferenceDataModule(pl.LightningDataModule):
    """Training batches of (user, positive, negatives) from ``split.train``.

    An epoch has ``ceil(train.nnz / batch_size)`` steps (|train| samples, as in LightGCN's
    code) unless ``steps_per_epoch`` is given; they arrive ``steps_per_call`` at a time
    (see `SampledBatches`; the module takes one optimiser step per row). Samples are drawn on
    ``device``; by default on the trainer's root device (the GPU under ``accelerator="gpu"``),
    so no index tensor crosses the bus. Validation is a single placeholder batch: the
    module scores ``split.valid`` with `recpref.evaluation.evaluate` at the end of the epoch.
    """

    def __init__(self, split: Split, *, batch_size: int = 2048, n_neg: int = 1,
                 negatives: NegativeKind = "uniform", popularity_exponent: float = 0.75,
                 stream: PositiveStream = "interactions", steps_per_epoch: int | None = None,
                 seed: int = 0, steps_per_call: int = 16, device: str | torch.device | None = None) -> None:
        super().__init__()
        self.sample_device = None if device is None else torch.device(device)
        if steps_per_call < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
        self.steps_per_call = steps_per_call
        if batch_size < 1 or n_neg < 1:
            raise ValueError(f"need batch_size >= 1 and n_neg >= 1, got {batch_size}, {n_neg}")
        if negatives not in ("uniform", "popularity"):
            raise ValueError(f"negatives must be 'uniform' or 'popularity', got {negatives!r}")
        self.split = split
        self.batch_size, self.n_neg, self.seed = batch_size, n_neg, seed
        self.negatives_kind: NegativeKind = negatives
        self.popularity_exponent = popularity_exponent
        self.stream: PositiveStream = stream
        self.steps = steps_per_epoch or math.ceil(split.train.nnz / batch_size)
        self._batches: SampledBatches | None = None

    def _sample_device(self) -> torch.device:
        if self.sample_device is not None:
            return self.sample_device
        if self.trainer is not None:
            return self.trainer.strategy.root_device
        return torch.device("cpu")

    def _build(self) -> SampledBatches:
        return build_batches(self.split.train, batch_size=self.batch_size, n_neg=self.n_neg,
                             negatives=self.negatives_kind, popularity_exponent=self.popularity_exponent,
                             stream=self.stream, steps=self.steps, seed=self.seed,
                             steps_per_call=self.steps_per_call, device=self._sample_device())

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        if self._batches is None:
            self._batches = self._build()
        if self.trainer is not None:
            self._batches.epoch = self.trainer.current_epoch
            self._batches.rank = self.trainer.global_rank
        return DataLoader(self._batches, batch_size=None)

    def val_dataloader(self) -> DataLoader[torch.Tensor]:
        return DataLoader(_One(), batch_size=None)
