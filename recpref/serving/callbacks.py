"""Lightning callbacks used by `Recommender.fit`: best-weights early stopping and a history."""

from __future__ import annotations

import copy
from typing import Any

import lightning.pytorch as pl


class BestWeights(pl.Callback):
    """Keeps an in-memory copy of the weights with the best ``monitor`` value (no checkpoint
    files, nothing pickled), stops after ``patience`` validations without improvement, and
    restores the best weights when training ends."""

    def __init__(self, monitor: str, patience: int | None = None) -> None:
        self.monitor, self.patience = monitor, patience
        self.best: float = float("-inf")
        self.best_epoch = -1
        self._state: dict[str, Any] | None = None
        self._bad = 0

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        v = float(value)
        if v > self.best:
            self.best, self.best_epoch, self._bad = v, trainer.current_epoch, 0
            self._state = copy.deepcopy(pl_module.state_dict())
        else:
            self._bad += 1
            if self.patience is not None and self._bad >= self.patience:
                trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._state is not None:
            pl_module.load_state_dict(self._state)


class HistoryLogger(pl.Callback):
    """Appends ``{"epoch", <logged metrics>}`` to a list after every training epoch."""

    def __init__(self, history: list[dict[str, float]]) -> None:
        self.history = history

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row = {"epoch": float(trainer.current_epoch)}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1})
        self.history.append(row)
