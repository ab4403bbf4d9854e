"""recpref's own models as benchmark rows: encoder + loss trained by Lightning."""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import torch

from recpref.data import Interactions, Split

ModelName = Literal["mf", "lightgcn"]
Engine = Literal["lightning", "fused"]


class RecprefRunner:
    """Trains ``model`` with ``loss`` for ``epochs`` epochs (no early stopping, no validation:
    the benchmark's test split is never seen during training): through `PreferenceModule` under
    Lightning, or with ``engine="fused"`` (MF + BPR/BPO on CPU) through `FusedMFTrainer`, which
    draws the same batches and applies the same Adam updates in one compiled loop."""

    tool = "recpref"

    def __init__(self, model: ModelName = "mf", loss: str = "bpr", *, epochs: int = 100, batch_size: int = 2048,
                 lr: float = 1e-3, dim: int = 64, reg: float = 0.0, n_layers: int = 3, device: str = "cpu",
                 init: Literal["normal", "xavier"] = "xavier", n_neg: int = 1,
                 stream: Literal["interactions", "users", "shuffle"] = "shuffle", name: str | None = None,
                 engine: Engine = "lightning") -> None:
        if engine == "fused" and (model != "mf" or loss not in ("bpr", "bpo") or device != "cpu"):
            raise ValueError("engine='fused' runs MF with BPR or BPO on the CPU only")
        self.engine: Engine = engine
        self.init, self.n_neg, self.stream = init, n_neg, stream
        self.model_name, self.loss = model, loss
        self.epochs, self.batch_size, self.lr, self.dim, self.reg = epochs, batch_size, lr, dim, reg
        self.n_layers, self.device = n_layers, device
        self.name = name or (f"recpref {loss.upper()}-{model.upper() if model == 'mf' else 'LightGCN'}"
                             + (" (fused)" if engine == "fused" else ""))
        self._module: Any = None

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"model": self.model_name, "loss": self.loss, "epochs": self.epochs,
                             "batch_size": self.batch_size, "lr": self.lr, "dim": self.dim, "reg": self.reg,
                             "init": self.init, "n_neg": self.n_neg, "stream": self.stream, "engine": self.engine}
        if self.model_name == "lightgcn":
            p["n_layers"] = self.n_layers
        return p

    def warmup(self) -> None:
        """Import Lightning and the training stack, and load (or compile, once per install) the
        fused kernel: one-time costs, not train time."""
        import lightning.pytorch  # noqa: F401

        import recpref.modules  # noqa: F401

        if self.engine == "fused":
            from recpref.models import MF
            from recpref.modules import FusedMFTrainer

            tiny = FusedMFTrainer(MF(2, 3, 2), self.loss, lr=self.lr)  # type: ignore[arg-type]
            tiny.step(torch.tensor([0]), torch.tensor([1]), torch.tensor([[2]]))

    def fit(self, train: Interactions, seed: int) -> None:
        if self.engine == "fused":
            self._fit_fused(train, seed)
            return
        import lightning.pytorch as pl

        from recpref.models import MF, LightGCN
        from recpref.modules import PreferenceDataModule, PreferenceModule

        pl.seed_everything(seed, workers=False, verbose=False)
        enc = (MF(train.n_users, train.n_items, self.dim, init=self.init) if self.model_name == "mf"
               else LightGCN(train, dim=self.dim, n_layers=self.n_layers))
        module = PreferenceModule(enc, loss=self.loss, lr=self.lr, reg=self.reg)  # type: ignore[arg-type]
        dm = PreferenceDataModule(Split(train=train, test=train, allow_overlap=True), batch_size=self.batch_size,
                                  n_neg=self.n_neg, stream=self.stream, seed=seed)
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        trainer = pl.Trainer(max_epochs=self.epochs, accelerator="gpu" if self.device.startswith("cuda") else "cpu",
                             devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            trainer.fit(module, datamodule=dm)
        self._module = module

    def _fit_fused(self, train: Interactions, seed: int) -> None:
        from recpref.models import MF
        from recpref.modules import FusedMFTrainer

        torch.manual_seed(seed)
        enc = MF(train.n_users, train.n_items, self.dim, init=self.init)
        FusedMFTrainer(enc, self.loss, lr=self.lr, reg=self.reg).fit(  # type: ignore[arg-type]
            train, epochs=self.epochs, batch_size=self.batch_size, n_neg=self.n_neg, stream=self.stream, seed=seed)
        self._module = enc

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        if self._module is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train, seed) first")
        with torch.no_grad():
            scores: torch.Tensor = self._module.score_all(users)
        return scores
