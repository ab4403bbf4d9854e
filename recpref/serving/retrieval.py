"""Multi-interest retrieval and ComiRec's controllable aggregation (methods.md sections 3.1, 3.3).

Serving a multi-interest model (MIND, ComiRec) in three steps, each a function here:

1. :func:`search_interests`: every *active* interest ``v_k`` of a user retrieves its own top-``n``
   items by inner product ``e_i . v_k``: exact (one ``(B, n_items)`` product per interest, canonical
   top-k: higher score first, lower item index on ties) or through an approximate index
   (:class:`FaissIndex`). An inactive interest (MIND's dynamic K) retrieves nothing.
2. :func:`retrieve`: the ``K * n`` candidates of each user are de-duplicated and scored by
   ``f(u, i) = max_k e_i . v_k`` over the user's active interests (the paper's definition, the same
   score as `SequenceEncoder.score_all`; recomputed exactly for every candidate, also when an ANN
   index found them). With exact search the top-``n`` of the candidates by ``f`` is exactly the
   top-``n`` of ``score_all`` (an item of that top-``n`` is in the top-``n`` of its best interest).
3. :func:`aggregate`: ComiRec's controllable aggregation, the greedy maximiser of
   ``Q(u, S) = sum_{i in S} f(u, i) + lam * sum_{{i, j} in S} g(i, j)`` with
   ``g(i, j) = 1[cate(i) != cate(j)]`` over unordered pairs: ``n`` rounds, each adding the
   candidate maximising ``f(u, i) - lam * (#already picked items of i's category)`` (the same
   argmax as ``f(u, i) + lam * sum_{k in S} g(i, k)``). ``lam = 0`` is the plain top-``n`` by ``f``.

Empty slots: item ``-1`` with score ``-inf`` (a user with fewer candidates than slots, or an
inactive interest). Everything is vectorised over users; :func:`aggregate` loops over its ``n``
rounds only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from recpref.models.sequential import Interests

__all__ = [
    "Candidates",
    "FaissIndex",
    "IndexName",
    "ItemIndex",
    "aggregate",
    "merge_lists",
    "retrieve",
    "search_interests",
]

NEG_INF = float("-inf")

IndexName = Literal["exact", "faiss", "faiss-flat"]
"""``exact``: torch top-k (the default, ``index=None``); ``faiss``: a :class:`FaissIndex` HNSW graph
built for the call; ``faiss-flat``: a :class:`FaissIndex` brute-force ``IndexFlatIP`` (exact)."""


class Candidates(NamedTuple):
    """items (B, M) int64, -1 = empty slot; scores (B, M) float, -inf at empty slots."""

    items: Tensor
    scores: Tensor


@runtime_checkable
class ItemIndex(Protocol):
    """An inner-product index over ``n_items`` item vectors of size ``dim``."""

    n_items: int
    dim: int

    def search(self, queries: Tensor, n: int) -> tuple[Tensor, Tensor]:
        """queries (Q, dim) -> (item ids (Q, n) int64, -1 where none; scores (Q, n), -inf where none)."""
        ...


# ---------------------------------------------------------------------------------------- faiss
def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ImportError("index='faiss' needs the faiss package: pip install faiss-cpu (or faiss-gpu); "
                          "index=None searches exactly with torch") from exc
    return faiss


FaissKind = Literal["hnsw", "flat"]


class FaissIndex:
    """Item vectors (n_items, d) in a faiss inner-product index; faiss is imported here, lazily.

    ``kind="hnsw"``: ``IndexHNSWFlat(d, m, METRIC_INNER_PRODUCT)``, approximate, built with
    ``ef_construction`` and searched with ``ef_search`` (raised to ``n`` when smaller; larger =
    better recall, slower). ``kind="flat"``: ``IndexFlatIP``, exact brute force (a check of the
    faiss path). Vectors are copied as float32. An HNSW graph built by several threads can differ
    from one built by one thread (faiss' insertion order): set ``faiss.omp_set_num_threads`` in
    the entry point when the graph must be reproducible.
    """

    def __init__(self, item_emb: Tensor, kind: FaissKind = "hnsw", *, m: int = 32, ef_construction: int = 200,
                 ef_search: int = 128) -> None:
        _check_item_emb(item_emb)
        if kind not in ("hnsw", "flat"):
            raise ValueError(f"kind must be 'hnsw' or 'flat'; got {kind!r}")
        for name, value in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            _check_positive_int(name, value)
        faiss = _import_faiss()
        self.n_items, self.dim = int(item_emb.shape[0]), int(item_emb.shape[1])
        self.kind: FaissKind = kind
        self.ef_search = int(ef_search)
        if kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(self.dim, int(m), faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = int(ef_construction)
        else:
            self.index = faiss.IndexFlatIP(self.dim)
        self.index.add(_as_float32(item_emb))

    def search(self, queries: Tensor, n: int) -> tuple[Tensor, Tensor]:
        """queries (Q, d) -> (ids (Q, n) int64 on the queries' device, -1 where none; scores (Q, n)
        float32, -inf where none). Ties and the order among equal scores are faiss'."""
        if queries.dim() != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (Q, {self.dim}); got {tuple(queries.shape)}")
        _check_n(n, self.n_items)
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.ef_search, int(n))
        dist, ids = self.index.search(_as_float32(queries), int(n))
        ids_t = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)).to(queries.device)
        scores = torch.from_numpy(np.ascontiguousarray(dist)).to(queries.device).masked_fill(ids_t < 0, NEG_INF)
        return ids_t, scores


