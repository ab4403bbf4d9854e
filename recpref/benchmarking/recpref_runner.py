"""recpref's own models as benchmark rows, trained through the training core (`recpref.training.fit`)."""

from __future__ import annotations

from typing import Any

import torch

from recpref.data import Interactions
from recpref.training.config import ModelConfig, PairwiseConfig


class RecprefRunner:
    """Trains ``model`` with ``config`` for ``config.epochs`` epochs (no early stopping, no
    validation: the benchmark's test split is never seen during training) through
    `recpref.training.fit`; the engine follows `recpref.training.choose_engine` (``engine="fused"``
    in the config pins the fused CPU kernel, ``"lightning"`` the Lightning module)."""

    tool = "recpref"

    def __init__(self, model: ModelConfig, config: PairwiseConfig, *, device: str = "cpu",
                 name: str | None = None) -> None:
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"device must be cpu or cuda[:N], got {device!r}")
        self.model, self.config, self.device = model, config, device
        arch = model.model.upper() if model.model == "mf" else {"lightgcn": "LightGCN", "ngcf": "NGCF"}[model.model]
        self.name = name or (f"recpref {config.loss.upper()}-{arch}" + (" (fused)" if config.engine == "fused" else ""))
        self._encoder: Any = None

    @classmethod
    def from_settings(cls, *, device: str = "cpu", name: str | None = None, **settings: Any) -> RecprefRunner:
        """Build from flat settings as `Recommender` takes them (validated the same way)."""
        from recpref.training.config import settings_from_flat

        model, config = settings_from_flat(**settings)
        if not isinstance(config, PairwiseConfig) or not isinstance(model, ModelConfig):
            raise ValueError(f"benchmark rows train the pairwise losses; got loss {config.loss!r}, model {model.model!r}")
        return cls(model, config, device=device, name=name)

    def params(self) -> dict[str, Any]:
        from recpref.training.config import flat_settings

        p = flat_settings(self.model, self.config)
        if self.model.model == "mf":
            p.pop("n_layers"), p.pop("message_dropout")
        if not self.config.loss.startswith("nbpo"):
            p.pop("flip_dim"), p.pop("reg_flip")
        for k in ("patience", "monitor", "monitor_k"):
            p.pop(k)
        return p

    def warmup(self) -> None:
        """Import Lightning and the training stack, and load (or compile, once per install) the
        fused kernel: one-time costs, not train time."""
        import lightning.pytorch  # noqa: F401

        import recpref.modules  # noqa: F401

        if self.config.engine == "fused":
            from recpref.models import MF
            from recpref.training.fused import FusedMFTrainer

            tiny = FusedMFTrainer(MF(2, 3, 2), self.config.loss, lr=self.config.lr)  # type: ignore[arg-type]
            tiny.step(torch.tensor([0]), torch.tensor([1]), torch.tensor([[2]]))

    def fit(self, train: Interactions, seed: int) -> None:
        from dataclasses import replace

        from recpref.training.core import fit

        accelerator = "gpu" if self.device.startswith("cuda") else "cpu"
        result = fit(self.model, replace(self.config, seed=seed), train, accelerator=accelerator, devices=1)
        self._encoder = result.encoder

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        if self._encoder is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train, seed) first")
        with torch.no_grad():
            scores: torch.Tensor = self._encoder.score_all(users.cpu())
        return scores
