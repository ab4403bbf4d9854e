"""Diversity@N (ComiRec, methods.md section 3.3): the share of item pairs in a list whose
categories differ, and a way to report it next to the accuracy metrics of `evaluate`.

``diversity@N(u) = #{unordered pairs {i, j} of u's list : cate(i) != cate(j)} / #pairs``.

`evaluate` itself is left as it is: :func:`evaluate_with_diversity` calls it, then ranks the
same users with the same ranking core (`recpref.evaluation.full_ranking.rank_users`: train
items masked, canonical order) and adds ``diversity@k`` for every cut-off. The ranking runs twice
(the price of keeping `evaluate`'s signature and code unchanged); the lists are the very lists the
accuracy metrics were computed on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
import torch

from recpref.data import Interactions
from recpref.evaluation.full_ranking import Scorer, rank_users
from recpref.evaluation.metrics import DEFAULT_METRICS, check_ks
from recpref.evaluation.protocol import EvalResult, evaluate

__all__ = ["check_item_categories", "diversity", "evaluate_with_diversity"]


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers; got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def check_item_categories(categories: Any, n_items: int | None = None) -> np.ndarray:
    """(n_items,) integer category ids >= 0 -> int64 array; ``ValueError`` naming the problem."""
    cats = _as_numpy(categories, "categories")
    if cats.ndim != 1:
        raise ValueError(f"categories must be 1-D (n_items,), one category id per item; got shape {cats.shape}")
    if cats.size and int(cats.min()) < 0:
        raise ValueError("categories must be >= 0 (give items without a category an explicit 'unknown' id)")
    if n_items is not None and cats.size != n_items:
        raise ValueError(f"categories has {cats.size} entries; expected one per item ({n_items})")
    return cats


def diversity(topn: npt.ArrayLike | torch.Tensor, categories: npt.ArrayLike | torch.Tensor) -> np.ndarray:
    """topn (B, N) item ids (-1 = empty slot), categories (n_items,) -> (B,) float64: per user the
    share of unordered pairs of the list's items with different categories. Empty slots take no
    part; a list with fewer than 2 items has no pair and gets NaN. Vectorised (one sort per row).

    Example:
        >>> diversity([[0, 1, 2], [0, 2, -1]], [5, 5, 7]).tolist()
        [0.6666666666666666, 1.0]
    """
    items = _as_numpy(topn, "topn")
    if items.ndim != 2:
        raise ValueError(f"topn must be 2-D (B, N) item ids; got shape {items.shape}")
    cats = check_item_categories(categories)
    valid = items >= 0
    if valid.any() and int(items[valid].max()) >= cats.size:
        raise ValueError(f"categories has {cats.size} entries but topn holds item id {int(items[valid].max())}: "
                         "give one category id to every item")
    b, n = items.shape
    # empty slots get distinct negative categories, so they never pair with anything
    c = np.where(valid, cats[np.where(valid, items, 0)], -1 - np.arange(n, dtype=np.int64))
    c = np.sort(c, axis=1)
    pos = np.broadcast_to(np.arange(n, dtype=np.int64), (b, n))
    start = np.ones((b, n), dtype=bool)
    start[:, 1:] = c[:, 1:] != c[:, :-1]
    run_start = np.maximum.accumulate(np.where(start, pos, 0), axis=1)
    same = (pos - run_start).sum(1)  # sum over runs of C(run length, 2); empty slots are runs of 1
    m = valid.sum(1).astype(np.float64)
    pairs = m * (m - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(pairs > 0, (pairs - same) / np.where(pairs > 0, pairs, 1.0), np.nan)
    return out


def evaluate_with_diversity(scorer: Scorer, train: Interactions, test: Interactions,
                            item_categories: npt.ArrayLike | torch.Tensor, k: int | Sequence[int] = (10, 20),
                            metrics: Sequence[str] = DEFAULT_METRICS, *, batch_size: int = 1024,
                            device: torch.device | str = "cpu", **evaluate_kwargs: Any) -> EvalResult:
    """`evaluate` plus ``diversity@k`` for every ``k`` (:func:`diversity` of each evaluated user's
    top-k, the same lists, mean over the users with at least two recommended items).

    ``item_categories`` (n_items,) integer category ids >= 0 (e.g.
    `data_loaders.sequences.item_categories`). Other keywords go to `evaluate` unchanged; with
    ``per_user=True`` the per-user frame gains ``diversity@k`` columns.
    """
    cats = check_item_categories(item_categories, train.n_items)
    ks = check_ks(k)
    want_frame = bool(evaluate_kwargs.pop("per_user", False))
    result = evaluate(scorer, train, test, ks, metrics, batch_size=batch_size, device=device, per_user=True,
                      **evaluate_kwargs)
    assert result.per_user is not None
    users = result.per_user["user"].to_numpy().astype(np.int64)
    no_hits = sp.csr_matrix((train.n_users, train.n_items), dtype=np.float32)
    ranked = rank_users(scorer, train, no_hits, users, max(ks), batch_size=batch_size, device=torch.device(device))
    items = np.where(ranked.valid, ranked.items, -1)
    per = {f"diversity@{kk}": diversity(items[:, :kk], cats) for kk in ks}
    values = dict(result.metrics)
    for name, v in per.items():
        values[name] = float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
    frame = result.per_user.with_columns(pl.Series(name, v) for name, v in per.items()) if want_frame else None
    return replace(result, metrics=values, per_user=frame)
