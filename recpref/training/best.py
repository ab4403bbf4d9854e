"""Best-epoch tracking shared by every engine: no Lightning, no checkpoint files, no pickle."""

from __future__ import annotations

import math
from typing import Any

import torch


class BestState:
    """The best value of a validation metric so far, the weights that reached it (an in-memory
    copy) and the count of validations since."""

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


def check_finite_training(epoch: int, loss: float, module: torch.nn.Module, lr: float) -> None:
    """Raise ``FloatingPointError`` when an epoch's loss or any weight is NaN/inf: a diverged fit
    must not turn into a model that silently recommends nothing."""
    bad_weights = [name for name, p in module.named_parameters() if not bool(torch.isfinite(p).all())]
    if math.isfinite(loss) and not bad_weights:
        return
    what = f"train loss {loss}" if not math.isfinite(loss) else f"non-finite weights in {bad_weights[:3]}"
    raise FloatingPointError(f"training diverged in epoch {epoch}: {what}; lower lr (now {lr:g})")