def _as_float32(x: Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())


_INDEX_BUILDERS: dict[str, Callable[[Tensor], ItemIndex]] = {
    "faiss": lambda emb: FaissIndex(emb, "hnsw"),
    "faiss-flat": lambda emb: FaissIndex(emb, "flat"),
}


def _resolve_index(index: IndexName | ItemIndex | None, item_emb: Tensor) -> ItemIndex | None:
    """None (exact torch search) or an `ItemIndex` over ``item_emb``."""
    if index is None or (isinstance(index, str) and index == "exact"):
        return None
    if isinstance(index, str):
        builder = _INDEX_BUILDERS.get(index)
        if builder is None:
            raise ValueError(f"index must be None, one of {['exact', *_INDEX_BUILDERS]} or an ItemIndex "
                             f"(e.g. FaissIndex(item_emb)); got {index!r}")
        return builder(item_emb)
    if not isinstance(index, ItemIndex):
        raise TypeError("index must be None, a name or an ItemIndex with .search(queries, n); got "
                        f"{type(index).__name__}")
    if (index.n_items, index.dim) != tuple(item_emb.shape):
        raise ValueError(f"index holds {index.n_items} items of dim {index.dim} but item_emb has shape "
                         f"{tuple(item_emb.shape)}; build the index from these item embeddings")
    return index


# ---------------------------------------------------------------------------------------- checks
def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def _check_n(n: Any, limit: int, what: str = "the number of items") -> None:
    _check_positive_int("n", n)
    if n > limit:
        raise ValueError(f"n = {n} exceeds {what} ({limit})")


def _check_item_emb(item_emb: Any) -> None:
    if not isinstance(item_emb, Tensor) or item_emb.dim() != 2 or not item_emb.is_floating_point():
        got = f"{item_emb.dtype} {tuple(item_emb.shape)}" if isinstance(item_emb, Tensor) else type(item_emb).__name__
        raise ValueError(f"item_emb must be a 2-D float tensor (n_items, d); got {got}")
    if item_emb.shape[0] < 1:
        raise ValueError("item_emb has no rows (n_items = 0)")


def _check_interests(interests: Any, dim: int) -> tuple[Tensor, Tensor]:
    if not isinstance(interests, tuple) or len(interests) != 2:
        raise TypeError(f"interests must be Interests(vectors (B, K, d), mask (B, K)); got {type(interests).__name__}")
    vectors, mask = interests
    if not isinstance(vectors, Tensor) or vectors.dim() != 3 or not vectors.is_floating_point():
        got = f"{vectors.dtype} {tuple(vectors.shape)}" if isinstance(vectors, Tensor) else type(vectors).__name__
        raise ValueError(f"interests.vectors must be a float tensor (B, K, d); got {got}")
    if vectors.shape[2] != dim:
        raise ValueError(f"interests.vectors have d = {vectors.shape[2]} but item_emb has d = {dim}")
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != vectors.shape[:2]:
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"interests.mask must be a bool tensor of shape {tuple(vectors.shape[:2])} (B, K); got {got}")
    return vectors, mask


