"""Seeded, deterministic train/valid/test splitters over `Interactions`.

Every splitter returns a :class:`Split` whose parts share the input's vocabularies and
never share a (user, item) pair, so indices line up and no test pair leaks into train.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from recpref.data.interactions import Interactions

__all__ = [
    "OrderBy",
    "Split",
    "global_temporal_split",
    "leave_last_out",
    "predefined_split",
    "random_split",
    "temporal_split",
]

OrderBy = Literal["timestamp", "order"]
"""Time order of a user's interactions: by ``timestamps`` (ties broken by input order), or
by the order they were given in (``Interactions.order``)."""


@dataclass(frozen=True)
class Split:
    """Train / (optional) validation / test parts over one vocabulary space."""

    train: Interactions
    test: Interactions
    valid: Interactions | None = None
    allow_overlap: bool = False

    def __post_init__(self) -> None:
        parts = self.parts()
        for name, part in parts.items():
            if not self.train.same_space(part):
                raise ValueError(f"split part {name!r} uses different user/item vocabularies from 'train'")
        if self.allow_overlap:
            return
        names = list(parts)
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                n = overlap_count(parts[names[a]], parts[names[b]])
                if n:
                    raise ValueError(
                        f"{n} (user, item) pairs are in both {names[a]!r} and {names[b]!r}; "
                        "pass allow_overlap=True if the dataset defines them so"
                    )

    def parts(self) -> dict[str, Interactions]:
        out = {"train": self.train}
        if self.valid is not None:
            out["valid"] = self.valid
        out["test"] = self.test
        return out


def overlap_count(a: Interactions, b: Interactions) -> int:
    """Number of (user, item) pairs stored in both ``a`` and ``b`` (same space)."""
    ka = a.rows * a.n_items + a.indices
    kb = b.rows * b.n_items + b.indices
    return int(np.intersect1d(ka, kb, assume_unique=True).size)


def _rank_within_user(data: Interactions, key: np.ndarray) -> np.ndarray:
    """Rank (0 = smallest key) of each stored interaction among its user's, (nnz,)."""
    rows = data.rows
    perm = np.lexsort((key, rows))
    rank = np.empty(data.nnz, dtype=np.int64)
    rank[perm] = np.arange(data.nnz) - data.indptr[rows[perm]]
    return rank


def _time_key(data: Interactions, by: OrderBy) -> np.ndarray:
    """(nnz,) key whose ascending order is the time order (ties by input order)."""
    if by == "order":
        return data.order.astype(np.float64)
    if by == "timestamp":
        if data.timestamps is None:
            raise ValueError("this Interactions has no timestamps; use by='order' for the given order")
        # rank by (timestamp, input order) -> a single integer key
        perm = np.lexsort((data.order, data.timestamps))
        key = np.empty(data.nnz, dtype=np.float64)
        key[perm] = np.arange(data.nnz)
        return key
    raise ValueError(f"by must be 'timestamp' or 'order', got {by!r}")


