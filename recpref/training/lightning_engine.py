"""The one place a Lightning ``Trainer`` is built, quietly, and the Lightning fits of the
pairwise and MNAR families."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import lightning.pytorch as pl

__all__ = ["make_trainer", "quiet_lightning", "run_fit"]

_LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banner lines ("GPU available...", "TPU...", tips) and notes that do
    not apply, for the duration of a fit only: the loggers' levels are restored afterwards, so
    an application's own logging setup is untouched."""
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # our IterableDatasets' __len__ is exact (no worker processes); a pytree deprecation
            # inside Lightning; the single-batch validation loader is deliberate
            warnings.filterwarnings("ignore", message=".*IterableDataset.*__len__.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*litlogger.*")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def make_trainer(*, max_epochs: int, accelerator: str = "auto", devices: int | str = "auto",
                 strategy: str = "auto", progress: bool = False, validate: bool = False,
                 callbacks: Sequence[Any] = ()) -> pl.Trainer:
    """A Trainer with recpref's settings: no logger, no checkpoint files, no model summary; one
    validation "batch" per epoch when ``validate`` (modules score the whole validation set with
    `recpref.evaluation.evaluate` at the epoch's end)."""
    with quiet_lightning():
        return pl.Trainer(max_epochs=max_epochs, accelerator=accelerator, devices=devices, strategy=strategy,
                          logger=False, enable_checkpointing=False, enable_progress_bar=progress,
                          enable_model_summary=False, limit_val_batches=1 if validate else 0,
                          num_sanity_val_steps=0, callbacks=list(callbacks))


def run_fit(trainer: pl.Trainer, module: pl.LightningModule, datamodule: pl.LightningDataModule) -> None:
    """``trainer.fit`` without Lightning's banner and inapplicable warnings."""
    with quiet_lightning():
        trainer.fit(module, datamodule=datamodule)
