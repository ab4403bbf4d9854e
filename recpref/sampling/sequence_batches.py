"""The batch stream of the sequence family: ComiRec samples plus one shared pool of negatives.

No Lightning import: the datamodule in `recpref.modules.sequence` only wraps `SequenceBatches`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset

from recpref.catalog import NEGATIVES, NegativeKind, check_choice, check_int
from recpref.data import Interactions, Sequences, SequenceSampler
from recpref.sampling.batches import proposal_log_prob
from recpref.sampling.generators import make_generator
from recpref.sampling.negatives import alias_draw, alias_table

__all__ = ["ItemProposal", "SequenceBatches", "default_steps"]


class ItemProposal:
    """Items drawn i.i.d. with replacement from a proposal q over the catalogue, with no
    rejection (a drawn item may be a user's own item or the target; the loss decides what to do
    with it). q is `recpref.sampling.batches.proposal_log_prob`'s: uniform 1 / n_items, or
    popularity (count_i + 1)^0.75 / sum over ``train``'s item counts, so the log-Q correction
    uses the q the draws follow. ``log_q`` (n_items,) float32 on ``device``. Popularity draws
    use Walker's alias method (`recpref.sampling.negatives.alias_table`): O(1) per item."""

    def __init__(self, train: Interactions, kind: NegativeKind = "uniform", *,
                 device: torch.device | str = "cpu") -> None:
        check_choice("negatives", kind, NEGATIVES)
        self.kind, self.n_items, self.device = kind, train.n_items, torch.device(device)
        self.log_q = proposal_log_prob(train, kind).to(self.device)
        self.alias_prob: torch.Tensor | None = None
        self.alias: torch.Tensor | None = None
        if kind != "uniform":
            prob, alias = alias_table(self.log_q.double().exp().cpu().numpy())
            self.alias_prob = torch.as_tensor(prob, dtype=torch.float32, device=self.device)
            self.alias = torch.as_tensor(alias, dtype=torch.int64, device=self.device)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """(n,) int64 item indices drawn from q with ``gen`` (a generator on ``device``)."""
        check_int("n", n, 1)
        if self.alias_prob is None or self.alias is None:
            return torch.randint(self.n_items, (n,), generator=gen, device=self.device)
        return alias_draw(self.alias_prob, self.alias, (n,), gen)


def default_steps(train: Sequences, min_history: int, batch_size: int) -> int:
    """ceil(sum_u max(0, len_u - min_history) / batch_size): one epoch draws about as many
    samples as there are (user, cut) pairs, i.e. each training target about once."""
    n = int(np.maximum(train.lengths - min_history, 0).sum())
    return max(1, math.ceil(n / batch_size))


class SequenceBatches(IterableDataset[dict[str, torch.Tensor]]):
    """One epoch = ``steps`` batches ``{"history" (B, T), "mask" (B, T), "targets" (B,)}`` from
    ``sampler`` and, with a ``proposal``, ``"neg"`` (N,) one shared pool of ``n_neg`` items and
    ``"neg_log_q"`` (N,) their log q. Each epoch draws from a fresh generator on the sampler's
    device seeded by (seed, rank, epoch) (`recpref.sampling.make_generator`), so a fit repeats
    exactly; the datamodule sets ``epoch`` and ``rank`` before each pass."""

    def __init__(self, sampler: SequenceSampler, *, batch_size: int, steps: int, seed: int,
                 proposal: ItemProposal | None = None, n_neg: int = 1) -> None:
        for name, value in (("batch_size", batch_size), ("steps", steps), ("n_neg", n_neg)):
            check_int(name, value, 1)
        check_int("seed", seed, 0)
        if proposal is not None and proposal.device != sampler.device:
            raise ValueError(f"proposal is on {proposal.device}, the sampler on {sampler.device}")
        self.sampler, self.proposal = sampler, proposal
        self.batch_size, self.steps, self.seed, self.n_neg = batch_size, steps, seed, n_neg
        self.epoch = 0
        self.rank = 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        gen = make_generator(self.seed, rank=self.rank, epoch=self.epoch, device=self.sampler.device)
        self.epoch += 1  # the next pass over the loader is the next epoch
        for _ in range(self.steps):
            b = self.sampler.sample(self.batch_size, gen)
            batch = {"history": b.history, "mask": b.mask, "targets": b.targets}
            if self.proposal is not None:
                neg = self.proposal.sample(self.n_neg, gen)
                batch["neg"], batch["neg_log_q"] = neg, self.proposal.log_q[neg]
            yield batch
