"""Full ranking of batches of users: score, mask train items, canonical top-k, hits.

The loop `evaluate` runs. Everything it needs per batch is uploaded once (users, the flat
positions of their train items, the sorted keys of their relevant items), each score block is
copied into a reused buffer (the scorer's output is never modified), and the results stay on the
device until one copy at the end. On CUDA the only per-batch check that needs the host (were
there tied k-th scores?) is read one batch late, so the host never waits on the batch it has
just queued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from recpref.data import Interactions
from recpref.evaluation.ranking import NEG_INF, block_positions, boundary_topk, csr_positions, mask_, resolve_ties

Scorer = Callable[[torch.Tensor], torch.Tensor]
"""``scorer(user_indices (B,) long) -> (B, n_items)`` float scores; higher is better."""


def check_users(users: npt.ArrayLike | None, n_users: int) -> np.ndarray:
    """Requested user indices (default: all) as int64, validated: 1-D, in range, unique."""
    if users is None:
        return np.arange(n_users, dtype=np.int64)
    arr = np.asarray(users)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"users must be a 1-D array of integer indices, got dtype {arr.dtype} shape {arr.shape}")
    bad = (arr < 0) | (arr >= n_users)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} user index(es) out of range [0, {n_users}), e.g. {arr[bad][:3].tolist()}"
        )
    if np.unique(arr).size != arr.size:
        raise ValueError("users contains duplicates; each user is evaluated once")
    return arr.astype(np.int64)


def score_batch(scorer: Scorer, users: torch.Tensor, n_items: int, device: torch.device) -> tuple[torch.Tensor, bool]:
    """users (B,) long on ``device`` -> (scores (B, n_items) float32/float64 on ``device``, owned).

    ``owned`` is True when the tensor is a fresh copy made here (another device or dtype), so the
    caller may write into it; otherwise it may be the scorer's own memory. No NaN check (that
    would read the whole block): the top-k finds NaN for free.
    """
    with torch.no_grad():
        raw = scorer(users)
    if not isinstance(raw, torch.Tensor):
        raw = torch.as_tensor(np.asarray(raw))  # may share the scorer's memory: not owned
    b = users.shape[0]
    if raw.shape != (b, n_items):
        raise ValueError(
            f"scorer returned shape {tuple(raw.shape)} for {b} users; expected ({b}, {n_items}) = (batch, n_items)"
        )
    scores = raw.to(device=device, dtype=torch.float64 if raw.dtype == torch.float64 else torch.float32)
    return scores, scores is not raw


def nan_error(users: np.ndarray) -> ValueError:
    return ValueError(f"scorer returned NaN scores for {users.size} user(s), e.g. user indices {users[:3].tolist()}")


@dataclass(frozen=True)
class RankedLists:
    """The canonical top-k of each evaluated user, on the host.

    ``items`` (n, k) int64; ``valid`` (n, k) bool, False where the slot is not a recommendation
    (score -inf: a masked train item when fewer than k items are left); ``hits`` (n, k) bool,
    the item is relevant (and therefore never a masked train item).
    """

    users: np.ndarray
    items: np.ndarray
    valid: np.ndarray
    hits: np.ndarray


@dataclass
class _Pending:  # a batch whose tie check has not been read yet
    start: int
    block: torch.Tensor
    ambiguous: torch.Tensor
    flag: torch.Tensor  # ambiguous.any(), copied to the host
    ready: torch.cuda.Event | None


class _TopKRun:
    """Accumulates each batch's top-k on the device; resolves tied boundaries exactly."""

    def __init__(self, n: int, k: int, device: torch.device, lag: int | None = None) -> None:
        self.k, self.device = k, device
        self.items = torch.empty((n, k), dtype=torch.long, device=device)
        self.valid = torch.empty((n, k), dtype=torch.bool, device=device)
        self.has_nan = torch.empty(n, dtype=torch.bool, device=device)
        # batches whose tie check is read late: on the CPU reading it at once costs nothing
        self.lag = (1 if device.type == "cuda" else 0) if lag is None else lag
        self.pending: list[_Pending] = []
        self.buffers: dict[int, torch.Tensor] = {}

    def block_for(self, batch: int, scores: torch.Tensor, owned: bool) -> torch.Tensor:
        """A contiguous block holding ``scores`` that may be written into (a reused buffer
        unless ``scores`` is already our own copy)."""
        if owned and scores.is_contiguous():
            return scores
        slot = batch % (self.lag + 1)  # the buffer of a batch still pending is not reused
        buf = self.buffers.get(slot)
        if buf is None or buf.dtype != scores.dtype or buf.shape[0] < scores.shape[0]:
            buf = self.buffers[slot] = torch.empty(scores.shape, dtype=scores.dtype, device=self.device)
        return buf[: scores.shape[0]].copy_(scores)

    def add(self, start: int, block: torch.Tensor) -> None:
        items, vals, ambiguous, has_nan = boundary_topk(block, self.k)
        end = start + block.shape[0]
        self.items[start:end] = items
        self.valid[start:end] = vals > NEG_INF
        self.has_nan[start:end] = has_nan
        flag, ready = ambiguous.any(), None
        if self.lag and self.device.type == "cuda":
            flag = torch.empty((), dtype=torch.bool, pin_memory=True).copy_(flag, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
        self.pending.append(_Pending(start, block, ambiguous, flag, ready))
        while len(self.pending) > self.lag:
            self._resolve(self.pending.pop(0))

    def _resolve(self, p: _Pending) -> None:
        if p.ready is not None:
            p.ready.synchronize()  # waits for that batch only; the next one keeps the device busy
        if bool(p.flag):
            rows = p.ambiguous.nonzero().squeeze(1)
            items, vals = resolve_ties(p.block, rows, self.k)
            end = p.start + p.block.shape[0]
            self.items[p.start:end].index_copy_(0, rows, items)
            self.valid[p.start:end].index_copy_(0, rows, vals > NEG_INF)

    def finish(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        while self.pending:
            self._resolve(self.pending.pop(0))
        self.buffers.clear()
        return self.items, self.valid, self.has_nan


def rank_users(
    scorer: Scorer,
    train: Interactions,
    relevant: sp.csr_matrix,
    users: np.ndarray,
    k: int,
    *,
    batch_size: int,
    device: torch.device,
    progress: bool = False,
) -> RankedLists:
    """Canonical top-``k`` of every user in ``users`` (n,) over all items minus the user's
    ``train`` items, with hits against ``relevant`` (n_users, n_items) binary CSR (sorted
    indices). Raises ValueError when the scorer gives NaN among a user's unseen items."""
    n_items = train.n_items
    users_t = torch.from_numpy(users).to(device)
    positions = torch.from_numpy(block_positions(train, users)).to(device)  # global: user place * n_items + item
    bounds = np.concatenate([[0], np.cumsum(train.user_counts[users])])
    run = _TopKRun(users.size, k, device)
    starts: Iterable[int] = range(0, users.size, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="evaluate", unit="batch", total=-(-users.size // batch_size))
    for batch, start in enumerate(starts):
        end = min(start + batch_size, users.size)
        scores, owned = score_batch(scorer, users_t[start:end], n_items, device)
        block = run.block_for(batch, scores, owned)
        mask_(block, positions[bounds[start]:bounds[end]] - start * n_items)
        run.add(start, block)
    items, valid, has_nan = run.finish()
    keys = torch.from_numpy(csr_positions(relevant.indptr, relevant.indices, users, n_items)).to(device)  # sorted
    hits = _member(keys, torch.arange(users.size, device=device)[:, None] * n_items + items)
    out = {"items": items, "valid": valid, "hits": hits, "nan": has_nan}
    host = {name: t.cpu().numpy() for name, t in out.items()}  # the one copy back
    if host["nan"].any():
        raise nan_error(users[host["nan"]])
    return RankedLists(users=users, items=host["items"], valid=host["valid"], hits=host["hits"])


def _member(sorted_keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """queries (any shape) long -> bool, True where the query is in ``sorted_keys`` (1-D)."""
    if sorted_keys.numel() == 0:
        return torch.zeros(queries.shape, dtype=torch.bool, device=queries.device)
    at = torch.searchsorted(sorted_keys, queries).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[at] == queries