def _check_exclude(exclude: Any, b: int) -> Tensor | None:
    if exclude is None:
        return None
    if not isinstance(exclude, Tensor) or exclude.dtype != torch.int64 or exclude.dim() != 2 or exclude.shape[0] != b:
        got = f"{exclude.dtype} {tuple(exclude.shape)}" if isinstance(exclude, Tensor) else type(exclude).__name__
        raise ValueError(f"exclude must be an int64 tensor (B, L) with B = {b} (item ids, -1 = none); got {got}")
    return exclude


# ---------------------------------------------------------------------------------------- search
def _exact_search(vectors: Tensor, mask: Tensor, item_emb: Tensor, n: int,
                  exclude: Tensor | None) -> tuple[Tensor, Tensor]:
    from recpref.evaluation.ranking import canonical_topk

    b, k, _ = vectors.shape
    items = torch.full((b, k, n), -1, dtype=torch.int64, device=vectors.device)
    scores = torch.full((b, k, n), NEG_INF, dtype=vectors.dtype, device=vectors.device)
    excl_rows = excl_cols = None
    if exclude is not None:
        keep = exclude >= 0
        excl_rows = torch.arange(b, device=exclude.device).unsqueeze(1).expand_as(exclude)[keep]
        excl_cols = exclude[keep]
    for j in range(k):  # K is small; every user at once per interest
        s = vectors[:, j] @ item_emb.T  # (B, n_items)
        if excl_rows is not None and excl_cols is not None:
            s[excl_rows, excl_cols] = NEG_INF
        top = canonical_topk(s, n)
        top_s = s.gather(1, top)
        ok = mask[:, j : j + 1] & (top_s > NEG_INF)
        items[:, j] = top.masked_fill(~ok, -1)
        scores[:, j] = top_s.masked_fill(~ok, NEG_INF)
    return items, scores


def _index_search(vectors: Tensor, mask: Tensor, index: ItemIndex, n: int,
                  exclude: Tensor | None) -> tuple[Tensor, Tensor]:
    b, k, d = vectors.shape
    items = torch.full((b, k, n), -1, dtype=torch.int64, device=vectors.device)
    scores = torch.full((b, k, n), NEG_INF, dtype=vectors.dtype, device=vectors.device)
    rows = mask.reshape(-1).nonzero().squeeze(1)  # only the active interests are searched
    if rows.numel() == 0:
        return items, scores
    n_excl = 0 if exclude is None else int((exclude >= 0).sum(1).max())
    wide = min(n + n_excl, index.n_items)  # room to drop the excluded items afterwards
    ids, sc = index.search(vectors.reshape(-1, d)[rows], wide)
    ids, sc = ids.to(vectors.device), sc.to(device=vectors.device, dtype=vectors.dtype)
    bad = ids < 0
    if exclude is not None and n_excl:
        excl = exclude.unsqueeze(1).expand(b, k, exclude.shape[1]).reshape(b * k, -1)[rows]  # (Q, L)
        bad |= (ids.unsqueeze(-1) == excl.unsqueeze(1)).any(-1)
    # keep each row's first n good results, in the index's order
    order = torch.argsort(bad.to(torch.int8), dim=1, stable=True)[:, :n]
    ids, sc, bad = ids.gather(1, order), sc.gather(1, order), bad.gather(1, order)
    items.view(b * k, n)[rows] = ids.masked_fill(bad, -1)
    scores.view(b * k, n)[rows] = sc.masked_fill(bad, NEG_INF)
    return items, scores


