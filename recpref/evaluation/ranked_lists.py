"""Metrics on given ranked lists, e.g. those of an LLM recommender (SPRec): one test prompt per
row, its generated list of catalogue items (beam search, or nearest-neighbour grounding of the
generated titles), one held-out target item per row.

``ranked`` (N, K_max) int item ids, best first; ``-1`` marks an empty slot (the list has fewer
than K_max items). A row of only ``-1`` is an *unparseable* generation: it is kept (a miss in
every accuracy metric, still counted in every denominator) and reported in ``n_unparseable``.
An item's rank is its column (0-based), so slots are taken as given. Definitions, for each
cut-off ``K`` (``top-K slots`` = the first K columns of every row, N*K slots in all):

- ``hit@K``   = mean over rows of 1 if the target is in the row's top K (HR@K)
- ``ndcg@K``  = mean over rows of 1/log2(rank + 2) when the target is at 0-based ``rank < K``,
  else 0 (one relevant item per row; `recpref.evaluation.metrics.hit` / ``ndcg`` with n_rel = 1)
- ``div_ratio@K`` = #distinct items in the top-K slots of all rows / (N*K) (SPRec's DivRatio;
  empty slots hold no item but stay in the denominator)
- ``or_ratio@K``  = #top-K slots holding one of the 3 items recommended most often in the top-K
  slots / (N*K) (over-recommendation ratio; all items when fewer than 3 were recommended)
- ``popularity@K`` = mean of ``popularity[item]`` over the filled top-K slots (NaN if none is
  filled); only with ``popularity``
- genre fairness, only with ``item_genres`` and ``history_items``: every item of genres G adds
  1/|G| to each of its genres (items without a genre add nothing). ``GP`` = this distribution
  summed over the filled top-K slots, ``GH`` = summed over the history items of every row (a
  user with several rows counts once per row), each normalised to sum 1 over the ``n_genres``
  genres. ``mgu@K`` = mean over all ``n_genres`` genres of ``|GP_g - GH_g|``, ``dgu@K`` =
  ``max_g (GP_g - GH_g) - min_g (GP_g - GH_g)``; both NaN when no top-K slot holds an item
  with a genre.

Vectorised over rows: O(N*K_max log K_max) plus one pass over the genre and history lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recpref.evaluation import metrics as _m
from recpref.evaluation.metrics import check_ks

__all__ = ["RANKED_LIST_METRICS", "RankedListResult", "evaluate_ranked_lists"]

IdLists = Sequence[Sequence[int] | np.ndarray]
"""Ragged integer id lists: one list (or 1-D integer array) per item or per row."""

RANKED_LIST_METRICS: tuple[str, ...] = ("hit", "ndcg", "div_ratio", "or_ratio", "mgu", "dgu", "popularity")


@dataclass(frozen=True)
class RankedListResult:
    """Aggregate metrics of :func:`evaluate_ranked_lists`.

    ``metrics`` maps ``"<metric>@<K>"`` to a float, ordered metric by metric, then by ``k``.
    ``n_rows`` rows (test prompts) were evaluated; ``n_unparseable`` of them had no item at all
    (counted as misses, kept in every denominator).
    """

    metrics: dict[str, float]
    k: tuple[int, ...]
    n_rows: int
    n_unparseable: int

    def __getitem__(self, name: str) -> float:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}; computed: {sorted(self.metrics)}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics), "k": list(self.k), "n_rows": self.n_rows,
                "n_unparseable": self.n_unparseable}

    def table(self) -> str:
        """Metrics as a text table: one line per metric, one column per cut-off."""
        names = list(dict.fromkeys(key.rsplit("@", 1)[0] for key in self.metrics))
        width = max([len("metric"), *map(len, names)])
        lines = [f"{'metric':<{width}}" + "".join(f"{'@' + str(kk):>10}" for kk in self.k)]
        for name in names:
            cells = (self.metrics.get(f"{name}@{kk}", float("nan")) for kk in self.k)
            lines.append(f"{name:<{width}}" + "".join(f"{v:>10.4f}" for v in cells))
        lines.append(f"rows={self.n_rows}, unparseable={self.n_unparseable}")
        return "\n".join(lines)

    def __str__(self) -> str:
        body = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items())
        return f"RankedListResult({body}; rows={self.n_rows}, unparseable={self.n_unparseable})"


def _int_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.size == 0 and arr.dtype.kind == "f":  # an empty Python list
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers; got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _flatten(lists: Iterable[Iterable[Any]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Ragged lists -> (lengths, concatenated int64 values)."""
    try:
        rows = [r if isinstance(r, np.ndarray) else list(r) for r in lists]
    except TypeError:
        raise ValueError(f"{name} must be a sequence of sequences of integer ids") from None
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = _int_array(np.asarray(list(itertools.chain.from_iterable(rows))), name)
    if flat.ndim != 1:
        raise ValueError(f"{name} must be a sequence of sequences of integer ids (one flat list per entry)")
    return lengths, flat