def _check_ratio(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0 or np.isnan(value):
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def _cut(data: Interactions, rank_from_end: np.ndarray, n_test: np.ndarray, n_valid: np.ndarray) -> Split:
    """Assign rank_from_end < n_test to test, the next n_valid to valid, the rest to train."""
    rows = data.rows
    t = n_test[rows]
    v = n_valid[rows]
    is_test = rank_from_end < t
    is_valid = (~is_test) & (rank_from_end < t + v)
    valid = data.select(is_valid) if n_valid.any() else None
    return Split(train=data.select(~is_test & ~is_valid), test=data.select(is_test), valid=valid)


def _check_ratios(test_ratio: float, valid_ratio: float) -> None:
    _check_ratio("test_ratio", test_ratio)
    _check_ratio("valid_ratio", valid_ratio)
    if test_ratio + valid_ratio >= 1.0:
        raise ValueError(f"test_ratio + valid_ratio must be < 1, got {test_ratio + valid_ratio}")


def _cut_ratios(data: Interactions, rank_from_end: np.ndarray, test_ratio: float, valid_ratio: float) -> Split:
    """`_cut` with floor(ratio x n_u) held-out interactions per user."""
    n_u = data.user_counts
    return _cut(data, rank_from_end, np.floor(test_ratio * n_u + 1e-9).astype(np.int64),
                np.floor(valid_ratio * n_u + 1e-9).astype(np.int64))


def random_split(
    data: Interactions, test_ratio: float = 0.2, *, valid_ratio: float = 0.0, seed: int
) -> Split:
    """Random per-user holdout: ``floor(test_ratio * n_u)`` of each user's interactions go to
    test and ``floor(valid_ratio * n_u)`` to validation, chosen uniformly with ``seed``."""
    _check_ratios(test_ratio, valid_ratio)
    rng = np.random.default_rng(seed)
    key = rng.random(data.nnz)
    rank = _rank_within_user(data, key)
    return _cut_ratios(data, rank, test_ratio, valid_ratio)


def temporal_split(
    data: Interactions, test_ratio: float = 0.2, *, valid_ratio: float = 0.0, by: OrderBy = "timestamp"
) -> Split:
    """Per-user temporal holdout: each user's last ``floor(test_ratio * n_u)`` interactions
    go to test, the ``floor(valid_ratio * n_u)`` before them to validation."""
    _check_ratios(test_ratio, valid_ratio)
    rank_from_end = (data.user_counts[data.rows] - 1) - _rank_within_user(data, _time_key(data, by))
    return _cut_ratios(data, rank_from_end, test_ratio, valid_ratio)


def leave_last_out(
    data: Interactions, n_test: int = 1, *, n_valid: int = 0, by: OrderBy = "timestamp"
) -> Split:
    """Leave-last-out: each user's last ``n_test`` interactions are test, the ``n_valid``
    before them validation. Users with at most ``n_test + n_valid`` interactions keep them
    all in train (they have no held-out items and are skipped by evaluation)."""
    if n_test < 1 or n_valid < 0:
        raise ValueError(f"need n_test >= 1 and n_valid >= 0, got {n_test}, {n_valid}")
    rank_from_end = (data.user_counts[data.rows] - 1) - _rank_within_user(data, _time_key(data, by))
    enough = data.user_counts > n_test + n_valid
    return _cut(data, rank_from_end, np.where(enough, n_test, 0), np.where(enough, n_valid, 0))


def global_temporal_split(
    data: Interactions,
    *,
    test_ratio: float | None = None,
    cutoff: float | None = None,
    valid_ratio: float = 0.0,
) -> Split:
    """Global temporal split on timestamps: interactions at or after ``cutoff`` are test.

    Give either ``cutoff`` or ``test_ratio`` (the cutoff is then the timestamp of the
    interaction at that quantile in time order; ties at the cutoff all go to test).
    With ``valid_ratio``, the ``valid_ratio`` share of interactions just before the test
    period is validation, cut the same way.
    """
    if data.timestamps is None:
        raise ValueError("global_temporal_split needs timestamps")
    if (test_ratio is None) == (cutoff is None):
        raise ValueError("give exactly one of test_ratio or cutoff")
    ts = data.timestamps.astype(np.float64)
    sorted_ts = np.sort(ts)
    if cutoff is None:
        assert test_ratio is not None
        _check_ratio("test_ratio", test_ratio)
        n_test = int(np.floor(test_ratio * data.nnz))
        if n_test == 0:
            raise ValueError(f"test_ratio={test_ratio} leaves no test interactions out of {data.nnz}")
        cutoff = float(sorted_ts[data.nnz - n_test])
    is_test = ts >= cutoff
    is_valid = np.zeros(data.nnz, dtype=bool)
    if valid_ratio:
        _check_ratio("valid_ratio", valid_ratio)
        n_before = int((~is_test).sum())
        n_valid = int(np.floor(valid_ratio * data.nnz))
        if n_valid >= n_before:
            raise ValueError("valid_ratio leaves no training interactions")
        v_cut = float(sorted_ts[n_before - n_valid])
        is_valid = (~is_test) & (ts >= v_cut)
    return Split(
        train=data.select(~is_test & ~is_valid),
        test=data.select(is_test),
        valid=data.select(is_valid) if valid_ratio else None,
    )


def predefined_split(parts: Mapping[str, Interactions], *, allow_overlap: bool = False) -> Split:
    """Pass through a dataset's own split (keys ``train``, ``test`` and optionally
    ``valid``). Overlapping pairs raise unless ``allow_overlap`` says the dataset
    defines them so (Coat's MNAR train and MAR test share 366 cells by design)."""
    unknown = set(parts) - {"train", "valid", "test"}
    if unknown or "train" not in parts or "test" not in parts:
        raise ValueError(f"predefined split needs 'train' and 'test' (and optionally 'valid'), got {sorted(parts)}")
    return Split(train=parts["train"], test=parts["test"], valid=parts.get("valid"), allow_overlap=allow_overlap)
