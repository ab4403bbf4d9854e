"""Candidate-list protocol: rank only each user's shown test items (Coat, Yahoo! R3).

On randomly exposed (MAR) test sets every user rated a list of shown items; the model
ranks that list, and relevance is the rating passing a threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import torch

from recpref.data import Interactions
from recpref.evaluation.metrics import RANKING_METRICS, check_ks, check_metric_names, ranking_metrics
from recpref.evaluation.full_ranking import Scorer, check_users, nan_error, score_batch
from recpref.evaluation.protocol import EvalResult
from recpref.evaluation.ranking import gather_rows


def evaluate_candidates(
    scorer: Scorer,
    candidates: Interactions,
    k: int | Sequence[int] = (1, 3, 5),
    metrics: Sequence[str] = ("dcg", "recall", "map", "ndcg"),
    *,
    relevance_threshold: float | None = None,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
    users: npt.ArrayLike | None = None,
    per_user: bool = False,
) -> EvalResult:
    """Rank each user's candidate items (the pairs in ``candidates``) by ``scorer``.

    An item is relevant when its weight in ``candidates`` is ``>= relevance_threshold``
    (default: every candidate with weight > 0 when ``candidates`` is weighted, else every
    candidate — then give relevance via a separate binarised set). Ties: lower item index
    first. Users with no relevant candidate are skipped and counted. Only ranking metrics
    apply here (coverage etc. need a full ranking).
    """
    ks = check_ks(k)
    names = list(dict.fromkeys(metrics))
    check_metric_names(names)
    not_ranking = [m for m in names if m not in RANKING_METRICS]
    if not_ranking:
        raise ValueError(f"{not_ranking} need a full ranking; evaluate_candidates supports {list(RANKING_METRICS)}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n_users, n_items = candidates.shape
    dev = torch.device(device)
    requested = check_users(users, n_users)
    w = candidates.weights
    relevant = w >= relevance_threshold if relevance_threshold is not None else w > 0
    # bincount over each pair's user: users without candidates (anywhere in the range) count 0
    n_rel_all = np.bincount(candidates.rows[relevant], minlength=n_users)
    counts = np.diff(candidates.indptr)
    eval_users = requested[n_rel_all[requested] > 0]
    n_skipped = int(requested.size - eval_users.size)
    if eval_users.size == 0:
        raise ValueError("no requested user has a relevant candidate item; nothing to evaluate")
    k_max = max(ks)
    hits_all = np.zeros((eval_users.size, k_max), dtype=bool)
    for start in range(0, eval_users.size, batch_size):
        ub = eval_users[start : start + batch_size]
        scores = score_batch(scorer, torch.from_numpy(ub).to(dev), n_items, dev)[0].cpu()
        nan_rows = torch.isnan(scores).any(dim=1).numpy()
        if nan_rows.any():
            raise nan_error(ub[nan_rows])
        rows, cols = gather_rows(candidates.indptr, candidates.indices, ub)
        pos = gather_rows(candidates.indptr, np.arange(candidates.nnz), ub)[1]  # CSR positions
        lens = counts[ub]
        width = int(lens.max())
        slot = np.arange(rows.size) - np.repeat(np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        cand_scores = torch.full((ub.size, width), float("-inf"), dtype=torch.float64)
        cand_items = torch.full((ub.size, width), n_items, dtype=torch.int64)
        cand_rel = torch.zeros((ub.size, width), dtype=torch.bool)
        r, s = torch.from_numpy(rows), torch.from_numpy(slot)
        cand_scores[r, s] = scores[r, torch.from_numpy(cols)].double()
        cand_items[r, s] = torch.from_numpy(cols)
        cand_rel[r, s] = torch.from_numpy(relevant[pos])
        # items are ascending within a row (CSR), padding last: a stable sort by score keeps
        # lower item indices first among ties and padding after every real candidate.
        order = torch.sort(cand_scores, dim=1, descending=True, stable=True).indices
        ranked_rel = torch.gather(cand_rel, 1, order)[:, :k_max]
        hits_all[start : start + ub.size, : ranked_rel.shape[1]] = ranked_rel.numpy()
    n_rel = n_rel_all[eval_users]
    per = ranking_metrics(hits_all, n_rel, ks, names)
    ordered = {f"{m}@{kk}": float(per[f"{m}@{kk}"].mean()) for m in names for kk in ks}
    frame = None
    if per_user:
        cols_: dict[str, Any] = {"user": eval_users, "user_id": candidates.user_vocab.to_raw(eval_users),
                                 "n_relevant": n_rel}
        cols_.update(per)
        frame = pl.DataFrame(cols_)
    return EvalResult(metrics=ordered, k=ks, n_users=int(eval_users.size), n_skipped=n_skipped, per_user=frame)