def _check_ranked(ranked: npt.ArrayLike, n_items: int) -> np.ndarray:
    items = _int_array(ranked, "ranked")
    if items.ndim != 2:
        raise ValueError(f"ranked must be 2-D (N, K_max) item ids; got shape {items.shape}")
    if items.shape[0] == 0:
        raise ValueError("ranked has no row; give at least one ranked list")
    if items.shape[1] == 0:
        raise ValueError("ranked has no column (K_max = 0); give at least one slot per row")
    bad = (items < -1) | (items >= n_items)
    if bad.any():
        r, c = (int(v[0]) for v in np.nonzero(bad))
        raise ValueError(f"ranked holds item id {int(items[r, c])} (row {r}, slot {c}); item ids must be in "
                         f"[0, n_items={n_items}) or -1 for an empty slot")
    s = np.sort(items, axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        r, c = (int(v[0]) for v in np.nonzero(dup))
        raise ValueError(f"ranked row {r} repeats item {int(s[r, c + 1])}; a ranked list may hold each item once")
    return items


def _check_targets(targets: npt.ArrayLike, n_rows: int, n_items: int) -> np.ndarray:
    t = _int_array(targets, "targets")
    if t.ndim != 1 or t.size != n_rows:
        raise ValueError(f"targets must be 1-D with one item per row of ranked ({n_rows}); got shape {t.shape}")
    bad = (t < 0) | (t >= n_items)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"targets holds item id {int(t[r])} (row {r}); target ids must be in [0, n_items={n_items})")
    return t


