"""The batch stream every pairwise trainer draws from (Lightning and fused alike): whole
batches of sampled index tensors, no per-index Dataset overhead, no Lightning import."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import IterableDataset

from recpref.catalog import NEGATIVES, NegativeKind, PositiveStream, check_choice, check_int
from recpref.data import Interactions
from recpref.kernels.pool_mask import pool_mask
from recpref.sampling import NegativeSampler, PopularitySampler, PositiveSampler, UniformSampler, make_generator

__all__ = ["SampledBatches", "build_batches", "check_index_range"]


def check_index_range(name: str, idx: torch.Tensor, n: int) -> None:
    """Raise ``ValueError`` unless every index lies in [0, n). One host sync: call it once per
    epoch on the whole epoch's tensor, not per step (a per-step check blocks CUDA-graph replay).
    On the CPU in numpy (a min and a max, plain loops on the caller's thread): torch's
    elementwise ops over a whole epoch open OpenMP regions, which on a busy small machine cost
    more than sampling the epoch (docs/benchmarks.md, "Sampler throughput")."""
    if not idx.numel():
        return
    if idx.device.type == "cpu":
        values = idx.detach().numpy()
        bad = bool(values.min() < 0 or values.max() >= n)
    else:
        bad = bool(((idx < 0) | (idx >= n)).any())
    if bad:
        raise ValueError(f"{name} indices out of range [0, {n})")


class SampledBatches(IterableDataset[dict[str, torch.Tensor]]):
    """One epoch = ``steps`` optimiser steps of batch size B, delivered as chunks of up to
    ``steps_per_call`` steps: ``{"users" (S, B), "pos" (S, B), "neg" (S, B, n_neg)}``.

    Chunking amortises the framework's per-batch overhead (on CPU, Lightning's hooks cost
    more than an MF step) and lets the samplers draw S x B triples in one vectorised call.
    Each epoch draws from a fresh generator seeded by (seed, rank, epoch), so runs repeat
    exactly and distributed ranks draw different streams. The epoch's indices are range-checked
    once, so the training step itself needs no host sync.
    """

    def __init__(self, positives: PositiveSampler, negatives: NegativeSampler, *, batch_size: int,
                 n_neg: int, steps: int, seed: int, steps_per_call: int = 1, pool: int | None = None,
                 mask_pool: bool = True) -> None:
        for name, value in (("batch_size", batch_size), ("n_neg", n_neg), ("steps", steps),
                            ("steps_per_call", steps_per_call)):
            check_int(name, value, 1)
        if pool is not None:
            check_int("pool", pool, 1)
        self.pool, self.mask_pool = pool, mask_pool
        self.positives, self.negatives = positives, negatives
        self.batch_size, self.n_neg, self.steps, self.seed = batch_size, n_neg, steps, seed
        self.steps_per_call = steps_per_call
        self.epoch = 0
        self.rank = 0

    def __len__(self) -> int:
        return math.ceil(self.steps / self.steps_per_call)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        gen = make_generator(self.seed, rank=self.rank, epoch=self.epoch, device=self.positives.device)
        self.epoch += 1  # the next pass over the loader is the next epoch
        b = self.batch_size
        # the epoch's positives up front: with the "shuffle" stream a permutation of all pairs
        all_users, all_pos = self.positives.epoch(self.steps * b, gen)
        n_users, n_items = self.positives.n_users, self.positives.n_items
        check_index_range("user", all_users, n_users)
        check_index_range("positive item", all_pos, n_items)
        for start in range(0, self.steps, self.steps_per_call):
            s = min(self.steps_per_call, self.steps - start)
            users, pos = all_users[start * b:(start + s) * b], all_pos[start * b:(start + s) * b]
            if self.pool is not None:
                yield self._pooled(users.view(s, b), pos.view(s, b), gen)
                continue
            neg = self.negatives.sample(users, self.n_neg, gen)
            yield {"users": users.view(s, b), "pos": pos.view(s, b), "neg": neg.view(s, b, self.n_neg)}

    def _pooled(self, users: torch.Tensor, pos: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """One shared pool of ``pool`` items per step, uniform over the catalogue with replacement:
        ``neg`` (S, M); with ``mask_pool`` also ``neg_mask`` (S, B, M), True where the pool item is
        one of the row's user's training items (the losses leave those out)."""
        assert self.pool is not None
        pool = torch.randint(self.positives.n_items, (users.shape[0], self.pool), generator=gen,
                             device=self.positives.device)
        batch = {"users": users, "pos": pos, "neg": pool}
        if self.mask_pool:
            table = self.negatives
            if table.device.type == "cpu":  # walk each row's own items: B x degree lookups, not B x M
                batch["neg_mask"] = torch.from_numpy(pool_mask(
                    users.numpy(), pool.numpy(), table.indptr.numpy(), table.indices.numpy(), table.n_items))
            else:  # one vectorised gather per cell: cheap on a GPU
                batch["neg_mask"] = table.is_positive(users.unsqueeze(-1), pool.unsqueeze(1))
        return batch


POPULARITY_SMOOTHING = 1.0
"""Added to every item's count before the popularity exponent (keeps unseen items reachable)."""


def proposal_log_prob(train: Interactions, negatives: NegativeKind, *,
                      popularity_exponent: float = 0.75) -> torch.Tensor:
    """log q(item), (n_items,) float32: the proposal the ``negatives`` sampler of `build_batches`
    draws from, for sampled softmax's log-Q correction. Exact samplers then reject the user's own
    items, which rescales q by a per-user constant (1 / (1 - q(user's items))); like the usual
    log-Q correction this ignores that factor."""
    check_choice("negatives", negatives, NEGATIVES)
    if negatives == "uniform":
        return torch.full((train.n_items,), -math.log(train.n_items))
    w = PopularitySampler.popularity_weights(train.item_counts, popularity_exponent, POPULARITY_SMOOTHING)
    return (w / w.sum()).log().float()


def build_batches(train: Interactions, *, batch_size: int, n_neg: int, negatives: NegativeKind,
                  stream: PositiveStream, steps: int, seed: int, steps_per_call: int,
                  popularity_exponent: float = 0.75, device: torch.device | str = "cpu", pool: int | None = None,
                  mask_pool: bool = True) -> SampledBatches:
    """The samplers and batch stream every MF/graph trainer draws from (Lightning and fused
    alike), so the same settings and seed give the same batches."""
    check_choice("negatives", negatives, NEGATIVES)
    neg: NegativeSampler = (
        UniformSampler(train, device=device) if negatives == "uniform"
        else PopularitySampler(train, exponent=popularity_exponent, smoothing=POPULARITY_SMOOTHING, device=device)
    )
    return SampledBatches(PositiveSampler(train, stream, device=device), neg, batch_size=batch_size, n_neg=n_neg,
                          steps=steps, seed=seed, steps_per_call=steps_per_call, pool=pool, mask_pool=mask_pool)
