"""Metric families over the ranked lists of `recpref.evaluation.full_ranking`.

Each takes `RankedLists` (top-k items, validity and hits of every evaluated user) and returns
``{"<metric>@<k>": value}``: per-user arrays for the ranking and the propensity-weighted
families (averaged by `evaluate`), catalogue-level floats for the beyond-accuracy family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recpref.evaluation.full_ranking import RankedLists
from recpref.evaluation.metrics import BEYOND_METRICS, gini_index, ranking_metrics, weighted_metrics


def ranking_family(ranked: RankedLists, n_rel: np.ndarray, ks: Sequence[int],
                   names: Sequence[str]) -> dict[str, np.ndarray]:
    """Binary-gain metrics (recall, ndcg, ...) per user; ``n_rel`` (n,) relevant items per user."""
    return ranking_metrics(ranked.hits, n_rel, ks, names)


def weighted_family(ranked: RankedLists, relevant: sp.csr_matrix, n_rel: np.ndarray, inv_theta: np.ndarray,
                    ks: Sequence[int], names: Sequence[str]) -> dict[str, np.ndarray]:
    """Propensity-weighted metrics per user. ``inv_theta`` is 1/propensity, (n_items,) or
    (n_users, n_items); ``relevant`` (n_users, n_items) the binary CSR of test items minus the
    masked train items (by structure: rating weights play no part)."""
    users = ranked.users
    per_cell = inv_theta.ndim == 2
    w_top = inv_theta[users[:, None], ranked.items] if per_cell else inv_theta[ranked.items]
    r, c = relevant[users].nonzero()
    w_test = inv_theta[users[r], c] if per_cell else inv_theta[c]
    sums = np.bincount(r, weights=w_test, minlength=users.size)
    return weighted_metrics(np.where(ranked.hits, w_top, 0.0), n_rel, sums, ks, names)


def beyond_family(ranked: RankedLists, item_counts: np.ndarray, ks: Sequence[int],
                  names: Sequence[str]) -> dict[str, float]:
    """Coverage, Gini index and mean training popularity of the recommended items (valid
    slots only: a masked train item is not a recommendation) over the whole catalogue;
    ``item_counts`` (n_items,) training interactions per item."""
    wanted = [m for m in names if m in BEYOND_METRICS]
    out: dict[str, float] = {}
    if not wanted:
        return out
    pop = item_counts.astype(np.float64)
    for k in ks:
        items_k = ranked.items[:, :k][ranked.valid[:, :k]]
        counts = np.bincount(items_k, minlength=pop.size)
        if "coverage" in wanted:
            out[f"coverage@{k}"] = float((counts > 0).sum() / pop.size)
        if "gini" in wanted:
            out[f"gini@{k}"] = gini_index(counts)
        if "popularity" in wanted:
            out[f"popularity@{k}"] = float(pop[items_k].mean()) if items_k.size else 0.0
    return out
