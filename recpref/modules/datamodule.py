"""Streams whole batches of sampled index tensors: no per-index Dataset/DataLoader overhead."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from recpref.catalog import NEGATIVES, STREAMS, NegativeKind, PositiveStream, check_choice, check_int
from recpref.data import Split
from recpref.sampling.batches import SampledBatches, build_batches

__all__ = ["EpochStreamDataModule", "NegativeKind", "PreferenceDataModule", "SampledBatches"]


class _One(IterableDataset[torch.Tensor]):
    def __iter__(self) -> Iterator[torch.Tensor]:
        yield torch.zeros(1)


class EpochStreamDataModule(pl.LightningDataModule):
    """Base of the datamodules whose training data is a stream re-drawn every epoch from a
    generator seeded by (seed, rank, epoch): subclasses build the stream once (`_build`, on the
    trainer's root device); every epoch's loader tells it the epoch and rank. Validation is one
    placeholder batch: modules score their validation set with `recpref.evaluation.evaluate` at
    the epoch's end."""

    _batches: Any = None

    def _build(self, device: torch.device) -> Any:
        raise NotImplementedError

    def _root_device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        if self._batches is None:
            self._batches = self._build(self._root_device())
        if self.trainer is not None:
            self._batches.epoch = self.trainer.current_epoch
            self._batches.rank = self.trainer.global_rank
        return DataLoader(self._batches, batch_size=None)

    def val_dataloader(self) -> DataLoader[torch.Tensor]:
        return DataLoader(_One(), batch_size=None)


class PreferenceDataModule(EpochStreamDataModule):
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
                 seed: int = 0, steps_per_call: int = 16, device: str | torch.device | None = None,
                 neg_pool: int | None = None, mask_pool: bool = True) -> None:
        super().__init__()
        self.sample_device = None if device is None else torch.device(device)
        for name, value in (("steps_per_call", steps_per_call), ("batch_size", batch_size), ("n_neg", n_neg)):
            check_int(name, value, 1)
        check_choice("negatives", negatives, NEGATIVES)
        check_choice("stream", stream, STREAMS)
        self.steps_per_call = steps_per_call
        self.neg_pool, self.mask_pool = neg_pool, mask_pool
        self.split = split
        self.batch_size, self.n_neg, self.seed = batch_size, n_neg, seed
        self.negatives_kind: NegativeKind = negatives
        self.popularity_exponent = popularity_exponent
        self.stream: PositiveStream = stream
        self.steps = steps_per_epoch or math.ceil(split.train.nnz / batch_size)
        self._batches: SampledBatches | None = None

    def _build(self, device: torch.device) -> SampledBatches:
        return build_batches(self.split.train, batch_size=self.batch_size, n_neg=self.n_neg,
                             negatives=self.negatives_kind, popularity_exponent=self.popularity_exponent,
                             stream=self.stream, steps=self.steps, seed=self.seed,
                             steps_per_call=self.steps_per_call, device=self.sample_device or device,
                             pool=self.neg_pool, mask_pool=self.mask_pool)
