"""Lightning composition for learning from MNAR clicks: encoder + unbiased loss + propensities
(methods.md section 2). The losses live in `recpref.losses.unbiased`, the propensities come
from `recpref.propensity`, the cells from `ClickCellSampler`; this module only wires them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, get_args

import lightning.pytorch as pl
import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import IterableDataset

from recpref.data import Interactions
from recpref.catalog import check_choice
from recpref.losses import l2_regularization
from recpref.losses.unbiased import LocalLoss
from recpref.models import MF
from recpref.modules.datamodule import EpochStreamDataModule
from recpref.modules.objectives import MNAR_OBJECTIVES
from recpref.propensity import check_item_or_cell_propensities
from recpref.sampling import make_generator
from recpref.sampling.cells import ClickCellSampler
from recpref.sampling.negatives import MembershipTable

__all__ = ["MNARDataModule", "MNARLoss", "MNARModule", "PAIRWISE_LOSSES", "click_rate_among_exposed"]

MNARLoss = Literal["naive", "relmf", "snips", "dr", "wmf", "bpr", "ubpr"]
PAIRWISE_LOSSES = ("bpr", "ubpr")


def click_rate_among_exposed(clicks: Interactions, exposure: Interactions) -> float:
    """P(click | exposed) = |clicks| / |exposed cells|: the simplest relevance imputation for DR."""
    if clicks.shape != exposure.shape or exposure.nnz == 0:
        raise ValueError("clicks and exposure need the same shape and at least one exposed cell")
    return float(min(1.0, clicks.nnz / exposure.nnz))


class _CellBatches(IterableDataset[dict[str, torch.Tensor]]):
    def __init__(self, sampler: ClickCellSampler, loss: MNARLoss, batch_size: int, steps: int, seed: int) -> None:
        self.sampler, self.loss, self.batch_size, self.steps, self.seed = sampler, loss, batch_size, steps, seed
        self.epoch, self.rank = 0, 0
        self.pairwise = loss in PAIRWISE_LOSSES  # resolved once, not per step
        self.unclicked_only = loss == "bpr"

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        gen = make_generator(self.seed, rank=self.rank, epoch=self.epoch, device=self.sampler.device)
        self.epoch += 1
        for _ in range(self.steps):
            if self.pairwise:
                u, i, j, yj = self.sampler.pairwise(self.batch_size, gen, unclicked_only=self.unclicked_only)
                yield {"users": u, "items": i, "others": j, "other_clicks": yj}
            else:
                u, i, y = self.sampler.pointwise(self.batch_size, gen)
                yield {"users": u, "items": i, "clicks": y}


class MNARDataModule(EpochStreamDataModule):
    """Batches of click cells for ``loss``: pointwise (half clicks, half uniform cells) or
    pairwise (a click and another item of the user). ``steps_per_epoch`` batches per epoch."""

    def __init__(self, clicks: Interactions, loss: MNARLoss, *, batch_size: int = 1024, steps_per_epoch: int = 100,
                 seed: int = 0) -> None:
        super().__init__()
        if batch_size < 2 or steps_per_epoch < 1:
            raise ValueError(f"need batch_size >= 2 and steps_per_epoch >= 1, got {batch_size}, {steps_per_epoch}")
        self.clicks, self.loss = clicks, loss
        self.batch_size, self.steps, self.seed = batch_size, steps_per_epoch, seed

    def _build(self, device: torch.device) -> _CellBatches:
        return _CellBatches(ClickCellSampler(self.clicks, device=device), self.loss, self.batch_size, self.steps,
                            self.seed)


class MNARModule(pl.LightningModule):
    """MF trained on MNAR clicks with one of:

    - ``naive``: pointwise log/squared loss with the clicks as labels (theta = 1),
    - ``relmf``: Rel-MF's IPS estimator, clipped at ``clip`` when given,
    - ``snips``: the self-normalised IPS variant,
    - ``dr``: doubly robust, with exposure (``exposure``: the cells shown/rated) and a constant
      imputed relevance ``imputed`` (e.g. `click_rate_among_exposed`),
    - ``wmf``: weighted MF (squared loss on raw scores, ``negative_weight`` on unclicked cells),
    - ``bpr``: BPR with exact unclicked negatives,
    - ``ubpr``: unbiased pairwise loss, non-negative when ``nonneg`` (beta) is given.

    ``propensity``: (n_items,) or (n_users, n_items) exposure probabilities (ignored by naive,
    wmf, bpr). L2: ``reg`` x 1/2 sum of squares of the batch's embedding rows / batch size.

    With ``eval_train``/``eval_target`` (held-out clicks) each validation logs ``val/dcg@k``,
    ``val/recall@k`` and, given ``eval_propensity``, the propensity-weighted
    ``val/snips_dcg@k`` and ``val/snips_recall@k`` (selection that does not reward popularity).
    """

    def __init__(self, model: MF, loss: MNARLoss, propensity: npt.ArrayLike | None = None, *,
                 clip: float | None = None, local: LocalLoss = "log", lr: float = 1e-3, reg: float = 0.0,
                 nonneg: float | None = None, negative_weight: float = 1.0, exposure: Interactions | None = None,
                 imputed: float | None = None, eval_train: Interactions | None = None,
                 eval_target: Interactions | None = None, eval_propensity: npt.ArrayLike | None = None,
                 eval_k: int = 5) -> None:
        super().__init__()
        check_choice("loss", loss, get_args(MNARLoss))
        if not lr > 0 or reg < 0:
            raise ValueError(f"need lr > 0 and reg >= 0, got {lr}, {reg}")
        self.save_hyperparameters(ignore=["model", "propensity", "exposure", "eval_train", "eval_target",
                                          "eval_propensity"])
        self.eval_train, self.eval_target = eval_train, eval_target
        self.eval_propensity = None if eval_propensity is None else np.asarray(eval_propensity, dtype=np.float64)
        self.model, self.loss_name = model, loss
        self._objective = MNAR_OBJECTIVES[loss]  # resolved once, not per step
        needs_theta = loss in ("relmf", "snips", "dr", "ubpr")
        theta = np.ones(model.n_items) if propensity is None else np.asarray(propensity, dtype=np.float64)
        if needs_theta and propensity is None:
            raise ValueError(f"loss {loss!r} needs propensities (see recpref.propensity)")
        theta = check_item_or_cell_propensities(theta, model.n_users, model.n_items)
        self.register_buffer("theta", torch.tensor(theta, dtype=torch.float32), persistent=False)
        self.exposure_table: MembershipTable | None = None
        self.imputed = imputed
        if loss == "dr":
            if exposure is None:
                raise ValueError("loss 'dr' needs exposure= (the cells that were shown, e.g. every rated cell)")
            if exposure.shape != (model.n_users, model.n_items):
                raise ValueError(f"exposure has shape {exposure.shape}, expected {(model.n_users, model.n_items)}")
            if imputed is None or not 0 <= imputed <= 1:
                raise ValueError("loss 'dr' needs imputed= in [0, 1], the imputed relevance (e.g. "
                                 "click_rate_among_exposed(clicks, exposure))")
            self._exposure = exposure
            self.exposure_table = MembershipTable(exposure)

    def on_fit_start(self) -> None:
        # look exposure up where the batches are (the GPU under accelerator="gpu"), not via the host
        if self.exposure_table is not None and self.exposure_table.device != self.device:
            self.exposure_table = MembershipTable(self._exposure, device=self.device)

    def theta_of(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Propensities of the cells (users (B,), items (B,)) -> (B,)."""
        theta = self.theta
        assert isinstance(theta, torch.Tensor)
        return theta[items] if theta.dim() == 1 else theta[users, items]

    def exposed(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """1.0 where the cell was shown (DR's exposure), else 0.0 -> (B,)."""
        assert self.exposure_table is not None
        return self.exposure_table.is_positive(users, items).float()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        obj = self._objective(self, self.model, batch)
        reg = self.hparams["reg"]
        u = batch["users"]
        loss = obj.loss + reg * l2_regularization(*obj.rows, batch_size=len(u)) if reg > 0 and obj.rows else obj.loss
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(u))
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        return None

    def on_validation_epoch_end(self) -> None:
        if self.eval_train is None or self.eval_target is None:
            return
        from recpref.evaluation import evaluate

        weighted = self.eval_propensity is not None
        metrics = ("dcg", "recall", "snips_dcg", "snips_recall") if weighted else ("dcg", "recall")
        k = self.hparams["eval_k"]
        res = evaluate(self.score_all, self.eval_train, self.eval_target, k=k, metrics=metrics,
                       propensity=self.eval_propensity, device=self.device)
        for name, value in res.metrics.items():
            self.log(f"val/{name}", value, prog_bar=name.startswith("snips_dcg") or (not weighted and name.startswith("dcg")))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"])

    @torch.no_grad()
    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        scores: torch.Tensor = self.model.score_all(users.to(self.device))
        return scores
