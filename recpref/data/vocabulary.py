"""Bidirectional mapping between raw ids (int or str) and contiguous indices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Vocabulary"]


def _as_raw_array(raw_ids: Iterable[Any] | npt.ArrayLike) -> np.ndarray:
    if isinstance(raw_ids, np.ndarray):
        arr = raw_ids
    elif isinstance(raw_ids, (str, bytes)) or not isinstance(raw_ids, Iterable):
        raise ValueError(f"raw ids must be a one-dimensional sequence, got {type(raw_ids).__name__}")
    else:
        arr = np.asarray(list(raw_ids))
    if arr.ndim != 1:
        raise ValueError(f"raw ids must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind in "UO":
        return arr.astype(object)
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError("raw ids contain NaN")
        if not np.all(arr == np.round(arr)):
            raise ValueError("raw ids are non-integral floats; pass ints or strings")
        return arr.astype(np.int64)
    raise ValueError(f"raw ids must be integers or strings, got dtype {arr.dtype}")


class Vocabulary:
    """Raw id <-> contiguous index, in a fixed order.

    ``raw[i]`` is the raw id of index ``i``. Raw ids are all ints (int64) or all strings.
    Build one with :meth:`from_ids` (sorted unique ids) or pass the order explicitly.
    """

    __slots__ = ("_raw", "_lookup", "_identity")

    def __init__(self, raw: Sequence[Any] | np.ndarray) -> None:
        arr = _as_raw_array(raw)
        lookup: dict[Any, int] = {}
        for i, r in enumerate(arr.tolist()):
            if r in lookup:
                raise ValueError(f"vocabulary has a duplicate raw id {r!r} (at indices {lookup[r]} and {i})")
            lookup[r] = i
        arr.setflags(write=False)
        self._raw = arr
        self._lookup = lookup
        n = len(arr)
        self._identity = arr.dtype == np.int64 and (
            n == 0 or (int(arr[0]) == 0 and int(arr[-1]) == n - 1 and bool(np.all(np.diff(arr) == 1)))
        )

    @classmethod
    def from_ids(cls, raw_ids: Iterable[Any] | npt.ArrayLike) -> Vocabulary:
        """Vocabulary of the sorted distinct values of ``raw_ids``."""
        arr = _as_raw_array(raw_ids)
        if arr.dtype == object:
            kinds = {type(x) for x in arr.tolist()}
            if len(kinds) > 1:
                raise ValueError(f"raw ids mix types {sorted(k.__name__ for k in kinds)}; use one type")
        return cls(np.unique(arr))

    @classmethod
    def identity(cls, n: int) -> Vocabulary:
        """Raw id ``i`` is index ``i`` for ``i`` in ``range(n)``."""
        return cls(np.arange(n, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and len(self) == len(other) and bool(
            np.array_equal(self._raw, other._raw)
        )

    def __hash__(self) -> int:
        return hash((len(self), tuple(self._raw[:8].tolist())))

    def __repr__(self) -> str:
        head = ", ".join(repr(x) for x in self._raw[:3].tolist())
        return f"Vocabulary(n={len(self)}, raw=[{head}{', ...' if len(self) > 3 else ''}])"

    @property
    def raw(self) -> np.ndarray:
        """Read-only array of raw ids, indexed by contiguous index."""
        return self._raw

    @property
    def is_str(self) -> bool:
        return self._raw.dtype == object

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self._lookup

    def index(self, raw_ids: Iterable[Any] | npt.ArrayLike, *, what: str = "id") -> np.ndarray:
        """Map raw ids to indices (int64). Unknown ids raise ``KeyError`` naming them."""
        arr = _as_raw_array(raw_ids) if not np.isscalar(raw_ids) else _as_raw_array([raw_ids])
        if arr.size == 0:
            return np.empty(0, dtype=np.int64)
        if self._identity and arr.dtype == np.int64:
            bad = (arr < 0) | (arr >= len(self))
            if bad.any():
                raise KeyError(_unknown_message(what, arr[bad]))
            return arr.copy()
        out = np.fromiter((self._lookup.get(x, -1) for x in arr.tolist()), dtype=np.int64, count=arr.size)
        if (out < 0).any():
            raise KeyError(_unknown_message(what, arr[out < 0]))
        return out

    def to_raw(self, indices: npt.ArrayLike) -> np.ndarray:
        """Map indices back to raw ids."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"index out of range for a vocabulary of {len(self)} ids")
        return self._raw[idx]


def _unknown_message(what: str, unknown: np.ndarray) -> str:
    uniq = list(dict.fromkeys(unknown.tolist()))
    shown = ", ".join(repr(x) for x in uniq[:5])
    return f"{len(uniq)} unknown {what}(s), e.g. {shown}"
