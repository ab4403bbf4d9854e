"""`Interactions`: an immutable users x items implicit-feedback matrix (scipy CSR)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recpref.data.vocabulary import Vocabulary, _as_raw_array

if TYPE_CHECKING:
    import polars as pl
    import torch

__all__ = ["Dedupe", "Interactions", "TorchCSR"]

Dedupe = Literal["error", "keep_first", "keep_last", "sum"]
"""What to do with repeated (user, item) pairs: refuse (default), keep the first or last
occurrence in input order, or sum their weights (keeping the latest timestamp)."""


@dataclass(frozen=True)
class TorchCSR:
    """Device-side view of an `Interactions` matrix.

    indptr (n_users + 1,) int64, indices (nnz,) int64 sorted within each row,
    weights (nnz,) float32.
    """

    indptr: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor
    n_users: int
    n_items: int


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _py(value: object) -> object:
    """numpy scalar -> Python scalar, for readable error messages."""
    return value.item() if isinstance(value, np.generic) else value


def _example_rows(mask: np.ndarray, k: int = 3) -> str:
    rows = np.flatnonzero(mask)[:k].tolist()
    return ", ".join(str(r) for r in rows)


class Interactions:
    """Users x items implicit feedback held as a canonical scipy CSR matrix.

    Rows are users, columns items, both contiguous indices with vocabularies mapping them
    to raw ids. Column indices are sorted and unique within each row. ``weights`` (float32)
    default to 1; ``timestamps`` are optional; ``order`` holds each interaction's row
    position in the input it was built from, so "given order" splits stay possible after
    sorting. All arrays are read-only: derive new objects with :meth:`select`.

    Build with :meth:`from_indices`, :meth:`from_raw`, :meth:`from_polars` or
    :meth:`from_csr`; bad input raises ``ValueError`` naming the problem.
    """

    __slots__ = ("_matrix", "_user_vocab", "_item_vocab", "_timestamps", "_order", "_has_weights")

    def __init__(
        self,
        matrix: sp.csr_matrix,
        user_vocab: Vocabulary,
        item_vocab: Vocabulary,
        *,
        timestamps: np.ndarray | None = None,
        order: np.ndarray | None = None,
        has_weights: bool = False,
    ) -> None:
        # Private: constructors validate. Checks here are the invariants only.
        n_users, n_items = matrix.shape
        if len(user_vocab) != n_users or len(item_vocab) != n_items:
            raise ValueError(
                f"matrix shape {matrix.shape} does not match vocabularies "
                f"({len(user_vocab)} users, {len(item_vocab)} items)"
            )
        nnz = matrix.nnz
        for name, arr in (("timestamps", timestamps), ("order", order)):
            if arr is not None and len(arr) != nnz:
                raise ValueError(f"{name} has length {len(arr)}, expected nnz={nnz}")
        for a in (matrix.indptr, matrix.indices, matrix.data):
            _readonly(a)
        self._matrix = matrix
        self._user_vocab = user_vocab
        self._item_vocab = item_vocab
        self._timestamps = None if timestamps is None else _readonly(timestamps)
        self._order = _readonly(np.arange(nnz, dtype=np.int64) if order is None else order)
        self._has_weights = has_weights

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_indices(
        cls,
        user_idx: npt.ArrayLike,
        item_idx: npt.ArrayLike,
        *,
        n_users: int,
        n_items: int,
        weights: npt.ArrayLike | None = None,
        timestamps: npt.ArrayLike | None = None,
        user_vocab: Vocabulary | None = None,
        item_vocab: Vocabulary | None = None,
        dedupe: Dedupe = "error",
    ) -> Interactions:
        """From contiguous indices in ``[0, n_users)`` x ``[0, n_items)``.

        Vocabularies default to the identity (raw id == index).
        """
        u = _int_column(user_idx, "user")
        i = _int_column(item_idx, "item")
        return cls._build(
            u, i, n_users, n_items, weights, timestamps,
            user_vocab or Vocabulary.identity(n_users), item_vocab or Vocabulary.identity(n_items), dedupe,
        )

    @classmethod
    def from_raw(
        cls,
        user_ids: npt.ArrayLike,
        item_ids: npt.ArrayLike,
        *,
        weights: npt.ArrayLike | None = None,
        timestamps: npt.ArrayLike | None = None,
        user_vocab: Vocabulary | None = None,
        item_vocab: Vocabulary | None = None,
        dedupe: Dedupe = "error",
    ) -> Interactions:
        """From raw ids (ints or strings).

        Without a vocabulary, one is built from the sorted distinct ids seen. With one,
        every id must be in it (``ValueError`` naming the unknown ids otherwise), which
        keeps indices aligned across train/test built separately.
        """
        u_raw = _as_raw_array(user_ids)
        i_raw = _as_raw_array(item_ids)
        _check_lengths(user=len(u_raw), item=len(i_raw))
        u, uv = _encode(u_raw, user_vocab, "user id")
        i, iv = _encode(i_raw, item_vocab, "item id")
        return cls._build(u, i, len(uv), len(iv), weights, timestamps, uv, iv, dedupe)

    @classmethod
    def from_polars(
        cls,
        df: pl.DataFrame,
        *,
        user_col: str,
        item_col: str,
        weight_col: str | None = None,
        time_col: str | None = None,
        user_vocab: Vocabulary | None = None,
        item_vocab: Vocabulary | None = None,
        dedupe: Dedupe = "error",
    ) -> Interactions:
        """From a polars DataFrame with explicitly named columns (raw ids)."""
        cols = [c for c in (user_col, item_col, weight_col, time_col) if c is not None]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"columns {missing} not in DataFrame (has {df.columns})")
        for c in (user_col, item_col):
            n_null = df[c].null_count()
            if n_null:
                raise ValueError(f"column {c!r} has {n_null} null ids")
        return cls.from_raw(
            df[user_col].to_numpy(),
            df[item_col].to_numpy(),
            weights=None if weight_col is None else df[weight_col].cast(float).to_numpy(),
            timestamps=None if time_col is None else df[time_col].to_numpy(),
            user_vocab=user_vocab,
            item_vocab=item_vocab,
            dedupe=dedupe,
        )

    @classmethod
    def from_csr(
        cls,
        matrix: sp.spmatrix | sp.sparray,
        *,
        user_vocab: Vocabulary | None = None,
        item_vocab: Vocabulary | None = None,
    ) -> Interactions:
        """From a scipy sparse matrix; explicit zeros are refused, duplicates too."""
        coo = sp.coo_matrix(matrix)
        n_users, n_items = coo.shape
        if coo.nnz and (coo.data == 0).any():
            raise ValueError(f"{int((coo.data == 0).sum())} explicit zero entries in the matrix; eliminate_zeros() first")
        return cls.from_indices(
            coo.row, coo.col, n_users=n_users, n_items=n_items, weights=coo.data,
            user_vocab=user_vocab, item_vocab=item_vocab,
        )

    @classmethod
    def _build(
        cls,
        u: np.ndarray,
        i: np.ndarray,
        n_users: int,
        n_items: int,
        weights: npt.ArrayLike | None,
        timestamps: npt.ArrayLike | None,
        user_vocab: Vocabulary,
        item_vocab: Vocabulary,
        dedupe: Dedupe,
    ) -> Interactions:
        if dedupe not in ("error", "keep_first", "keep_last", "sum"):
            raise ValueError(f"dedupe must be 'error', 'keep_first', 'keep_last' or 'sum', got {dedupe!r}")
        if n_users < 0 or n_items < 0:
            raise ValueError(f"n_users and n_items must be >= 0, got {n_users}, {n_items}")
        w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        t = None if timestamps is None else _time_column(timestamps)
        _check_lengths(user=len(u), item=len(i), weights=None if w is None else len(w),
                       timestamps=None if t is None else len(t))
        if len(u) == 0:
            raise ValueError("no interactions: the input is empty")
        _check_range(u, n_users, "user")
        _check_range(i, n_items, "item")
        if w is not None:
            bad = ~np.isfinite(w)
            if bad.any():
                raise ValueError(f"{int(bad.sum())} NaN or infinite weights, e.g. at rows {_example_rows(bad)}")
        if t is not None and t.dtype.kind == "f":
            bad = np.isnan(t)
            if bad.any():
                raise ValueError(f"{int(bad.sum())} NaN timestamps, e.g. at rows {_example_rows(bad)}")

        pos = np.lexsort((np.arange(len(u)), i, u))  # by user, item, then input position
        us, is_ = u[pos], i[pos]
        dup = np.zeros(len(us), dtype=bool)
        dup[1:] = (us[1:] == us[:-1]) & (is_[1:] == is_[:-1])
        if dup.any():
            if dedupe == "error":
                first = int(np.flatnonzero(dup)[0])
                raise ValueError(
                    f"{int(dup.sum())} duplicate (user, item) pairs, e.g. input rows {pos[first - 1]} and "
                    f"{pos[first]}: (user {_py(user_vocab.raw[us[first]])!r}, item {_py(item_vocab.raw[is_[first]])!r}); "
                    "pass dedupe='keep_first', 'keep_last' or 'sum' to merge them"
                )
            group = np.cumsum(~dup) - 1  # group id per sorted row
            starts = np.flatnonzero(~dup)
            ends = np.append(starts[1:], len(us)) - 1
            if dedupe == "keep_first":
                keep = pos[starts]
            elif dedupe == "keep_last":
                keep = pos[ends]
            else:  # "sum"
                keep = pos[ends]
                if w is not None:
                    w_sum = np.bincount(group, weights=w[pos], minlength=len(starts))
                    w = w.copy()
                    w[keep] = w_sum
                if t is not None:
                    t_max = np.maximum.reduceat(t[pos], starts)
                    t = t.copy()
                    t[keep] = t_max
            pos = keep
            us, is_ = u[pos], i[pos]
        data = np.ones(len(pos), dtype=np.float32) if w is None else w[pos].astype(np.float32)
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(us, minlength=n_users), out=indptr[1:])
        matrix = sp.csr_matrix((data, is_.astype(np.int64), indptr), shape=(n_users, n_items))
        matrix.has_sorted_indices = True
        return cls(
            matrix, user_vocab, item_vocab,
            timestamps=None if t is None else t[pos],
            order=pos.astype(np.int64),
            has_weights=w is not None,
        )

    # ------------------------------------------------------------------ accessors
    @property
    def matrix(self) -> sp.csr_matrix:
        """The CSR matrix (read-only arrays). Rows = users, columns = items."""
        return self._matrix

    @property
    def n_users(self) -> int:
        return int(self._matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    @property
    def nnz(self) -> int:
        return int(self._matrix.nnz)

    def __len__(self) -> int:
        return self.nnz

    @property
    def indptr(self) -> np.ndarray:
        return self._matrix.indptr

    @property
    def indices(self) -> np.ndarray:
        return self._matrix.indices

    @property
    def weights(self) -> np.ndarray:
        """(nnz,) float32 weights; all ones when built without weights."""
        return self._matrix.data

    @property
    def has_weights(self) -> bool:
        return self._has_weights

    @property
    def timestamps(self) -> np.ndarray | None:
        """(nnz,) timestamps aligned with :attr:`indices`, or None."""
        return self._timestamps

    @property
    def order(self) -> np.ndarray:
        """(nnz,) position of each interaction in the input it was built from."""
        return self._order

    @property
    def user_vocab(self) -> Vocabulary:
        return self._user_vocab

    @property
    def item_vocab(self) -> Vocabulary:
        return self._item_vocab

    @property
    def user_counts(self) -> np.ndarray:
        """(n_users,) number of interactions per user."""
        return np.diff(self._matrix.indptr)

    @property
    def item_counts(self) -> np.ndarray:
        """(n_items,) number of interactions per item."""
        return np.bincount(self._matrix.indices, minlength=self.n_items)

    @property
    def rows(self) -> np.ndarray:
        """(nnz,) user index of each stored interaction."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.user_counts)

    def items_of(self, user: int) -> np.ndarray:
        """Sorted item indices of one user (by index)."""
        if not 0 <= user < self.n_users:
            raise IndexError(f"user index {user} out of range [0, {self.n_users})")
        return self._matrix.indices[self._matrix.indptr[user] : self._matrix.indptr[user + 1]]

    def __repr__(self) -> str:
        extras = "".join(
            f", {k}" for k, on in (("weights", self._has_weights), ("timestamps", self._timestamps is not None)) if on
        )
        return f"Interactions(n_users={self.n_users}, n_items={self.n_items}, nnz={self.nnz}{extras})"

    # ------------------------------------------------------------------ derived views
    def same_space(self, other: Interactions) -> bool:
        """True when both use the same user and item vocabularies (indices comparable)."""
        return self._user_vocab == other._user_vocab and self._item_vocab == other._item_vocab

    def select(self, mask: npt.ArrayLike) -> Interactions:
        """Keep the stored interactions where ``mask`` (nnz,) is true; same vocabularies."""
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.nnz,):
            raise ValueError(f"mask has shape {m.shape}, expected ({self.nnz},)")
        counts = np.bincount(self.rows[m], minlength=self.n_users)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        matrix = sp.csr_matrix(
            (self.weights[m].copy(), self.indices[m].copy(), indptr), shape=self.shape
        )
        matrix.has_sorted_indices = True
        return Interactions(
            matrix, self._user_vocab, self._item_vocab,
            timestamps=None if self._timestamps is None else self._timestamps[m].copy(),
            order=self._order[m].copy(),
            has_weights=self._has_weights,
        )

    def binarized(self) -> Interactions:
        """The same pairs with all weights set to 1."""
        matrix = sp.csr_matrix(
            (np.ones(self.nnz, dtype=np.float32), self.indices.copy(), self.indptr.copy()), shape=self.shape
        )
        matrix.has_sorted_indices = True
        return Interactions(matrix, self._user_vocab, self._item_vocab,
                            timestamps=self._timestamps, order=self._order, has_weights=False)

    def to_polars(self) -> pl.DataFrame:
        """Long format on raw ids: ``user_id``, ``item_id``, plus ``weight`` and
        ``timestamp`` when present."""
        import polars as pl

        cols: dict[str, np.ndarray] = {
            "user_id": self._user_vocab.raw[self.rows],
            "item_id": self._item_vocab.raw[self.indices],
        }
        if self._has_weights:
            cols["weight"] = self.weights
        if self._timestamps is not None:
            cols["timestamp"] = self._timestamps
        return pl.DataFrame({k: (v.tolist() if getattr(v, "dtype", None) == object else v) for k, v in cols.items()})

    def to_torch(self, device: torch.device | str = "cpu") -> TorchCSR:
        """Index tensors for samplers and evaluation on ``device``."""
        import torch

        return TorchCSR(
            indptr=torch.as_tensor(np.array(self.indptr, dtype=np.int64), device=device),
            indices=torch.as_tensor(np.array(self.indices, dtype=np.int64), device=device),
            weights=torch.as_tensor(np.array(self.weights, dtype=np.float32), device=device),
            n_users=self.n_users,
            n_items=self.n_items,
        )


