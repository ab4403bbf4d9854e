"""Lightning callbacks of the training core: best-weights early stopping, history, divergence."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl

from recpref.training.best import BestState, check_finite_training


class BestWeights(pl.Callback):
    """Keeps the weights with the best ``monitor`` value (`BestState`), stops after
    ``patience`` validations without improvement, and restores the best weights when
    training ends."""

    def __init__(self, monitor: str, patience: int | None = None) -> None:
        self.monitor = monitor
        self.tracker = BestState(patience)

    @property
    def best(self) -> float:
        return self.tracker.best

    @property
    def best_epoch(self) -> int:
        return self.tracker.best_epoch

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and self.tracker.update(float(value), trainer.current_epoch, pl_module):
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.tracker.restore(pl_module)


class HistoryLogger(pl.Callback):
    """Appends ``{"epoch", "train_seconds", <logged metrics>}`` to a list after every training
    epoch, and raises ``FloatingPointError`` when the epoch's loss or weights are not finite
    (``lr`` is named in the message). ``train_seconds`` is the wall time from the epoch's start to
    the end of its last training step: the training steps (and the batches' sampling) only, the
    validation ranking that follows them excluded."""

    def __init__(self, history: list[dict[str, float]], lr: float) -> None:
        self.history, self.lr = history, lr
        self._start = self._last = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._last = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row = {"epoch": float(trainer.current_epoch), "train_seconds": self._last - self._start}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1})
        self.history.append(row)
        check_finite_training(trainer.current_epoch, row.get("train/loss", 0.0), pl_module, self.lr)