def _check_popularity(popularity: npt.ArrayLike, n_items: int) -> np.ndarray:
    p = np.asarray(popularity)
    if p.dtype.kind not in "iuf":
        raise ValueError(f"popularity must be numeric; got dtype {p.dtype}")
    p = p.astype(np.float64)
    if p.shape != (n_items,):
        raise ValueError(f"popularity must have shape (n_items,) = ({n_items},); got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("popularity must be finite")
    return p


def _genre_weights(item_genres: IdLists, n_items: int,
                   n_genres: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """-> (item of each (item, genre) pair, its genre, n_genres); each pair weighs 1/|G(item)|."""
    if isinstance(item_genres, (str, bytes)) or len(item_genres) != n_items:
        raise ValueError(f"item_genres must hold one list of genre ids per item ({n_items}); got "
                         f"{len(item_genres)} entries")
    lengths, genres = _flatten(item_genres, "item_genres")
    items = np.repeat(np.arange(n_items, dtype=np.int64), lengths)
    if genres.size and int(genres.min()) < 0:
        raise ValueError(f"item_genres holds genre id {int(genres.min())}; genre ids must be >= 0")
    if n_genres is None:
        n_genres = int(genres.max()) + 1 if genres.size else 0
    elif genres.size and int(genres.max()) >= n_genres:
        raise ValueError(f"item_genres holds genre id {int(genres.max())}; genre ids must be in "
                         f"[0, n_genres={n_genres})")
    key = np.sort(items * max(n_genres, 1) + genres)
    dup = key[1:] == key[:-1]
    if dup.any():
        k0 = int(key[1:][dup][0])
        raise ValueError(f"item_genres lists genre {k0 % n_genres} twice for item {k0 // n_genres}")
    return items, genres, n_genres


def _genre_mass(item_counts: np.ndarray, pair_items: np.ndarray, pair_genres: np.ndarray, n_genres: int,
                inv_len: np.ndarray) -> np.ndarray:
    """Genre distribution (unnormalised) of items occurring ``item_counts`` times each."""
    w = item_counts[pair_items] * inv_len[pair_items]
    return np.bincount(pair_genres, weights=w, minlength=n_genres).astype(np.float64)


def evaluate_ranked_lists(
    ranked: npt.ArrayLike,
    targets: npt.ArrayLike,
    *,
    n_items: int,
    k: int | Sequence[int] = (1, 5, 10),
    item_genres: IdLists | None = None,
    n_genres: int | None = None,
    history_items: IdLists | None = None,
    popularity: npt.ArrayLike | None = None,
) -> RankedListResult:
    """HR@K, NDCG@K, DivRatio@K, ORRatio@K and, when their inputs are given, MGU@K / DGU@K
    (genre fairness) and popularity@K of given ranked lists; see the module docstring for every
    definition.

    ``ranked`` (N, K_max) int item ids, best first, ``-1`` = empty slot, no item twice in a row;
    ``targets`` (N,) the held-out item of each row; ``n_items`` the catalogue size (ids in
    ``[0, n_items)``); ``k`` cut-offs, each <= K_max. ``item_genres`` (one list of genre ids in
    ``[0, n_genres)`` per item) and ``history_items`` (one list of item ids per row: the history
    of that row's user) go together; ``n_genres`` defaults to the largest genre id + 1.
    ``popularity`` (n_items,) e.g. the training interaction count of each item.

    Example:
        >>> r = evaluate_ranked_lists([[2, 0], [-1, -1]], [0, 1], n_items=3, k=(1, 2))
        >>> r["hit@2"], r["div_ratio@2"], r.n_unparseable
        (0.5, 0.5, 1)
    """
    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items <= 0:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}")
    n_items = int(n_items)
    ks = tuple(dict.fromkeys(check_ks(k)))
    items = _check_ranked(ranked, n_items)
    n_rows, k_max = items.shape
    if max(ks) > k_max:
        raise ValueError(f"k={max(ks)} exceeds the number of slots per row of ranked (K_max = {k_max})")
    tgt = _check_targets(targets, n_rows, n_items)
    pop = None if popularity is None else _check_popularity(popularity, n_items)

    if n_genres is not None and (isinstance(n_genres, bool) or not isinstance(n_genres, (int, np.integer))
                                 or n_genres <= 0):
        raise ValueError(f"n_genres must be a positive integer, got {n_genres!r}")
    if (item_genres is None) != (history_items is None):
        given, missing = ("item_genres", "history_items") if history_items is None else ("history_items",
                                                                                         "item_genres")
        raise ValueError(f"{given} was given without {missing}; the genre metrics (mgu, dgu) need both")
    if n_genres is not None and item_genres is None:
        raise ValueError("n_genres was given without item_genres and history_items")
    gh: np.ndarray | None = None
    pair_items = pair_genres = inv_len = np.empty(0, dtype=np.int64)
    n_g = 0
    if item_genres is not None and history_items is not None:
        pair_items, pair_genres, n_g = _genre_weights(item_genres, n_items, n_genres)
        n_per_item = np.bincount(pair_items, minlength=n_items)
        inv_len = np.divide(1.0, n_per_item, out=np.zeros(n_items), where=n_per_item > 0)
        if isinstance(history_items, (str, bytes)) or len(history_items) != n_rows:
            raise ValueError(f"history_items must hold one list of item ids per row of ranked ({n_rows}); got "
                             f"{len(history_items)} entries")
        _, hist = _flatten(history_items, "history_items")
        bad = (hist < 0) | (hist >= n_items)
        if bad.any():
            raise ValueError(f"history_items holds item id {int(hist[bad][0])}; item ids must be in "
                             f"[0, n_items={n_items})")
        gh_mass = _genre_mass(np.bincount(hist, minlength=n_items).astype(np.float64), pair_items, pair_genres,
                              n_g, inv_len)
        if gh_mass.sum() <= 0:
            raise ValueError("history_items hold no item with a genre; the history genre distribution GH is "
                             "undefined")
        gh = gh_mass / gh_mass.sum()

    valid = items >= 0
    hits = items == tgt[:, None]  # -1 never equals a target
    n_rel = np.ones(n_rows, dtype=np.int64)
    per: dict[str, dict[int, float]] = {name: {} for name in RANKED_LIST_METRICS}
    for kk in ks:
        per["hit"][kk] = float(_m.hit(hits, n_rel, kk).mean())
        per["ndcg"][kk] = float(_m.ndcg(hits, n_rel, kk).mean())
        top = items[:, :kk][valid[:, :kk]]
        counts = np.bincount(top, minlength=n_items).astype(np.float64)
        slots = float(n_rows * kk)
        per["div_ratio"][kk] = float(np.count_nonzero(counts)) / slots
        top3 = np.partition(counts, n_items - 3)[-3:] if n_items > 3 else counts
        per["or_ratio"][kk] = float(top3.sum()) / slots
        if gh is not None:
            gp_mass = _genre_mass(counts, pair_items, pair_genres, n_g, inv_len)
            if gp_mass.sum() > 0:
                diff = gp_mass / gp_mass.sum() - gh
                per["mgu"][kk] = float(np.abs(diff).mean())
                per["dgu"][kk] = float(diff.max() - diff.min())
            else:
                per["mgu"][kk] = per["dgu"][kk] = float("nan")
        if pop is not None:
            per["popularity"][kk] = float(pop[top].mean()) if top.size else float("nan")
    values = {f"{name}@{kk}": v for name in RANKED_LIST_METRICS for kk, v in per[name].items()}
    return RankedListResult(metrics=values, k=ks, n_rows=n_rows,
                            n_unparseable=int(np.count_nonzero(~valid.any(axis=1))))
