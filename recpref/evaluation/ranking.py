"""Ranking core on a (B, n_items) score block: mask each user's train items, canonical top-k.

Ranking order is canonical: higher score first, ties broken by the lower item index. The
result therefore never depends on the batch size, the device or torch.topk's tie order.
`topk_unseen` is the entry for one batch (serving); `recpref.evaluation.full_ranking` runs the
same steps over every batch of users without waiting on the device.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from recpref.data import Interactions

NEG_INF = float("-inf")


def gather_rows(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR rows of ``users`` as (row position in the batch, column) pairs, vectorized."""
    starts = indptr[users]
    lens = indptr[users + 1] - starts
    total = int(lens.sum())
    rows = np.repeat(np.arange(users.size, dtype=np.int64), lens)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    cols = indices[offsets + np.arange(total, dtype=np.int64)]
    return rows, cols.astype(np.int64, copy=False)


def csr_positions(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray, n_cols: int) -> np.ndarray:
    """Flat positions ``row * n_cols + column`` of the CSR rows of ``users`` (B,) in a row-major
    (B, n_cols) block, ascending (CSR columns are sorted within a row)."""
    rows, cols = gather_rows(np.asarray(indptr, dtype=np.int64), indices, users)
    out: np.ndarray = rows * np.int64(n_cols) + cols
    return out


def block_positions(train: Interactions, users: np.ndarray) -> np.ndarray:
    """(nnz of ``users``,) flat positions of the train items of ``users`` (B,) in a (B, n_items) block."""
    return csr_positions(train.indptr, train.indices, users, train.n_items)


def mask_(block: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Set the flat ``positions`` (long, on ``block``'s device) of the contiguous ``block`` to
    -inf in place (one scatter, no loop per user); returns ``block``."""
    block.view(-1).index_fill_(0, positions, NEG_INF)
    return block


def boundary_topk(block: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """block (B, n) -> items (B, k) long, scores (B, k), ambiguous (B,) bool, has_nan (B,) bool.

    Items are the top-k in canonical order, except in ``ambiguous`` rows, where the k-th score
    is tied with an item outside the selection (torch.topk's choice among the tied items is
    arbitrary there): pass those rows to `resolve_ties`. One topk of k + 1 finds them (the
    (k+1)-th score equals the k-th), so nothing here waits on the device. ``has_nan`` marks rows
    with a NaN among the selected scores (topk ranks NaN above every number, so a row has one
    exactly when it has a NaN anywhere).
    """
    n = block.shape[1]
    k = min(k, n)
    kk = min(k + 1, n)
    vals, idx = torch.topk(block, kk, dim=1, largest=True, sorted=True)
    # Canonical order of the selection, (score desc, index asc): sort by index, then stable by score.
    idx, order = torch.sort(idx, dim=1)
    vals = torch.gather(vals, 1, order)
    vals, order = torch.sort(vals, dim=1, descending=True, stable=True)
    idx = torch.gather(idx, 1, order)
    has_nan = torch.isnan(vals).any(dim=1)
    if kk == k:  # the whole row is selected: no boundary
        return idx, vals, torch.zeros_like(has_nan), has_nan
    return idx[:, :k], vals[:, :k], vals[:, k - 1] == vals[:, k], has_nan


def resolve_ties(block: torch.Tensor, rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact canonical top-k (items (R, k) long, scores (R, k)) of ``rows`` (R,) long of
    ``block`` (B, n): a stable full sort, so lower indices win ties."""
    full_vals, full_idx = torch.sort(block[rows], dim=1, descending=True, stable=True)
    return full_idx[:, :k], full_vals[:, :k]


def _canonical(block: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    items, vals, ambiguous, has_nan = boundary_topk(block, k)
    if bool(ambiguous.any()):
        rows = ambiguous.nonzero().squeeze(1)
        fixed_items, fixed_vals = resolve_ties(block, rows, items.shape[1])
        items.index_copy_(0, rows, fixed_items)
        vals.index_copy_(0, rows, fixed_vals)
    return items, vals, has_nan


def canonical_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """scores (B, n) -> (B, min(k, n)) item indices ordered by (score desc, index asc).

    Fast path: ``torch.topk`` of k + 1 and a re-sort of its results; rows whose k-th score is
    tied with an unselected item fall back to a stable full sort of that row.
    """
    return _canonical(scores, k)[0]


def topk_unseen(
    scores: torch.Tensor, train: Interactions, users: npt.ArrayLike, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` items of each user that are not among the user's ``train`` items.

    ``scores`` (B, n_items) float, any device, row ``b`` scoring every item for user index
    ``users[b]`` (``users`` (B,) int, rows of ``train``). Returns, on ``scores``' device:

    - ``items`` (B, k) long: canonical order, higher score first, lower item index on ties;
    - ``scores`` (B, k): their scores, -inf where the slot holds a train item;
    - ``valid`` (B, k) bool: the slot is a recommendation (score > -inf); False when the user
      has fewer than k unseen items (or the scorer gave -inf).

    Train items are masked by one vectorised scatter; ``scores`` is not modified. Raises
    ValueError on bad shapes, users or k, and when a row's unseen scores contain NaN.
    """
    n_items = train.n_items
    u = np.asarray(users)
    if u.ndim != 1 or u.dtype.kind not in "iu":
        raise ValueError(f"users must be a 1-D array of integer user indices, got dtype {u.dtype} shape {u.shape}")
    if u.size and (u.min() < 0 or u.max() >= train.n_users):
        raise ValueError(f"user index out of range [0, {train.n_users}): e.g. {u[(u < 0) | (u >= train.n_users)][:3]}")
    if scores.ndim != 2 or scores.shape != (u.size, n_items):
        raise ValueError(f"scores has shape {tuple(scores.shape)}; expected ({u.size}, {n_items}) = (users, n_items)")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 < k <= n_items:
        raise ValueError(f"k must be an integer in [1, n_items={n_items}], got {k!r}")
    block = scores.detach().clone(memory_format=torch.contiguous_format)
    if not block.is_floating_point():
        block = block.float()
    positions = torch.from_numpy(block_positions(train, u.astype(np.int64))).to(block.device)
    items, vals, has_nan = _canonical(mask_(block, positions), int(k))
    if bool(has_nan.any()):
        bad = has_nan.nonzero().squeeze(1).cpu().numpy()
        raise ValueError(f"scores contain NaN for {bad.size} user(s) among their unseen items, "
                         f"e.g. batch rows {bad[:3].tolist()} (user indices {u[bad[:3]].tolist()})")
    return items, vals, vals > NEG_INF
