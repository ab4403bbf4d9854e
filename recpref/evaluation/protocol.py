"""Full-ranking evaluation: the one function training, benchmarks and notebooks use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import torch

from recpref.data import Interactions
from recpref.evaluation.metrics import (
    BEYOND_METRICS,
    DEFAULT_METRICS,
    WEIGHTED_METRICS,
    check_ks,
    check_metric_names,
    gini_index,
    ranking_metrics,
    weighted_metrics,
)
from recpref.evaluation.ranking import canonical_topk, gather_rows

Scorer = Callable[[torch.Tensor], torch.Tensor]
"""``scorer(user_indices (B,) long) -> (B, n_items)`` float scores; higher is better."""


@dataclass(frozen=True)
class EvalResult:
    """Aggregate metrics (mean over evaluated users) plus bookkeeping.

    ``metrics`` maps ``"<metric>@<k>"`` to a float. ``n_users`` users were evaluated,
    ``n_skipped`` requested users had no test items, ``n_test_in_train`` test pairs were
    also in train (masked, so they can never be hit; excluded from the relevant set).
    """

    metrics: dict[str, float]
    k: tuple[int, ...]
    n_users: int
    n_skipped: int
    n_test_in_train: int = 0
    per_user: pl.DataFrame | None = field(default=None, repr=False, compare=False)

    def __getitem__(self, name: str) -> float:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}; computed: {sorted(self.metrics)}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": dict(self.metrics),
            "k": list(self.k),
            "n_users": self.n_users,
            "n_skipped": self.n_skipped,
            "n_test_in_train": self.n_test_in_train,
        }

    def __str__(self) -> str:
        body = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items())
        return f"EvalResult({body}; users={self.n_users}, skipped={self.n_skipped})"


def _check_users(users: npt.ArrayLike | None, n_users: int) -> np.ndarray:
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


def _scores_for(scorer: Scorer, users: np.ndarray, n_items: int, device: torch.device) -> torch.Tensor:
    u = torch.from_numpy(users).to(device)
    with torch.no_grad():
        scores = scorer(u)
    if not isinstance(scores, torch.Tensor):
        scores = torch.as_tensor(np.asarray(scores))
    if scores.shape != (users.size, n_items):
        raise ValueError(
            f"scorer returned shape {tuple(scores.shape)} for {users.size} users; "
            f"expected ({users.size}, {n_items}) = (batch, n_items)"
        )
    scores = scores.to(device=device, dtype=torch.float64 if scores.dtype == torch.float64 else torch.float32)
    nan_rows = torch.isnan(scores).any(dim=1)
    if bool(nan_rows.any()):
        bad = users[nan_rows.cpu().numpy()]
        raise ValueError(f"scorer returned NaN scores for {bad.size} user(s), e.g. user indices {bad[:3].tolist()}")
    return scores


def evaluate(
    scorer: Scorer,
    train: Interactions,
    test: Interactions,
    k: int | Sequence[int] = (10, 20),
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    users: npt.ArrayLike | None = None,
    per_user: bool = False,
    progress: bool = False,
    propensity: npt.ArrayLike | None = None,
) -> EvalResult:
    """Full-ranking evaluation of ``scorer`` on ``test``, with each user's ``train`` items masked.

    Every item not in the user's training set is ranked (ties: lower item index first);
    relevance is membership in ``test`` (binary). Users without test items are skipped and
    counted. Top-k is computed per user batch on ``device``; memory is O(batch_size x n_items).
    Results do not depend on ``batch_size`` or ``device``.

    ``propensity`` ((n_items,) or (n_users, n_items), values in (0, 1]) is required by the
    propensity-weighted metrics ``ips_recall``, ``snips_recall``, ``ips_dcg``, ``snips_dcg``
    (see `recpref.evaluation.metrics`), which weigh each held-out click by 1/theta so that model
    selection on biased clicks does not reward popularity.

    Example:
        >>> from recpref.data import Interactions
        >>> import torch
        >>> train = Interactions.from_indices([0, 1], [0, 1], n_users=2, n_items=4)
        >>> test = Interactions.from_indices([0, 1], [1, 2], n_users=2, n_items=4)
        >>> scores = torch.tensor([[9., 8., 1., 0.], [0., 9., 1., 2.]])
        >>> evaluate(lambda u: scores[u], train, test, k=1, metrics=["recall"])["recall@1"]
        0.5
    """
    ks = check_ks(k)
    names = list(dict.fromkeys(metrics))
    check_metric_names(names)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if train.shape != test.shape:
        raise ValueError(f"train has shape {train.shape} but test has shape {test.shape}; use one id space")
    n_users, n_items = train.shape
    if max(ks) > n_items:
        raise ValueError(f"k={max(ks)} exceeds the number of items ({n_items})")
    weighted = [m for m in names if m in WEIGHTED_METRICS]
    inv_theta: np.ndarray | None = None
    if weighted:
        if propensity is None:
            raise ValueError(f"metrics {weighted} need propensity= (1/theta weights of the test clicks)")
        from recpref.propensity import check_item_or_cell_propensities

        inv_theta = 1.0 / check_item_or_cell_propensities(propensity, n_users, n_items)
    dev = torch.device(device)
    requested = _check_users(users, n_users)
    test_counts = np.diff(test.indptr)[requested]
    eval_users = requested[test_counts > 0]
    n_skipped = int(requested.size - eval_users.size)
    if eval_users.size == 0:
        raise ValueError("no user among those requested has a test item; nothing to evaluate")

    k_max = max(ks)
    test_mat = test.matrix
    overlap = train.matrix.multiply(test_mat)
    n_overlap = int(overlap.nnz)
    overlap_per_user = np.diff(overlap.tocsr().indptr) if n_overlap else np.zeros(n_users, dtype=np.int64)
    n_rel = (np.diff(test.indptr) - overlap_per_user)[eval_users].astype(np.int64)

    top_all = np.empty((eval_users.size, k_max), dtype=np.int64)
    hits_all = np.zeros((eval_users.size, k_max), dtype=bool)
    valid_all = np.ones((eval_users.size, k_max), dtype=bool)
    batches = range(0, eval_users.size, batch_size)
    iterator: Any = batches
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(batches, desc="evaluate", unit="batch")
    for start in iterator:
        ub = eval_users[start : start + batch_size]
        scores = _scores_for(scorer, ub, n_items, dev)
        rows, cols = gather_rows(train.indptr, train.indices, ub)
        masked = scores.clone()
        if rows.size:
            masked[torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev)] = float("-inf")
        top = canonical_topk(masked, k_max)
        top_scores = torch.gather(masked, 1, top)
        truth = torch.zeros((ub.size, n_items), dtype=torch.bool, device=dev)
        trows, tcols = gather_rows(test.indptr, test.indices, ub)
        truth[torch.from_numpy(trows).to(dev), torch.from_numpy(tcols).to(dev)] = True
        if rows.size:  # test items that are also train items are masked: never a hit
            truth[torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev)] = False
        hits = torch.gather(truth, 1, top)
        sl = slice(start, start + ub.size)
        top_all[sl] = top.cpu().numpy()
        hits_all[sl] = hits.cpu().numpy()
        valid_all[sl] = (top_scores > float("-inf")).cpu().numpy()

    keep = n_rel > 0  # users whose every test item was also in train cannot be evaluated
    n_skipped += int((~keep).sum())
    if not keep.all():
        eval_users, top_all, hits_all, valid_all, n_rel = (
            eval_users[keep], top_all[keep], hits_all[keep], valid_all[keep], n_rel[keep]
        )
    per = ranking_metrics(hits_all, n_rel, ks, names)
    if inv_theta is not None:
        rows_w = eval_users[:, None] if inv_theta.ndim == 2 else None
        w_top = inv_theta[rows_w, top_all] if rows_w is not None else inv_theta[top_all]
        # structure only (weights may be ratings): test items minus masked train items
        test_in = test.binarized().matrix[eval_users].tocsr()
        test_in = test_in - test_in.multiply(train.binarized().matrix[eval_users])
        test_in.eliminate_zeros()
        r, c = test_in.nonzero()
        w_test = inv_theta[eval_users[r], c] if inv_theta.ndim == 2 else inv_theta[c]
        sums = np.bincount(r, weights=w_test, minlength=eval_users.size)
        per.update(weighted_metrics(np.where(hits_all, w_top, 0.0), n_rel, sums, ks, names))
    result: dict[str, float] = {}
    for key, values in per.items():
        result[key] = float(values.mean())
    beyond = [m for m in names if m in BEYOND_METRICS]
    if beyond:
        pop = train.item_counts.astype(np.float64)
        for kk in ks:
            items_k = top_all[:, :kk][valid_all[:, :kk]]  # masked (-inf) slots are not recommendations
            counts = np.bincount(items_k, minlength=n_items)
            if "coverage" in beyond:
                result[f"coverage@{kk}"] = float((counts > 0).sum() / n_items)
            if "gini" in beyond:
                result[f"gini@{kk}"] = gini_index(counts)
            if "popularity" in beyond:
                result[f"popularity@{kk}"] = float(pop[items_k].mean()) if items_k.size else 0.0
    ordered = {}
    for name in names:
        for kk in ks:
            key = f"{name}@{kk}"
            if key in result:
                ordered[key] = result[key]
    frame = None
    if per_user:
        columns: dict[str, Any] = {
            "user": eval_users,
            "user_id": train.user_vocab.to_raw(eval_users),
            "n_relevant": n_rel,
        }
        columns.update(per)
        frame = pl.DataFrame(columns)
    return EvalResult(
        metrics=ordered,
        k=ks,
        n_users=int(eval_users.size),
        n_skipped=n_skipped,
        n_test_in_train=n_overlap,
        per_user=frame,
    )
