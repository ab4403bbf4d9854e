"""Lightning composition of the sequence family: sequence encoder + readout + softmax loss.

``training_step`` = interests of the sampled histories -> readout against the target (MIND:
label-aware attention; the others: the interest closest to the target) -> scores of the target
and of the negatives -> a pure loss from `recpref.losses.softmax` -> logged. Samples come from
the datamodule (`recpref.sampling.sequence_batches`), the validation numbers from the one
`recpref.evaluation.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from recpref.catalog import NegativeKind, SequenceLossName, check_choice, check_float
from recpref import catalog as cat
from recpref.data import Interactions, Sequences, SequenceSampler
from recpref.losses.softmax import full_softmax_loss, sampled_softmax_loss
from recpref.models import HistoryModel, SequenceEncoder
from recpref.modules.datamodule import EpochStreamDataModule
from recpref.sampling.sequence_batches import ItemProposal, SequenceBatches

__all__ = ["SEQUENCE_OBJECTIVES", "SequenceDataModule", "SequenceModule", "evaluation_mask", "readout_scores"]


def readout_scores(encoder: SequenceEncoder, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """-> (user vectors u (B, d), target scores u . e_target (B,)). u = the encoder's training
    readout of its interests against the target's embedding (`SequenceEncoder.readout`)."""
    interests = encoder.interests(batch["history"], batch["mask"])
    target = encoder.item_emb(batch["targets"])  # (B, d)
    user = encoder.readout(interests.vectors, interests.mask, target)
    return user, (user * target).sum(-1)


def sampled_softmax_objective(encoder: SequenceEncoder, batch: dict[str, Tensor], temperature: float) -> Tensor:
    """Sampled softmax over the shared pool ``neg`` (N,) with the log-Q correction of its
    ``neg_log_q`` (N,); a pool item equal to a row's target is left out of that row (it would
    count the positive twice in the partition estimate)."""
    user, pos = readout_scores(encoder, batch)
    neg = batch["neg"]
    scores = user @ encoder.item_emb(neg).T  # (B, N): one matmul for the whole pool
    hits = neg.unsqueeze(0) == batch["targets"].unsqueeze(1)
    return sampled_softmax_loss(pos, scores, temperature=temperature, log_q=batch["neg_log_q"], mask=hits)


def full_softmax_objective(encoder: SequenceEncoder, batch: dict[str, Tensor], temperature: float) -> Tensor:
    """Softmax of the target over every item of the catalogue (the pad row excluded)."""
    user, _ = readout_scores(encoder, batch)
    scores = user @ encoder.item_emb.weight[: encoder.n_items].T  # (B, n_items)
    return full_softmax_loss(scores, batch["targets"], temperature=temperature)


SEQUENCE_OBJECTIVES: dict[str, Callable[[SequenceEncoder, dict[str, Tensor], float], Tensor]] = {
    "ssm": sampled_softmax_objective,
    "full": full_softmax_objective,
}
"""The sequence family's losses by public name (`recpref.catalog.SEQUENCE_LOSSES`)."""


def evaluation_mask(history: Interactions, mask_history: bool) -> Interactions:
    """What `evaluate` masks (its ``train`` argument) when ranking for users with this history:
    the history itself when ``mask_history``, else no item (an empty `Interactions` of the same
    space, so every item is ranked)."""
    return history if mask_history else history.select(np.zeros(history.nnz, dtype=bool))


class SequenceDataModule(EpochStreamDataModule):
    """ComiRec training samples from ``train`` (time-ordered sequences) for a model with history
    window ``max_len``: ``steps_per_epoch`` batches of ``batch_size`` per epoch, and for loss
    ``ssm`` one shared pool of ``n_neg`` items per step from the ``negatives`` proposal over
    ``interactions``' item counts (`ItemProposal`). Drawn on the trainer's root device."""

    def __init__(self, train: Sequences, interactions: Interactions, *, max_len: int, batch_size: int,
                 steps_per_epoch: int, min_history: int, seed: int, loss: SequenceLossName, n_neg: int = 1,
                 negatives: NegativeKind = "uniform") -> None:
        super().__init__()
        check_choice("loss", loss, cat.SEQUENCE_LOSSES)
        self.train_sequences, self.interactions = train, interactions
        self.max_len, self.batch_size, self.steps, self.min_history = max_len, batch_size, steps_per_epoch, min_history
        self.seed, self.loss, self.n_neg, self.negatives = seed, loss, n_neg, negatives
        SequenceSampler(train, max_len, min_history=min_history)  # fail here, before the trainer starts

    def _build(self, device: torch.device) -> SequenceBatches:
        sampler = SequenceSampler(self.train_sequences, self.max_len, min_history=self.min_history, device=device)
        proposal = ItemProposal(self.interactions, self.negatives, device=device) if self.loss == "ssm" else None
        return SequenceBatches(sampler, batch_size=self.batch_size, steps=self.steps, seed=self.seed,
                               proposal=proposal, n_neg=self.n_neg)


class SequenceModule(pl.LightningModule):
    """Trains ``model``'s sequence encoder with loss ``ssm`` or ``full`` (`SEQUENCE_OBJECTIVES`)
    at ``temperature``, Adam with ``lr``. With ``eval_mask``/``eval_target`` each validation
    logs ``val/<metric>@<k>`` (recall, ndcg, f1 at ``eval_k``) by `evaluate`: every user with a
    target is ranked from ``model``'s stored history, with ``eval_mask``'s items left out (see
    `evaluation_mask`), in eval mode (MIND: its fixed routing init)."""

    def __init__(self, model: HistoryModel, *, loss: SequenceLossName = "ssm", lr: float = 1e-3,
                 temperature: float = 1.0, eval_mask: Interactions | None = None,
                 eval_target: Interactions | None = None, eval_k: int = 20, eval_batch_size: int = 1024) -> None:
        super().__init__()
        check_choice("loss", loss, cat.SEQUENCE_LOSSES)
        check_float("lr", lr, low=0.0, low_open=True)
        check_float("temperature", temperature, low=0.0, low_open=True)
        if (eval_mask is None) != (eval_target is None):
            raise ValueError("eval_mask and eval_target go together (both or neither)")
        self.save_hyperparameters(ignore=["model", "eval_mask", "eval_target"])
        self.model = model
        self._objective = SEQUENCE_OBJECTIVES[loss]  # resolved once, not per step
        self.eval_mask, self.eval_target = eval_mask, eval_target

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._objective(self.model.sequence, batch, self.hparams["temperature"])
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=len(batch["targets"]))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        return None

    def on_validation_epoch_end(self) -> None:
        if self.eval_mask is None or self.eval_target is None:
            return
        from recpref.evaluation import evaluate

        was_training = self.training
        self.eval()
        try:
            res = evaluate(self.score_all, self.eval_mask, self.eval_target, k=self.hparams["eval_k"],
                           metrics=("recall", "ndcg", "f1"), batch_size=self.hparams["eval_batch_size"],
                           device=self.device)
        finally:
            self.train(was_training)
        for name, value in res.metrics.items():
            self.log(f"val/{name}", value, prog_bar=not name.startswith("f1"))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.hparams["lr"])

    @torch.no_grad()
    def score_all(self, users: Tensor) -> Tensor:
        """users (B,) -> (B, n_items) from the users' stored histories (the evaluator's scorer)."""
        scores: Tensor = self.model.score_all(users.to(self.device))
        return scores
