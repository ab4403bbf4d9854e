"""Deterministic top-k on a (B, n_items) score block.

Ranking order is canonical: higher score first, ties broken by the lower item index. The
result therefore never depends on the batch size, the device or torch.topk's tie order.
"""

from __future__ import annotations

import numpy as np
import torch


def canonical_topk(scores: torch.Tensor, k: int) -> torch.Tensor:
    """scores (B, n) -> (B, k) item indices ordered by (score desc, index asc).

    Fast path: ``torch.topk`` and a re-sort of its k results. Rows whose k-th value is tied
    with an item outside the top-k (so topk's choice among ties is arbitrary) fall back to a
    stable full sort of that row.
    """
    n = scores.shape[1]
    k = min(k, n)
    vals, idx = torch.topk(scores, k, dim=1, largest=True, sorted=True)
    # Re-sort the selected k by (value desc, index asc): sort by index, then stable by value.
    idx, order = torch.sort(idx, dim=1)
    vals = torch.gather(vals, 1, order)
    order = torch.sort(vals, dim=1, descending=True, stable=True).indices
    idx = torch.gather(idx, 1, order)
    # Rows with more candidates >= the k-th value than k have an ambiguous boundary.
    kth = vals.min(dim=1, keepdim=True).values
    ambiguous = (scores >= kth).sum(dim=1) > k
    if bool(ambiguous.any()):
        rows = ambiguous.nonzero(as_tuple=True)[0]
        full = torch.sort(scores[rows], dim=1, descending=True, stable=True).indices[:, :k]
        idx[rows] = full
    return idx


def gather_rows(indptr: np.ndarray, indices: np.ndarray, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR rows of ``users`` as (row position in the batch, column) pairs, vectorized."""
    starts = indptr[users]
    lens = indptr[users + 1] - starts
    total = int(lens.sum())
    rows = np.repeat(np.arange(users.size, dtype=np.int64), lens)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    cols = indices[offsets + np.arange(total, dtype=np.int64)]
    return rows, cols.astype(np.int64, copy=False)
