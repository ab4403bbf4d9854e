"""Per-user ranking metrics from a top-k hit matrix. Pure numpy, float64.

Every metric takes ``hits`` (n_users, k_max) bool — ``hits[u, j]`` is True when the item
ranked at position ``j`` (0-based) for user ``u`` is relevant — and ``n_rel`` (n_users,)
the number of relevant items of each user (> 0). Definitions (binary gain):

- ``recall@k``    = hits in top-k / n_rel
- ``precision@k`` = hits in top-k / k
- ``ndcg@k``      = DCG@k / IDCG@k, DCG = sum_j hit_j / log2(j + 2), IDCG over min(n_rel, k)
- ``dcg@k``       = DCG@k (unnormalised; the MNAR literature reports it)
- ``mrr@k``       = 1 / (rank of first hit), 0 if no hit in top-k
- ``hit@k``       = 1 if any hit in top-k
- ``map@k``       = sum_j hit_j * precision@(j+1) / min(n_rel, k)
- ``f1@k``        = 2 P R / (P + R) per user with P = precision@k, R = recall@k (0 without a
  hit), then averaged over users (NBPO's code)

Propensity-weighted versions for biased (MNAR) held-out clicks, each test item weighted by
``w = 1 / theta`` (Yang et al., RecSys 2018); they estimate the metric under full exposure:

- ``ips_recall@k`` = sum of w over hits in top-k / n_rel (unbiased; can exceed 1)
- ``snips_recall@k`` = sum of w over hits in top-k / sum of w over the user's test items
- ``ips_dcg@k`` = sum over hits of w / log2(j + 2), divided by n_rel
- ``snips_dcg@k`` = the same sum divided by the sum of w over the user's test items
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

RankingMetric = Literal["recall", "precision", "ndcg", "dcg", "mrr", "hit", "map", "f1"]
BeyondMetric = Literal["coverage", "gini", "popularity"]
WeightedMetric = Literal["ips_recall", "snips_recall", "ips_dcg", "snips_dcg"]
MetricName = RankingMetric | BeyondMetric | WeightedMetric

RANKING_METRICS: tuple[RankingMetric, ...] = ("recall", "precision", "ndcg", "dcg", "mrr", "hit", "map", "f1")
BEYOND_METRICS: tuple[BeyondMetric, ...] = ("coverage", "gini", "popularity")
WEIGHTED_METRICS: tuple[WeightedMetric, ...] = ("ips_recall", "snips_recall", "ips_dcg", "snips_dcg")
DEFAULT_METRICS: tuple[MetricName, ...] = (
    "recall", "precision", "ndcg", "mrr", "hit", "map", "coverage", "gini", "popularity",
)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def recall(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / n_rel


def precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / float(k)


def dcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = hits[:, :k].astype(np.float64)
    return h @ _discounts(h.shape[1])


def ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    disc = _discounts(k)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k)]
    return dcg(hits, n_rel, k) / ideal


def mrr(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = hits[:, :k]
    first = h.argmax(axis=1)
    out: np.ndarray = np.where(h.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return out


def hit(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(hits[:, :k].any(axis=1), dtype=np.float64)


def average_precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = hits[:, :k].astype(np.float64)
    prec_at = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1, dtype=np.float64)
    return (prec_at * h).sum(axis=1) / np.minimum(n_rel, k)


def f1(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = hits[:, :k].sum(axis=1).astype(np.float64)
    p, r = h / float(k), h / n_rel
    out: np.ndarray = np.where(h > 0, 2 * p * r / np.where(h > 0, p + r, 1.0), 0.0)
    return out


RANKING_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "recall": recall,
    "precision": precision,
    "ndcg": ndcg,
    "dcg": dcg,
    "mrr": mrr,
    "hit": hit,
    "map": average_precision,
    "f1": f1,
}


def ranking_metrics(
    hits: np.ndarray, n_rel: np.ndarray, ks: Sequence[int], names: Sequence[str]
) -> dict[str, np.ndarray]:
    """Per-user values ``{"<name>@<k>": (n_users,) float64}`` for the ranking metrics in ``names``."""
    n_rel = np.asarray(n_rel, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for name in names:
        fn = RANKING_FUNCTIONS.get(name)
        if fn is None:
            continue
        for k in ks:
            out[f"{name}@{k}"] = fn(hits, n_rel, k)
    return out


def weighted_metrics(hit_weights: np.ndarray, n_rel: np.ndarray, weight_sums: np.ndarray, ks: Sequence[int],
                     names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-user propensity-weighted metrics. ``hit_weights`` (n_users, k_max) holds ``1/theta`` of
    the item at each rank where it is a hit, 0 elsewhere; ``weight_sums`` (n_users,) the sum of
    ``1/theta`` over each user's test items."""
    out: dict[str, np.ndarray] = {}
    n = np.asarray(n_rel, dtype=np.float64)
    for k in ks:
        w = hit_weights[:, :k]
        g = (w * _discounts(k)).sum(1)
        for name, num, den in (("ips_recall", w.sum(1), n), ("snips_recall", w.sum(1), weight_sums),
                               ("ips_dcg", g, n), ("snips_dcg", g, weight_sums)):
            if name in names:
                out[f"{name}@{k}"] = num / den
    return out


def gini_index(counts: np.ndarray) -> float:
    """Gini index of non-negative counts over the whole catalogue (0 = equal, ->1 = concentrated)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n = x.size
    total = x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def check_metric_names(metrics: Sequence[str]) -> None:
    known = set(RANKING_METRICS) | set(BEYOND_METRICS) | set(WEIGHTED_METRICS)
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {sorted(known)}")
    if not metrics:
        raise ValueError("metrics is empty; ask for at least one metric")


def check_ks(k: int | Sequence[int]) -> tuple[int, ...]:
    ks = (k,) if isinstance(k, (int, np.integer)) else tuple(k)
    if not ks:
        raise ValueError("k is empty; give at least one cut-off, e.g. k=(10, 20)")
    for v in ks:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"every k must be a positive integer, got {v!r}")
    return tuple(int(v) for v in ks)
