"""The runner contract every benchmark row satisfies, and the result of one row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from recpref.data import Interactions


@runtime_checkable
class Runner(Protocol):
    """One model of one tool. ``fit`` trains on ``train`` only; ``score_all`` maps user
    indices (recpref's contiguous ids of ``train``) to (B, n_items) scores so that
    recpref's `evaluate` measures every row the same way."""

    name: str
    tool: str

    def fit(self, train: Interactions, seed: int) -> object: ...

    def score_all(self, users: torch.Tensor) -> torch.Tensor: ...

    def params(self) -> dict[str, Any]: ...


@dataclass
class RunResult:
    """One row of a benchmark table."""

    name: str
    tool: str
    metrics: dict[str, float]
    train_seconds: float
    eval_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    n_users: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tool": self.tool,
            "metrics": dict(self.metrics),
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "params": dict(self.params),
            "n_users": self.n_users,
            "error": self.error,
        }