# ---------------------------------------------------------------------- helpers
def _check_lengths(**lengths: int | None) -> None:
    given = {k: v for k, v in lengths.items() if v is not None}
    if len(set(given.values())) > 1:
        desc = ", ".join(f"{k} {v}" for k, v in given.items())
        raise ValueError(f"mismatched lengths: {desc}")


def _int_column(values: npt.ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} indices must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError(f"{int(np.isnan(arr).sum())} NaN {what} indices")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{what} indices must be integers, got non-integral floats")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{what} indices must be integers, got dtype {arr.dtype}; use from_raw() for raw ids")
    return arr.astype(np.int64)


def _time_column(values: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(values).ravel()
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]").astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    raise ValueError(f"timestamps must be numeric or datetime64, got dtype {arr.dtype}")


def _check_range(idx: np.ndarray, n: int, what: str) -> None:
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{int(bad.sum())} {what} indices out of range [0, {n}), e.g. row {first}: {what} {int(idx[first])}"
        )


def _encode(raw: np.ndarray, vocab: Vocabulary | None, what: str) -> tuple[np.ndarray, Vocabulary]:
    if vocab is None:
        if raw.dtype == object:
            kinds = {type(x) for x in raw.tolist()}
            if len(kinds) > 1:
                raise ValueError(f"{what}s mix types {sorted(k.__name__ for k in kinds)}; use one type")
        uniq, inv = np.unique(raw, return_inverse=True)
        return inv.astype(np.int64).ravel(), Vocabulary(uniq)
    try:
        return vocab.index(raw, what=what), vocab
    except KeyError as e:
        raise ValueError(e.args[0]) from None