def search_interests(interests: Interests, item_emb: Tensor, n: int, *, index: IndexName | ItemIndex | None = None,
                     exclude: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Each interest's own top-``n`` items by inner product.

    ``interests``: vectors (B, K, d), mask (B, K) bool (True = active); ``item_emb`` (n_items, d),
    the real items only (no padding row). ``exclude`` (B, L) int64 item ids per user that no list
    may hold (e.g. the history; -1 = no item). Returns items (B, K, n) int64 and their scores
    ``e_i . v_k`` (B, K, n), ordered per list by score (exact: ties to the lower item index);
    an inactive interest's list, and slots an index could not fill, hold -1 / -inf.
    ``index``: None or ``"exact"`` (torch), ``"faiss"`` (HNSW built for this call), ``"faiss-flat"``
    or a prebuilt `ItemIndex` such as :class:`FaissIndex` over the same ``item_emb``.
    """
    _check_item_emb(item_emb)
    vectors, mask = _check_interests(interests, item_emb.shape[1])
    _check_n(n, item_emb.shape[0])
    excl = _check_exclude(exclude, vectors.shape[0])
    if excl is not None and excl.numel() and int(excl.max()) >= item_emb.shape[0]:
        raise ValueError(f"exclude holds item ids >= n_items = {item_emb.shape[0]}")
    resolved = _resolve_index(index, item_emb)
    with torch.no_grad():
        vectors = vectors.detach().to(item_emb.dtype)
        if resolved is None:
            return _exact_search(vectors, mask, item_emb.detach(), int(n), excl)
        return _index_search(vectors, mask, resolved, int(n), excl)


def _union(vectors: Tensor, mask: Tensor, item_emb: Tensor, items: Tensor) -> Candidates:
    """items (B, M) with -1 and duplicates -> the distinct items of each row scored by
    f = max over active interests, ordered by (f desc, id asc), empty slots last."""
    if items.numel() and int(items.max()) >= item_emb.shape[0]:
        raise ValueError(f"lists hold item ids >= n_items = {item_emb.shape[0]}")
    ids, _ = torch.sort(items, dim=1)  # duplicates become neighbours; -1 first
    dup = torch.zeros_like(ids, dtype=torch.bool)
    dup[:, 1:] = ids[:, 1:] == ids[:, :-1]
    ids = ids.masked_fill(dup, -1)
    valid = ids >= 0
    e = item_emb[ids.clamp(min=0)]  # (B, M, d)
    f = torch.einsum("bkd,bmd->bkm", vectors, e).masked_fill(~mask.unsqueeze(-1), NEG_INF).amax(1)
    f = f.masked_fill(~valid, NEG_INF)
    # canonical order: ids are ascending already, so a stable sort by score breaks ties by id
    f, order = torch.sort(f, dim=1, descending=True, stable=True)
    ids = ids.gather(1, order)
    return Candidates(ids.masked_fill(f == NEG_INF, -1), f)


def retrieve(interests: Interests, item_emb: Tensor, n: int, *, index: IndexName | ItemIndex | None = None,
             exclude: Tensor | None = None) -> Candidates:
    """Multi-interest retrieval: every active interest's top-``n`` (:func:`search_interests`), then
    per user the distinct candidates scored by ``f(u, i) = max_k e_i . v_k`` over the active
    interests. Returns `Candidates` items (B, K * n) int64 and scores (B, K * n), ordered by ``f``
    (ties: lower item index first); duplicates and empty slots leave -1 / -inf at the end of the
    row. Vectorised over users (a loop over the K interests only).

    Example:
        >>> import torch
        >>> from recpref.models import Interests
        >>> emb = torch.eye(3)
        >>> v = torch.tensor([[[1.0, 0.5, 0.0], [0.0, 0.6, 1.0]]])
        >>> retrieve(Interests(v, torch.ones(1, 2, dtype=torch.bool)), emb, 1).items.tolist()
        [[0, 2]]
    """
    lists, _ = search_interests(interests, item_emb, n, index=index, exclude=exclude)
    return merge_lists(interests, item_emb, lists)


def merge_lists(interests: Interests, item_emb: Tensor, lists: Tensor) -> Candidates:
    """The second half of :func:`retrieve`: lists (B, K, n) or (B, M) int64 item ids (-1 = empty;
    e.g. from :func:`search_interests`) -> `Candidates` (B, M) with M = K * n: each user's
    distinct items scored by ``f(u, i) = max_k e_i . v_k`` over the active interests, ordered by
    ``f`` (ties: lower item index first), -1 / -inf at the end of the row."""
    _check_item_emb(item_emb)
    vectors, mask = _check_interests(interests, item_emb.shape[1])
    if not isinstance(lists, Tensor) or lists.dtype != torch.int64 or lists.dim() not in (2, 3) \
            or lists.shape[0] != vectors.shape[0]:
        got = f"{lists.dtype} {tuple(lists.shape)}" if isinstance(lists, Tensor) else type(lists).__name__
        raise ValueError(f"lists must be int64 (B, K, n) or (B, M) with B = {vectors.shape[0]}; got {got}")
    with torch.no_grad():
        return _union(vectors.detach().to(item_emb.dtype), mask, item_emb.detach(),
                      lists.reshape(lists.shape[0], -1))


# ---------------------------------------------------------------------------------------- aggregation
def _check_categories(categories: Any, candidates: Tensor) -> Tensor:
    if not isinstance(categories, Tensor) or categories.dtype != torch.int64 or categories.dim() != 1:
        got = f"{categories.dtype} {tuple(categories.shape)}" if isinstance(categories, Tensor) \
            else type(categories).__name__
        raise ValueError(f"categories must be a 1-D int64 tensor (n_items,), one category id per item; got {got}")
    if categories.numel() and int(categories.min()) < 0:
        raise ValueError("categories must be >= 0 (give items without a category an explicit 'unknown' id)")
    real = candidates[candidates >= 0]
    if real.numel() and int(real.max()) >= categories.shape[0]:
        raise ValueError(f"categories has {categories.shape[0]} entries but the candidates hold item id "
                         f"{int(real.max())}: give one category id to every item")
    return categories.to(candidates.device)


def aggregate(candidates: Tensor, scores: Tensor, categories: Tensor, n: int, lam: float) -> Tensor:
    """ComiRec's controllable aggregation: (B, M) candidates -> (B, n) items.

    Greedy over ``n`` rounds (vectorised over users): each round adds, per user, the candidate
    not yet picked with the largest ``scores - lam * (#picked items of its category)`` (ties: the
    earlier column). ``candidates`` (B, M) int64 item ids, -1 = empty; ``scores`` (B, M) float
    ``f(u, i)``, -inf at empty slots (as :func:`retrieve` returns them; a repeated id would be
    picked twice: de-duplicate first); ``categories`` (n_items,) int64 >= 0, one id per item;
    ``lam >= 0``. ``lam = 0`` is the top-``n`` by score. A user with fewer than ``n`` candidates
    gets -1 in the remaining slots."""
    if not isinstance(candidates, Tensor) or candidates.dtype != torch.int64 or candidates.dim() != 2:
        got = f"{candidates.dtype} {tuple(candidates.shape)}" if isinstance(candidates, Tensor) \
            else type(candidates).__name__
        raise ValueError(f"candidates must be a 2-D int64 tensor (B, M) of item ids (-1 = empty); got {got}")
    if not isinstance(scores, Tensor) or scores.shape != candidates.shape or not scores.is_floating_point():
        got = f"{scores.dtype} {tuple(scores.shape)}" if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores must be a float tensor of the candidates' shape {tuple(candidates.shape)}; got {got}")
    _check_n(n, candidates.shape[1], "the number of candidate columns M")
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating)) or not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0 (0 = plain top-n by score); got {lam!r}")
    if bool(torch.isnan(scores).any()) or bool((scores == float("inf")).any()):
        raise ValueError("scores must be finite (or -inf at empty slots); got NaN or +inf")
    cats = _check_categories(categories, candidates)
    valid = (candidates >= 0) & (scores > NEG_INF)
    cand_cat = torch.where(valid, cats[candidates.clamp(min=0)], -1)  # (B, M)
    base = scores.detach().masked_fill(~valid, NEG_INF)
    same = torch.zeros_like(candidates)  # per candidate: #picked items of its category
    picked = torch.zeros_like(valid)
    rows = torch.arange(candidates.shape[0], device=candidates.device)
    out = torch.full((candidates.shape[0], int(n)), -1, dtype=torch.int64, device=candidates.device)
    for r in range(int(n)):
        adjusted = (base - float(lam) * same.to(base.dtype) if lam else base).masked_fill(picked, NEG_INF)
        best = adjusted.argmax(1)  # first maximum: the earlier column on ties
        ok = adjusted[rows, best] > NEG_INF
        out[:, r] = torch.where(ok, candidates[rows, best], -1)
        picked[rows, best] |= ok
        if lam:
            hit = (cand_cat == cand_cat[rows, best].unsqueeze(1)) & ok.unsqueeze(1)
            same += hit
    return out
