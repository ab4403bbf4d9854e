"""`PreferenceModule`: encoder + loss + optimiser settings as a LightningModule.

``training_step`` = score the sampled batch -> loss -> log. Sampling comes from the
datamodule, scoring from the encoder, the loss from `recpref.losses`, and validation from
`recpref.evaluation.evaluate` (the same function benchmarks use).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer

from recpref.catalog import (LR_SCHEDULES, OPTIMIZERS, PAIRWISE_LOSSES, LrScheduleName, OptimizerName, check_choice,
                             check_float, check_int)
from recpref.catalog import PairwiseLossName as LossName
from recpref.data import Interactions
from recpref.losses import l2_regularization
from recpref.models import MF, Encoder
from recpref.modules.graph_step import GraphStep
from recpref.modules.optim import RowSparseAdam
from recpref.modules.objectives import PAIRWISE_OBJECTIVES, POOL_OBJECTIVES, LossSettings, layer0_rows

__all__ = ["LossName", "OptimizerName", "PreferenceModule", "nbpo_flip_model"]


class PreferenceModule(pl.LightningModule):
    """Learns user preferences from sampled (user, positive, negatives) batches.

    ``model`` scores user-item pairs. NBPO losses also need ``flip_model``, the second
    low-rank factorisation whose sigmoid is the per user-item flip rate (created as an MF of
    ``flip_dim`` when not given). ``loss_settings`` holds the softmax-family losses'
    hyperparameters (temperature, margin, negative weight, gamma); with ``neg_pool`` the batches
    carry one shared pool per step and the objective scores it by one matmul
    (`recpref.modules.objectives.POOL_OBJECTIVES`; CUDA-graph steps too). ``reg`` multiplies the L2 of the batch's layer-0
    embeddings divided by the batch size (LightGCN/NGCF code); ``reg_flip`` the same for the
    flip model. Validation, when ``eval_train``/``eval_target`` are set, logs
    ``val/<metric>@<k>`` computed by `recpref.evaluation.evaluate`.

    ``step_mode``: ``"auto"`` captures each optimiser step once as a CUDA graph and replays it
    (`recpref.modules.graph_step.GraphStep`) when training on CUDA with Adam and encoders whose
    step is capturable (MF, LightGCN; not NGCF, whose dropout draws random numbers), and runs
    eagerly otherwise (and with several devices); ``"eager"`` never captures; ``"graph"`` insists (an error where capture
    cannot apply; on the CPU it runs the graph path's static buffers eagerly, for tests).

    ``lr_schedule``: ``"constant"``, or ``"linear"``: optimiser step t (0-based, counted over
    the module's life) runs at ``lr * (1 - t / total_steps)``, reaching 0 after ``total_steps``
    (needed then; e.g. epochs x steps per epoch). Linear steps run eagerly (a captured graph
    would replay the first step's rate), so ``step_mode="graph"`` refuses it.
    """

    def __init__(
        self,
        model: Encoder,
        *,
        loss: LossName = "bpr",
        lr: float = 1e-3,
        reg: float = 1e-4,
        optimizer: OptimizerName = "adam",
        flip_model: Encoder | None = None,
        flip_dim: int = 50,
        reg_flip: float = 1e-4,
        eval_train: Interactions | None = None,
        eval_target: Interactions | None = None,
        eval_k: Sequence[int] = (20,),
        eval_batch_size: int = 1024,
        step_mode: Literal["auto", "eager", "graph"] = "auto",
        loss_settings: LossSettings | None = None,
        neg_pool: int | None = None,
        lr_schedule: LrScheduleName = "constant",
        total_steps: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("step_mode", step_mode, ("auto", "eager", "graph"))
        check_choice("loss", loss, PAIRWISE_LOSSES)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_float("lr", lr, low=0.0, low_open=True)
        check_float("reg", reg, low=0.0)
        check_float("reg_flip", reg_flip, low=0.0)
        check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        if lr_schedule == "linear":
            if total_steps is None:
                raise ValueError("lr_schedule 'linear' needs total_steps (the optimiser steps it decays over)")
            check_int("total_steps", total_steps, 1)
            if step_mode == "graph":
                raise ValueError("lr_schedule 'linear' changes the rate every step: use step_mode 'auto' or 'eager', "
                                 "not 'graph'")
        elif total_steps is not None:
            raise ValueError("total_steps applies to lr_schedule 'linear' only")
        self._steps_done = 0
        self.save_hyperparameters(ignore=["model", "flip_model", "eval_train", "eval_target", "loss_settings"])
        self.automatic_optimization = False
        self.model = model
        self.loss_name: LossName = loss
        self.loss_settings = loss_settings or LossSettings()
        self._objective = PAIRWISE_OBJECTIVES[loss](self.loss_settings)  # resolved once, not per step
        if neg_pool is not None and loss not in POOL_OBJECTIVES:
            raise ValueError(f"neg_pool applies to loss {', '.join(POOL_OBJECTIVES)}, not {loss!r}")
        self._pool_objective = POOL_OBJECTIVES[loss](self.loss_settings) if neg_pool is not None else None
        self.flip_model = flip_model
        if loss.startswith("nbpo") and flip_model is None:
            self.flip_model = nbpo_flip_model(model.n_users, model.n_items, flip_dim)
        self.eval_train, self.eval_target = eval_train, eval_target
        self.eval_k = tuple(eval_k)
        self.step_mode = step_mode
        capturable = model.capturable and (self.flip_model is None or self.flip_model.capturable)
        if step_mode == "graph" and not (capturable and optimizer == "adam"):
            raise ValueError(f"step_mode 'graph' needs Adam and capturable encoders; got optimizer {optimizer!r}, "
                             f"{type(model).__name__} (capturable: {model.capturable})")
        if optimizer == "lazy_adam" and (neg_pool is None or not isinstance(model, MF)):
            raise ValueError(f"optimizer 'lazy_adam' needs row-sparse gradients: model MF with neg_pool; got "
                             f"{type(model).__name__}, neg_pool {neg_pool}")
        self._capturable = capturable and optimizer == "adam" and lr_schedule == "constant"
        self._graph: GraphStep | None = None

    # ----------------------------------------------------------------- training
    def _reg_term(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                  ego: tuple[torch.Tensor, ...] | None, flip_ego: tuple[torch.Tensor, ...] | None) -> torch.Tensor:
        b = len(users)
        total = torch.zeros((), device=users.device)
        for m, coef, rows in ((self.model, self.hparams["reg"], ego), (self.flip_model, self.hparams["reg_flip"], flip_ego)):
            if m is None or coef == 0:
                continue
            if rows is None:  # encoders that do not hand back their rows: gather them again
                rows = layer0_rows(m, users, torch.cat([pos.unsqueeze(1), neg], 1))
            total = total + coef * l2_regularization(*rows, batch_size=b)
        return total

    def _step_loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """One optimiser step's objective: users (B,), pos (B,), neg (B, n_neg)."""
        obj = self._objective(self.model, self.flip_model, users, pos, neg)
        ego = obj.rows if obj.rows else None
        return obj.loss + self._reg_term(users, pos, neg, ego, obj.flip_rows or None)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """A batch holds S optimiser steps (rows of ``users`` (S, B)); one step per row.

        Manual optimisation, so the framework's per-batch overhead is paid once per S steps
        (on CPU it costs more than an MF step); a (B,)-shaped batch is one step."""
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        if users.dim() == 1:
            users, pos, neg = users.unsqueeze(0), pos.unsqueeze(0), neg.unsqueeze(0)
        opt = self.optimizers()
        assert isinstance(opt, LightningOptimizer)
        total = torch.zeros((), device=users.device)
        mask = batch.get("neg_mask")
        if self._pool_objective is not None and (neg.dim() != 2 or neg.shape[0] != users.shape[0]):
            raise ValueError(f"a pooled batch needs neg (S, M); got {tuple(neg.shape)} for users {tuple(users.shape)}")
        if self._uses_graph():
            if self._graph is None:
                raw = opt.optimizer
                step = self._raw_step if self._pool_objective is None else self._raw_pool_step
                self._graph = GraphStep(step, lambda: raw.zero_grad(set_to_none=True),
                                        capture=self.device.type == "cuda")
            for s in range(users.shape[0]):
                total = total + self._graph(users[s], pos[s], neg[s], *(() if mask is None else (mask[s],)))
        elif self._pool_objective is not None:
            total = self._eager_steps(opt, users.shape[0], lambda s: self._pool_step_loss(
                users[s], pos[s], neg[s], None if mask is None else mask[s]))
        else:
            total = self._eager_steps(opt, users.shape[0], lambda s: self._step_loss(users[s], pos[s], neg[s]))
        mean = total / users.shape[0]
        self.log("train/loss", mean, prog_bar=True, on_step=False, on_epoch=True, batch_size=users.numel())
        return mean

    def _uses_graph(self) -> bool:
        # one process only: under DDP the gradient all-reduce hangs off manual_backward
        single = self._trainer is None or self.trainer.world_size == 1
        if self.step_mode == "graph":
            if not single:
                raise ValueError("step_mode 'graph' trains on one device; use 'auto' or 'eager' with several")
            return True
        return self.step_mode == "auto" and self._capturable and self.device.type == "cuda" and single

    def _sparse_rows(self) -> bool:
        """Row-sparse gathers (MF on the CPU, one process): the backward then skips the table-sized
        zero gradient of a dense gather (see `recpref.modules.optim`). Every optimiser here takes
        row-sparse gradients (Adam through `RowSparseAdam`); CUDA keeps dense gathers (graph capture)
        unless the optimiser is ``lazy_adam``, which needs row-sparse gradients everywhere."""
        single = self._trainer is None or self.trainer.world_size == 1
        if self.hparams["optimizer"] == "lazy_adam":
            if not single:
                raise ValueError("optimizer 'lazy_adam' trains in one process; use optimizer 'adam' with several devices")
            return True
        return isinstance(self.model, MF) and self.device.type == "cpu" and single

    def _raw_step(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """objective -> backward -> optimiser step, with no host sync (graph-capturable)."""
        return self._raw_update(self._step_loss(users, pos, neg))

    def _raw_pool_step(self, users: torch.Tensor, pos: torch.Tensor, pool: torch.Tensor,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
        """The shared-pool step as `_raw_step`: pool (M,), mask (B, M) or absent."""
        return self._raw_update(self._pool_step_loss(users, pos, pool, mask))

    def _raw_update(self, loss: torch.Tensor) -> torch.Tensor:
        opt = self.optimizers()
        assert isinstance(opt, LightningOptimizer)
        loss.backward()
        opt.optimizer.step()
        return loss

    def on_train_start(self) -> None:
        self._graph = None  # each fit captures anew (weights and optimiser state may have moved)

    def _pool_step_loss(self, users: torch.Tensor, pos: torch.Tensor, pool: torch.Tensor,
                        mask: torch.Tensor | None) -> torch.Tensor:
        """One step's objective against a shared pool: users/pos (B,), pool (M,), mask (B, M) or None."""
        assert self._pool_objective is not None
        obj = self._pool_objective(self.model, users, pos, pool, mask, sparse_rows=self._sparse_rows())
        return obj.loss + self._reg_term(users, pos, pool, obj.rows, None)

    def _eager_steps(self, opt: LightningOptimizer, n_steps: int, step_loss: Callable[[int], torch.Tensor]) -> torch.Tensor:
        """``n_steps`` optimiser steps through Lightning, step ``s`` minimising ``step_loss(s)``; the summed loss."""
        total = torch.zeros((), device=self.device)
        for s in range(n_steps):
            loss = step_loss(s)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            self._schedule(opt.optimizer)
            opt.step()
            total = total + loss.detach()
        return total

    def _schedule(self, optimizer: torch.optim.Optimizer) -> None:
        """Set the rate of the step about to run (``lr_schedule``) and count it."""
        if self.hparams["lr_schedule"] == "linear":
            frac = max(0.0, 1.0 - self._steps_done / self.hparams["total_steps"])
            for group in optimizer.param_groups:
                group["lr"] = self.hparams["lr"] * frac
        self._steps_done += 1

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr = self.hparams["lr"]
        name = self.hparams["optimizer"]
        if name == "adam":
            # fused Adam (CPU and CUDA): one kernel for all tensors, ~5x cheaper than foreach
            # on CPU; falls back where a device has no fused kernel.
            # a CUDA graph replays Adam too: its step counter must live on the device
            # RowSparseAdam: dense Adam that also takes the row-sparse gradients of CPU MF gathers
            capturable = self._uses_graph() and self.device.type == "cuda"
            try:
                return RowSparseAdam(self.parameters(), lr=lr, fused=True, capturable=capturable)
            except RuntimeError:
                return RowSparseAdam(self.parameters(), lr=lr, capturable=capturable)
        if name == "lazy_adam":
            return RowSparseAdam(self.parameters(), lr=lr, lazy=True)
        if name == "adagrad":
            return torch.optim.Adagrad(self.parameters(), lr=lr)
        return torch.optim.SGD(self.parameters(), lr=lr)

    # ----------------------------------------------------------------- validation
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        return None

    def on_validation_epoch_end(self) -> None:
        if self.eval_train is None or self.eval_target is None:
            return
        from recpref.evaluation import evaluate

        result = evaluate(self.score_all, self.eval_train, self.eval_target, k=self.eval_k,
                          metrics=("recall", "ndcg", "f1"), batch_size=self.hparams["eval_batch_size"],
                          device=self.device)
        for name, value in result.metrics.items():
            self.log(f"val/{name}", value, prog_bar=name.startswith("recall"))

    @torch.no_grad()
    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """users (B,) -> (B, n_items) ranking scores (for NBPO: the preference model rho only)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model.score_all(users.to(self.device))
        finally:
            self.model.train(was_training)


def nbpo_flip_model(n_users: int, n_items: int, dim: int = 50) -> MF:
    """The flip-rate factorisation with the official NBPO init: P ~ 5 U(0,1)/sqrt(d),
    Q ~ -5 U(0,1)/sqrt(d), so phi = sigmoid(p . q) starts near 0.002 (positives trusted)."""
    flip = MF(n_users, n_items, dim)
    with torch.no_grad():
        flip.user_emb.weight.uniform_(0.0, 5.0 / dim**0.5)
        flip.item_emb.weight.uniform_(-5.0 / dim**0.5, 0.0)
    return flip

