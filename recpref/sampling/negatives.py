"""Exact negative samplers: they never return an item the user has interacted with.

Rejection structure: each training pair is the int64 key ``user * n_items + item``. When
``n_users * n_items`` bytes fit ``bytemap_max_bytes`` (default 32 MiB: ml-100k needs 1.6 MiB)
the keys are a byte per (user, item) and a lookup is one gather; when bits fit
``bitset_max_bytes`` (default 256 MiB: Gowalla needs 153 MiB) a packed bitset (a gather plus
a shift); otherwise they stay as a sorted array (CSR order already sorts them) and a lookup is
a ``searchsorted``. ``bitset_max_bytes`` caps the whole table: 0 forces the sorted keys.
Rejected candidates are redrawn, vectorised over the whole batch, until none remain; since a
redraw comes from the same proposal, the accepted item follows the proposal restricted to the
user's negatives exactly. Rows that keep failing (users whose positives hold most of the
proposal mass) are finished with an explicit masked draw, so the loop always ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from recpref.data import Interactions

__all__ = ["HardNegativeSampler", "MembershipTable", "NegativeSampler", "PopularitySampler", "UniformSampler"]

_MAX_ROUNDS = 32
Backend = Literal["auto", "torch", "numba"]
_DEFAULT_BITSET_BYTES = 256 * 2**20
_DEFAULT_BYTEMAP_BYTES = 32 * 2**20


def _packed_bitset(keys: np.ndarray, n_bits: int) -> np.ndarray:
    """uint8 bitset with bit ``k & 7`` of byte ``k >> 3`` set for each (sorted, unique) key."""
    bits = np.zeros((n_bits + 7) // 8, dtype=np.uint8)
    if len(keys):
        byte = keys >> 3
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        # distinct bits of one byte: their sum is their OR
        bits[byte[starts]] = np.add.reduceat((1 << (keys & 7)).astype(np.int64), starts).astype(np.uint8)
    return bits


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias table for non-negative ``weights``: draw slot i uniformly, keep it with
    probability ``prob[i]``, else take ``alias[i]``. Zero-weight items are never returned."""
    w = np.asarray(weights, dtype=np.float64)
    n = w.size
    scaled = w * (n / w.sum())
    prob = np.zeros(n)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s_, l_ = small.pop(), large.pop()
        prob[s_], alias[s_] = scaled[s_], l_
        scaled[l_] = scaled[l_] + scaled[s_] - 1.0
        (small if scaled[l_] < 1.0 else large).append(l_)
    for i in large + small:  # leftovers are 1 up to rounding
        prob[i] = 1.0 if w[i] > 0 else 0.0
        if w[i] == 0:  # only possible when every remaining weight is zero-rounded; route away
            alias[i] = int(np.argmax(w))
    return prob, alias


