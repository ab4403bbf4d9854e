"""Full-ranking evaluation: the one function training, benchmarks and notebooks use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
import torch

from recpref.data import Interactions
from recpref.evaluation.families import beyond_family, ranking_family, weighted_family
from recpref.evaluation.full_ranking import Scorer, check_users, rank_users
from recpref.evaluation.metrics import DEFAULT_METRICS, WEIGHTED_METRICS, check_ks, check_metric_names


@dataclass(frozen=True)
class EvalResult:
    """Aggregate metrics (mean over evaluated users) plus bookkeeping.

    ``metrics`` maps ``"<metric>@<k>"`` to a float. ``n_users`` users were evaluated,
    ``n_skipped`` requested users had no test item that is not also a train item,
    ``n_test_in_train`` test pairs were also in train (masked, so they can never be hit;
    excluded from the relevant set).
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


def _inverse_propensity(names: Sequence[str], propensity: npt.ArrayLike | None, n_users: int,
                        n_items: int) -> np.ndarray | None:
    weighted = [m for m in names if m in WEIGHTED_METRICS]
    if not weighted:
        return None
    if propensity is None:
        raise ValueError(f"metrics {weighted} need propensity= (1/theta weights of the test clicks)")
    from recpref.propensity import check_item_or_cell_propensities

    out: np.ndarray = 1.0 / check_item_or_cell_propensities(propensity, n_users, n_items)
    return out


def _relevant(train: Interactions, test: Interactions) -> tuple[sp.csr_matrix, int]:
    """Binary CSR of the test items that are not train items (sorted indices), and the number
    of test pairs that are also train pairs (masked, so never hit)."""
    test_bin = test.binarized().matrix
    overlap = train.binarized().matrix.multiply(test_bin).tocsr()
    relevant = (test_bin - overlap).tocsr()
    relevant.eliminate_zeros()
    relevant.sort_indices()
    return relevant, int(overlap.nnz)


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
    counted, and so are users whose every test item is also a train item. Top-k is computed per
    user batch on ``device``; memory is O(batch_size x n_items). Results do not depend on
    ``batch_size`` or ``device``. The scorer's output is never modified; a NaN score for an item
    a user could be recommended raises ValueError naming the users.

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
    inv_theta = _inverse_propensity(names, propensity, n_users, n_items)
    requested = check_users(users, n_users)
    if not (np.diff(test.indptr)[requested] > 0).any():
        raise ValueError("no user among those requested has a test item; nothing to evaluate")
    relevant, n_overlap = _relevant(train, test)
    n_rel_all = np.diff(relevant.indptr).astype(np.int64)
    eval_users = requested[n_rel_all[requested] > 0]
    if eval_users.size == 0:
        raise ValueError("every test item of the requested users is also one of their train items (masked, never "
                         "rankable); nothing to evaluate")
    n_rel = n_rel_all[eval_users]

    ranked = rank_users(scorer, train, relevant, eval_users, max(ks), batch_size=batch_size,
                        device=torch.device(device), progress=progress)
    per = ranking_family(ranked, n_rel, ks, names)
    if inv_theta is not None:
        per.update(weighted_family(ranked, relevant, n_rel, inv_theta, ks, names))
    values = {key: float(v.mean()) for key, v in per.items()}
    values.update(beyond_family(ranked, train.item_counts, ks, names))
    ordered = {f"{m}@{kk}": values[f"{m}@{kk}"] for m in names for kk in ks if f"{m}@{kk}" in values}
    frame = None
    if per_user:
        frame = pl.DataFrame({"user": eval_users, "user_id": train.user_vocab.to_raw(eval_users), "n_relevant": n_rel,
                              **per})
    return EvalResult(
        metrics=ordered,
        k=ks,
        n_users=int(eval_users.size),
        n_skipped=int(requested.size - eval_users.size),
        n_test_in_train=n_overlap,
        per_user=frame,
    )
