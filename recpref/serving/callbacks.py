"""Lightning callbacks used by `Recommender.fit`: best-weights early stopping and a history."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch


class BestState:
    """The best value of a validation metric so far, the weights that reached it (an in-memory
    copy: no checkpoint files, nothing pickled) and the count of validations since."""

    def __init__(self, patience: int | None = None) -> None:
        self.patience = patience
        self.best: float = float("-inf")
        self.best_epoch = -1
        self.state: dict[str, Any] | None = None
        self.bad = 0

    def update(self, value: float, epoch: int, module: torch.nn.Module) -> bool:
        """Record one validation; True when ``patience`` validations passed without a gain."""
        if value > self.best:
            self.best, self.best_epoch, self.bad = value, epoch, 0
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return False
        self.bad += 1
        return self.patience is not None and self.bad >= self.patience

    def restore(self, module: torch.nn.Module) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


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
    """Appends ``{"epoch", <logged metrics>}`` to a list after every training epoch."""

    def __init__(self, history: list[dict[str, float]]) -> None:
        self.history = history

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        row = {"epoch": float(trainer.current_epoch)}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1})
        self.history.append(row)