def alias_draw(prob: torch.Tensor, alias: torch.Tensor, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Draws of ``shape`` from an alias table (`alias_table`'s arrays as tensors on one device):
    a uniform slot, kept with probability ``prob[slot]``, else ``alias[slot]``."""
    slot = torch.randint(len(prob), shape, generator=gen, device=prob.device)
    keep = torch.rand(shape, generator=gen, device=prob.device) < prob[slot]
    return torch.where(keep, slot, alias[slot])


class MembershipTable:
    """Which (user, item) cells of ``train`` are stored: a byte per cell, a packed bitset or
    sorted keys, as the module docstring describes; `is_positive` looks cells up in batch.
    The negative samplers build on it; MNAR code uses it alone for click or exposure lookups."""

    def __init__(self, train: Interactions, device: torch.device | str = "cpu",
                 bitset_max_bytes: int = _DEFAULT_BITSET_BYTES,
                 bytemap_max_bytes: int = _DEFAULT_BYTEMAP_BYTES) -> None:
        csr = train.to_torch(device)
        self.device = torch.device(device)
        self.n_users, self.n_items = train.n_users, train.n_items
        rows = torch.repeat_interleave(torch.arange(train.n_users, device=self.device), csr.indptr.diff())
        self.keys = rows * self.n_items + csr.indices  # sorted: CSR is row-major, indices sorted
        self.indptr, self.indices = csr.indptr, csr.indices
        n_bits = self.n_users * self.n_items
        self.bits: torch.Tensor | None = None
        self.bytemap: torch.Tensor | None = None
        if n_bits <= min(bytemap_max_bytes, bitset_max_bytes):
            table = torch.zeros(n_bits, dtype=torch.bool, device=self.device)
            table[self.keys] = True
            self.bytemap = table
        elif (n_bits + 7) // 8 <= bitset_max_bytes:
            self.bits = torch.as_tensor(_packed_bitset(self.keys.cpu().numpy(), n_bits), device=self.device)

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor, True where (users, items) is a training pair. Broadcasts users (B,) over items (B, K)."""
        if items.dim() == 2 and users.dim() == 1:
            users = users.unsqueeze(1)
        q = torch.add(items, users, alpha=self.n_items)
        if self.bytemap is not None:
            return self.bytemap.index_select(0, q.reshape(-1)).view(q.shape)
        if self.bits is not None:
            return ((self.bits[q >> 3] >> (q & 7).to(torch.uint8)) & 1).bool()
        if len(self.keys) == 0:
            return torch.zeros_like(q, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, q).clamp_max_(len(self.keys) - 1)
        return self.keys[pos] == q

class NegativeSampler(MembershipTable):
    """Base class: uniform proposal; subclasses change :meth:`_propose` / :meth:`_masked_draw`."""

    def __init__(self, train: Interactions, device: torch.device | str = "cpu",
                 bitset_max_bytes: int = _DEFAULT_BITSET_BYTES,
                 bytemap_max_bytes: int = _DEFAULT_BYTEMAP_BYTES, backend: Backend = "auto") -> None:
        if backend not in ("auto", "torch", "numba"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'numba', got {backend!r}")
        full = train.user_counts >= train.n_items
        if full.any():
            first = int(full.nonzero()[0][0])
            raise ValueError(
                f"{int(full.sum())} users interacted with every item (e.g. user index {first}); "
                "no negative exists for them"
            )
        super().__init__(train, device, bitset_max_bytes, bytemap_max_bytes)
        has_table = self.bytemap is not None or self.bits is not None
        if backend == "numba" and (self.device.type != "cpu" or not has_table):
            raise ValueError("backend='numba' needs the CPU and a byte or bit membership table (not sorted keys)")
        # the compiled loop wins on CPU wherever a table exists; elsewhere the vectorised torch path
        self.backend: Backend = ("numba" if backend != "torch" and self.device.type == "cpu" and has_table
                                 else "torch")

    def _propose(self, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        return torch.randint(self.n_items, shape, generator=gen, device=self.device)

    def _proposal_weights(self) -> torch.Tensor:
        return torch.ones(self.n_items, device=self.device)

    def sample(self, users: torch.Tensor, n_neg: int, gen: torch.Generator) -> torch.Tensor:
        """users (B,) int64 -> negatives (B, n_neg) int64, none of them a training positive."""
        if n_neg < 1:
            raise ValueError(f"n_neg must be >= 1, got {n_neg}")
        users = users.to(self.device)
        if self.backend == "numba":
            return self._sample_numba(users, n_neg, gen)
        if users.numel() and (users.min() < 0 or users.max() >= self.n_users):
            raise ValueError(f"user indices out of range [0, {self.n_users})")
        out = self._propose((len(users), n_neg), gen)
        flat = out.view(-1)
        # flat positions still holding a positive; after the first pass only these are touched
        todo = self.is_positive(users, out).view(-1).nonzero().squeeze(1)
        for _ in range(_MAX_ROUNDS):
            if len(todo) == 0:
                return out
            redraw = self._propose((len(todo),), gen)
            flat.index_copy_(0, todo, redraw)
            todo = todo[self.is_positive(users.index_select(0, todo // n_neg), redraw)]
        if len(todo):
            flat.index_copy_(0, todo, self._masked_draw(users.index_select(0, todo // n_neg), gen))
        return out

    def _alias_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)  # uniform proposal

    def _sample_numba(self, users: torch.Tensor, n_neg: int, gen: torch.Generator) -> torch.Tensor:
        """The compiled loop; every check and copy in numpy, so no torch parallel region (and
        its spinning OpenMP workers) runs between two chunks (`recpref.kernels.negatives`)."""
        from recpref.kernels.negatives import sample_negatives

        u = np.ascontiguousarray(users.numpy(), dtype=np.int64)
        if u.size and (u.min() < 0 or u.max() >= self.n_users):
            raise ValueError(f"user indices out of range [0, {self.n_users})")
        seed = int(torch.randint(2**62, (1,), generator=gen))
        empty = np.empty(0, dtype=np.uint8)
        bytemap = self.bytemap.numpy().view(np.uint8) if self.bytemap is not None else empty
        bits = self.bits.numpy() if self.bits is not None else empty
        prob, alias = self._alias_arrays()
        arr, gave_up = sample_negatives(u, n_neg, self.n_items, bytemap, bits, prob, alias, seed, 64 * _MAX_ROUNDS)
        out = torch.from_numpy(arr)
        if gave_up:  # users whose positives hold most of the proposal mass: finish exactly
            stuck = torch.from_numpy(np.flatnonzero(arr.reshape(-1) < 0))
            out.view(-1).index_copy_(0, stuck, self._masked_draw(users.index_select(0, stuck // n_neg), gen))
        return out

    def _masked_draw(self, users: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Exact draw for a few stubborn (user) rows: proposal weights with positives zeroed."""
        w = self._proposal_weights().expand(len(users), -1).clone()
        starts, ends = self.indptr[users], self.indptr[users + 1]
        lens = ends - starts
        row = torch.repeat_interleave(torch.arange(len(users), device=self.device), lens)
        offs = torch.arange(int(lens.sum()), device=self.device) - torch.repeat_interleave(
            torch.cumsum(lens, 0) - lens, lens
        )
        w[row, self.indices[torch.repeat_interleave(starts, lens) + offs]] = 0.0
        if (w.sum(1) <= 0).any():
            raise ValueError("a user has no negative item with non-zero sampling weight")
        return torch.multinomial(w, 1, generator=gen).squeeze(1)


class UniformSampler(NegativeSampler):
    """Uniform over each user's non-interacted items."""


class PopularitySampler(NegativeSampler):
    """P(j | u) proportional to ``(count_j + smoothing) ** exponent`` over u's negatives.

    Proposal by Walker's alias method (Vose's construction): O(1) per draw, two random
    numbers, one gather. ``smoothing`` > 0 keeps never-seen items reachable when
    ``exponent`` > 0.
    """

    def __init__(self, train: Interactions, exponent: float = 0.75, smoothing: float = 0.0,
                 device: torch.device | str = "cpu", bitset_max_bytes: int = _DEFAULT_BITSET_BYTES,
                 bytemap_max_bytes: int = _DEFAULT_BYTEMAP_BYTES, backend: Backend = "auto") -> None:
        super().__init__(train, device, bitset_max_bytes, bytemap_max_bytes, backend)
        self.weights = w = self.popularity_weights(train.item_counts, exponent, smoothing).to(self.device)
        prob, alias = alias_table(w.cpu().numpy())
        self.alias_prob = torch.as_tensor(prob, dtype=torch.float32, device=self.device)
        self.alias = torch.as_tensor(alias, dtype=torch.int64, device=self.device)

    @staticmethod
    def popularity_weights(item_counts: np.ndarray, exponent: float, smoothing: float) -> torch.Tensor:
        """(count + smoothing) ** exponent per item, float64; 0 where count + smoothing is 0."""
        if smoothing < 0 or exponent != exponent:
            raise ValueError(f"need smoothing >= 0 and a finite exponent, got {smoothing}, {exponent}")
        counts = torch.as_tensor(item_counts, dtype=torch.float64)
        w = (counts + smoothing) ** exponent
        w[counts + smoothing == 0] = 0.0  # 0 ** negative exponent would be inf
        if not torch.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("popularity weights are all zero or not finite; add smoothing")
        return w

    def _propose(self, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        return alias_draw(self.alias_prob, self.alias, shape, gen)

    def _proposal_weights(self) -> torch.Tensor:
        return self.weights

    def _alias_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.alias_prob.numpy(), self.alias.numpy()


ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(users (B,), items (B, M)) -> scores (B, M)."""


class HardNegativeSampler:
    """Dynamic hard negatives: draw ``n_candidates`` exact negatives per slot from ``base``,
    score them, keep the highest-scored (Zhang et al., DNS)."""

    def __init__(self, base: NegativeSampler, n_candidates: int = 16) -> None:
        if n_candidates < 1:
            raise ValueError(f"n_candidates must be >= 1, got {n_candidates}")
        self.base = base
        self.n_candidates = n_candidates

    def sample(self, users: torch.Tensor, n_neg: int, gen: torch.Generator, score_fn: ScoreFn) -> torch.Tensor:
        """users (B,) -> negatives (B, n_neg), each the argmax of ``score_fn`` over its candidates."""
        b = len(users)
        cand = self.base.sample(users, n_neg * self.n_candidates, gen)  # (B, n_neg * M)
        with torch.no_grad():
            scores = score_fn(users, cand)
        if scores.shape != cand.shape:
            raise ValueError(f"score_fn returned shape {tuple(scores.shape)}, expected {tuple(cand.shape)}")
        best = scores.view(b, n_neg, self.n_candidates).argmax(-1, keepdim=True)
        return cand.view(b, n_neg, self.n_candidates).gather(-1, best).squeeze(-1)
