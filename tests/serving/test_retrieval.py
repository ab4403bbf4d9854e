"""Multi-interest retrieval and ComiRec's controllable aggregation (`recpref.serving.retrieval`):
against slow per-user Python references, brute force over every subset where the greedy is
provably optimal, the full-ranking top-n, and (when faiss is importable) faiss' exact and HNSW
indexes; plus the `Recommender.recommend_interests` entry on raw ids."""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from recpref.data import Interactions
from recpref.evaluation import canonical_topk, diversity
from recpref.models import HistoryModel, Interests
from recpref.serving import FaissIndex, Recommender, aggregate, retrieve, search_interests
from recpref.serving.retrieval import merge_lists
from recpref.training.encoders import build_encoder

faiss: Any
try:
    import faiss
except ImportError:  # pragma: no cover - depends on the environment
    faiss = None

needs_faiss = pytest.mark.skipif(faiss is None, reason="faiss is not importable (pip install faiss-cpu)")


def _interests(b: int, k: int, d: int, seed: int, inactive: float = 0.3) -> Interests:
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(b, k, d, generator=g, dtype=torch.float64)
    mask = torch.rand(b, k, generator=g) >= inactive
    mask[0] = True  # one user with every interest active
    if b > 2:
        mask[1] = False  # one with none
    return Interests(v.masked_fill(~mask.unsqueeze(-1), 0.0), mask)


def _items(n_items: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n_items, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------ slow references
def _slow_retrieve(interests: Interests, emb: torch.Tensor, n: int,
                   exclude: list[set[int]] | None = None) -> list[list[tuple[int, float]]]:
    """Per user, per active interest: the top-n (score desc, id asc) of e_i . v_k, the union,
    scored by max over the active interests; sorted by (f desc, id asc)."""
    v, m = interests
    e = emb.numpy()
    out = []
    for u in range(v.shape[0]):
        active = [k for k in range(v.shape[1]) if bool(m[u, k])]
        banned = exclude[u] if exclude else set()
        union: set[int] = set()
        for k in active:
            s = e @ v[u, k].numpy()
            ranked = sorted((i for i in range(e.shape[0]) if i not in banned), key=lambda i: (-s[i], i))
            union.update(ranked[:n])
        f = {i: max(float(e[i] @ v[u, k].numpy()) for k in active) for i in union}
        out.append(sorted(f.items(), key=lambda t: (-t[1], t[0])))
    return out


def _slow_greedy(cands: list[int], scores: list[float], cats: list[int], n: int, lam: float) -> list[int]:
    """ComiRec's aggregation as its code writes it: score - lam * #picked of the same category,
    strict > so the earlier candidate wins ties."""
    pool = [(c, s) for c, s in zip(cands, scores) if c >= 0 and s > -math.inf]
    picked: list[int] = []
    taken: set[int] = set()
    count: dict[int, int] = {}
    for _ in range(n):
        best, best_val = None, -math.inf
        for j, (c, s) in enumerate(pool):
            if j in taken:
                continue
            val = s - lam * count.get(cats[c], 0) if lam else s
            if best is None or val > best_val:
                best, best_val = j, val
        if best is None:
            break
        taken.add(best)
        c = pool[best][0]
        picked.append(c)
        count[cats[c]] = count.get(cats[c], 0) + 1
    return picked + [-1] * (n - len(picked))


def _q(subset: tuple[int, ...], f: dict[int, float], cats: list[int], lam: float) -> float:
    """Q(u, S) = sum f + lam * #unordered pairs of S with different categories."""
    pairs = sum(cats[i] != cats[j] for i, j in itertools.combinations(subset, 2))
    return sum(f[i] for i in subset) + lam * pairs


# ------------------------------------------------------------------------------ retrieve
@pytest.mark.parametrize(("b", "k", "n", "n_items"), [(6, 4, 5, 40), (5, 3, 1, 9), (4, 2, 9, 9)])
def test_retrieve_equals_the_slow_per_user_reference(b: int, k: int, n: int, n_items: int) -> None:
    interests, emb = _interests(b, k, 8, seed=b), _items(n_items, 8, seed=n)
    got = retrieve(interests, emb, n)
    assert got.items.shape == got.scores.shape == (b, k * n) and got.items.dtype == torch.int64
    for u, ref in enumerate(_slow_retrieve(interests, emb, n)):
        m = len(ref)
        assert got.items[u, :m].tolist() == [i for i, _ in ref]
        assert np.allclose(got.scores[u, :m].numpy(), [s for _, s in ref])
        assert (got.items[u, m:] == -1).all() and (got.scores[u, m:] == -math.inf).all()
    assert (got.items[1] == -1).all()  # no active interest: nothing


def test_retrieve_with_exclusions_equals_the_reference_and_never_returns_an_excluded_item() -> None:
    interests, emb = _interests(5, 3, 6, seed=3), _items(30, 6, seed=4)
    banned = [{0, 5, 7}, {1}, set(), {2, 3, 4, 5, 6, 8}, {29}]
    width = max(len(s) for s in banned)
    exclude = torch.tensor([sorted(s) + [-1] * (width - len(s)) for s in banned])
    got = retrieve(interests, emb, 4, exclude=exclude)
    for u, ref in enumerate(_slow_retrieve(interests, emb, 4, banned)):
        assert got.items[u, : len(ref)].tolist() == [i for i, _ in ref]
        assert not set(got.items[u].tolist()) & banned[u]


def test_top_n_of_the_candidates_is_the_full_ranking_top_n() -> None:
    """An item of the top-n by f = max_k e.v_k is in the top-n of its best interest, so the union
    holds the full ranking's top-n (the same as SequenceEncoder.score_all's)."""
    interests, emb = _interests(8, 4, 16, seed=11), _items(300, 16, seed=12)
    n = 10
    cands = retrieve(interests, emb, n)
    full = torch.einsum("bkd,nd->bkn", interests.vectors, emb).masked_fill(~interests.mask.unsqueeze(-1), -math.inf)
    full = full.amax(1)
    users = interests.mask.any(1)
    assert torch.equal(cands.items[users, :n], canonical_topk(full[users], n))
    cats = torch.zeros(300, dtype=torch.int64)
    assert torch.equal(aggregate(cands.items, cands.scores, cats, n, 0.0)[users], canonical_topk(full[users], n))


def test_search_interests_lists_are_each_interests_own_top_n() -> None:
    interests, emb = _interests(4, 3, 8, seed=5), _items(50, 8, seed=6)
    lists, scores = search_interests(interests, emb, 7)
    assert lists.shape == scores.shape == (4, 3, 7)
    for u, k in itertools.product(range(4), range(3)):
        if not interests.mask[u, k]:
            assert (lists[u, k] == -1).all() and (scores[u, k] == -math.inf).all()
            continue
        s = emb @ interests.vectors[u, k]
        assert lists[u, k].tolist() == canonical_topk(s.unsqueeze(0), 7)[0].tolist()
        assert torch.allclose(scores[u, k], s[lists[u, k]])
    assert torch.equal(merge_lists(interests, emb, lists).items, retrieve(interests, emb, 7).items)


def test_retrieve_is_vectorised_and_needs_no_gradient() -> None:
    v = torch.randn(3, 2, 4, requires_grad=True)
    emb = torch.randn(10, 4, requires_grad=True)
    out = retrieve(Interests(v, torch.ones(3, 2, dtype=torch.bool)), emb, 3)
    assert not out.scores.requires_grad and out.items.shape == (3, 6)


def test_retrieve_errors_name_the_argument() -> None:
    interests, emb = _interests(2, 2, 4, seed=0), _items(6, 4, seed=0)
    for n in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            retrieve(interests, emb, n)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n = 7 exceeds the number of items \(6\)"):
        retrieve(interests, emb, 7)
    with pytest.raises(ValueError, match="item_emb must be a 2-D float tensor"):
        retrieve(interests, torch.arange(6), 2)
    with pytest.raises(ValueError, match="interests.vectors have d = 4 but item_emb has d = 3"):
        retrieve(interests, emb[:, :3], 2)
    with pytest.raises(ValueError, match=r"interests.mask must be a bool tensor of shape \(2, 2\)"):
        retrieve(Interests(interests.vectors, interests.mask.int()), emb, 2)
    with pytest.raises(TypeError, match="interests must be Interests"):
        retrieve(interests.vectors, emb, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exclude must be an int64 tensor"):
        retrieve(interests, emb, 2, exclude=torch.zeros(3, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match="exclude holds item ids >= n_items"):
        retrieve(interests, emb, 2, exclude=torch.tensor([[6], [0]]))
    with pytest.raises(ValueError, match="index must be None, one of"):
        retrieve(interests, emb, 2, index="annoy")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="index must be None, a name or an ItemIndex"):
        retrieve(interests, emb, 2, index=object())  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ aggregate
def _random_candidates(b: int, m: int, n_items: int, seed: int,
                       ties: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    items = np.stack([rng.choice(n_items, size=m, replace=False) for _ in range(b)])
    scores = rng.integers(0, 4, size=(b, m)).astype(np.float64) if ties else rng.normal(size=(b, m))
    items[0, -2:] = -1  # empty slots
    scores[0, -2:] = -np.inf
    return torch.from_numpy(items), torch.from_numpy(scores)


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("ties", [False, True])
def test_aggregate_equals_the_slow_per_user_greedy(lam: float, ties: bool) -> None:
    cands, scores = _random_candidates(7, 12, 30, seed=int(lam * 10) + ties, ties=ties)
    cats = torch.from_numpy(np.random.default_rng(1).integers(0, 4, size=30))
    n = 8
    got = aggregate(cands, scores, cats, n, lam)
    assert got.shape == (7, n)
    for u in range(7):
        ref = _slow_greedy(cands[u].tolist(), scores[u].tolist(), cats.tolist(), n, lam)
        assert got[u].tolist() == ref


def test_aggregate_pads_users_with_too_few_candidates() -> None:
    cands = torch.tensor([[3, -1, -1, -1], [0, 1, 2, 3]])
    scores = torch.tensor([[1.0, -math.inf, -math.inf, -math.inf], [0.1, 0.4, 0.3, 0.2]])
    got = aggregate(cands, scores, torch.tensor([0, 0, 1, 1]), 3, 1.0)
    # user 1: 1 (cat 0, 0.4); 2 (cat 1: 0.3 > 0.1 - 1); 3 (cat 1: 0.2 - 1 > cat 0's 0.1 - 1)
    assert got.tolist() == [[3, -1, -1], [1, 2, 3]]
    # three items of category 0 and one of category 1: lam 0.25 moves item 3 (0.2) ahead of item 2
    # (0.3 - 0.25); lam 0 keeps the score order
    cats = torch.tensor([0, 0, 0, 1])
    assert aggregate(cands, scores, cats, 3, 0.25).tolist() == [[3, -1, -1], [1, 3, 2]]
    assert aggregate(cands, scores, cats, 3, 0.0).tolist() == [[3, -1, -1], [1, 2, 3]]


@pytest.mark.parametrize("seed", range(6))
def test_lam_zero_is_the_plain_top_n(seed: int) -> None:
    cands, scores = _random_candidates(5, 10, 20, seed=seed, ties=seed % 2 == 1)
    cats = torch.from_numpy(np.random.default_rng(seed).integers(0, 3, size=20))
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :6]
    expect = cands.gather(1, order).masked_fill(scores.gather(1, order) == -math.inf, -1)
    assert torch.equal(aggregate(cands, scores, cats, 6, 0.0), expect)
    assert torch.equal(aggregate(cands, scores, cats, 6, 0), expect)


def _brute_best(cands: list[int], f: dict[int, float], cats: list[int], n: int, lam: float) -> float:
    return max(_q(s, f, cats, lam) for s in itertools.combinations(cands, n))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("case", ["lam0", "distinct"])
def test_greedy_is_optimal_where_it_provably_is(seed: int, case: str) -> None:
    """lam = 0 (Q = sum f) and every candidate in its own category (the pair term is the same
    for every subset of size n): the greedy set reaches the brute-force maximum of Q."""
    rng = np.random.default_rng(seed)
    m, n = 8, 4
    cands = rng.choice(20, size=m, replace=False).tolist()
    f = dict(zip(cands, rng.normal(size=m).tolist()))
    scores = torch.tensor([[f[c] for c in cands]], dtype=torch.float64)
    if case == "lam0":
        lam, cats = 0.0, rng.integers(0, 2, size=20).tolist()
    else:
        lam, cats = float(rng.uniform(0.1, 2.0)), list(range(20))
    picked = aggregate(torch.tensor([cands]), scores, torch.tensor(cats), n, lam)[0].tolist()
    best = _brute_best(cands, f, cats, n, lam)
    assert math.isclose(_q(tuple(picked), f, cats, lam), best, rel_tol=0, abs_tol=1e-12)
    # and the brute-force optimum is unique up to ties: it is the greedy's set
    winners = [set(s) for s in itertools.combinations(cands, n) if math.isclose(_q(s, f, cats, lam), best)]
    assert set(picked) in winners


@pytest.mark.parametrize("seed", range(8))
def test_greedy_objective_is_q_of_its_own_subset_and_never_above_the_optimum(seed: int) -> None:
    """Sum of the greedy's marginal gains f(i) + lam * #{picked k: cate(k) != cate(i)} equals the
    brute-force Q of the subset it picked (unordered pairs), and is at most the best Q."""
    rng = np.random.default_rng(100 + seed)
    m, n, lam = 9, 4, float(rng.uniform(0.05, 1.5))
    cands = rng.choice(30, size=m, replace=False).tolist()
    f = dict(zip(cands, rng.normal(size=m).tolist()))
    cats = rng.integers(0, 3, size=30).tolist()
    picked = aggregate(torch.tensor([cands]), torch.tensor([[f[c] for c in cands]]), torch.tensor(cats), n,
                       lam)[0].tolist()
    gains = sum(f[c] + lam * sum(cats[k] != cats[c] for k in picked[:r]) for r, c in enumerate(picked))
    assert math.isclose(gains, _q(tuple(picked), f, cats, lam), abs_tol=1e-12)
    assert gains <= _brute_best(cands, f, cats, n, lam) + 1e-12


def test_large_lam_spreads_the_list_over_categories() -> None:
    interests, emb = _interests(6, 4, 8, seed=21), _items(200, 8, seed=22)
    cats = torch.from_numpy(np.random.default_rng(0).integers(0, 12, size=200))
    cands = retrieve(interests, emb, 10)
    plain = aggregate(cands.items, cands.scores, cats, 10, 0.0)
    spread = aggregate(cands.items, cands.scores, cats, 10, 1e6)
    for u in range(6):
        if not interests.mask[u].any():
            continue
        available = len({int(cats[i]) for i in cands.items[u].tolist() if i >= 0})
        assert len({int(cats[i]) for i in spread[u].tolist()}) == min(10, available)
    users = interests.mask.any(1).numpy()
    assert np.nanmean(diversity(spread, cats)[users]) >= np.nanmean(diversity(plain, cats)[users])


def test_aggregate_errors_name_the_argument() -> None:
    cands, scores = torch.tensor([[0, 1, 2]]), torch.tensor([[0.3, 0.2, 0.1]])
    cats = torch.tensor([0, 1, 1])
    for n in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            aggregate(cands, scores, cats, n, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n = 4 exceeds the number of candidate columns M \(3\)"):
        aggregate(cands, scores, cats, 4, 0.1)
    for lam in (-0.1, math.nan, math.inf, True, "0.1"):
        with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
            aggregate(cands, scores, cats, 2, lam)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="categories has 2 entries but the candidates hold item id 2"):
        aggregate(cands, scores, cats[:2], 2, 0.1)
    with pytest.raises(ValueError, match="categories must be a 1-D int64 tensor"):
        aggregate(cands, scores, cats.float(), 2, 0.1)
    with pytest.raises(ValueError, match="categories must be >= 0"):
        aggregate(cands, scores, torch.tensor([0, -1, 1]), 2, 0.1)
    with pytest.raises(ValueError, match="scores must be a float tensor of the candidates' shape"):
        aggregate(cands, scores[:, :2], cats, 2, 0.1)
    with pytest.raises(ValueError, match="candidates must be a 2-D int64 tensor"):
        aggregate(cands.float(), scores, cats, 2, 0.1)
    with pytest.raises(ValueError, match="scores must be finite"):
        aggregate(cands, torch.tensor([[0.3, math.nan, 0.1]]), cats, 2, 0.1)


# ------------------------------------------------------------------------------ faiss
@pytest.fixture
def one_faiss_thread() -> Iterator[None]:
    assert faiss is not None
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@needs_faiss
@pytest.mark.usefixtures("one_faiss_thread")
def test_faiss_flat_equals_the_exact_search() -> None:
    interests, emb = _interests(6, 4, 16, seed=31), _items(500, 16, seed=32)
    exact = search_interests(interests, emb, 12)[0]
    assert torch.equal(search_interests(interests, emb, 12, index="faiss-flat")[0], exact)
    flat = FaissIndex(emb, "flat")
    assert torch.equal(retrieve(interests, emb, 12, index=flat).items, retrieve(interests, emb, 12).items)
    exclude = torch.tensor([[0, 1, 2], [3, -1, -1], [-1, -1, -1], [4, 5, -1], [6, 7, 8], [9, 10, 11]])
    assert torch.equal(retrieve(interests, emb, 12, index=flat, exclude=exclude).items,
                       retrieve(interests, emb, 12, exclude=exclude).items)


@needs_faiss
@pytest.mark.usefixtures("one_faiss_thread")
def test_faiss_hnsw_recall_against_exact_is_high() -> None:
    interests = _interests(64, 4, 32, seed=41, inactive=0.0)
    emb = _items(3000, 32, seed=42)
    n = 50
    exact = search_interests(interests, emb, n)[0]
    index = FaissIndex(emb, "hnsw", m=32, ef_construction=200, ef_search=128)
    approx = search_interests(interests, emb, n, index=index)[0]
    active = interests.mask
    assert (exact[active] >= 0).all() and (approx[~active] == -1).all()
    hits = (approx.unsqueeze(-1) == exact.unsqueeze(-2)).any(-1).sum(-1).double() / n
    recall = float(hits[active].mean())
    assert recall >= 0.9, recall
    # the candidates an index found are scored exactly: f = max over the interests
    cands = retrieve(interests, emb, n, index=index)
    ok = cands.items >= 0
    full = torch.einsum("bkd,nd->bkn", interests.vectors, emb).amax(1)
    assert torch.allclose(cands.scores[ok], full.gather(1, cands.items.clamp(min=0))[ok])
    assert (approx[active] >= 0).all()  # the index filled every slot of the active interests
    assert retrieve(interests, emb, n, index="faiss").items.shape == (64, 4 * n)


@needs_faiss
def test_faiss_index_errors() -> None:
    emb = _items(20, 4, seed=0)
    with pytest.raises(ValueError, match=r"index holds 20 items of dim 4 but item_emb has shape \(19, 4\)"):
        retrieve(_interests(2, 2, 4, seed=0), emb[:19], 2, index=FaissIndex(emb, "flat"))
    with pytest.raises(ValueError, match="kind must be 'hnsw' or 'flat'"):
        FaissIndex(emb, "ivf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ef_search must be an integer >= 1"):
        FaissIndex(emb, ef_search=0)


def test_missing_faiss_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    with pytest.raises(ImportError, match="index='faiss' needs the faiss package: pip install faiss-cpu"):
        retrieve(_interests(2, 2, 4, seed=0), _items(10, 4, seed=0), 2, index="faiss")


# ------------------------------------------------------------------------------ Recommender
def _train() -> Interactions:
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(30):
        chosen = rng.choice(40, size=8, replace=False)
        users += [f"u{u}"] * 8
        items += [f"i{j}" for j in chosen]
    return Interactions.from_raw(users, items, timestamps=np.tile(np.arange(8.0), 30))


def _unfitted_sequence_recommender(model: str) -> Recommender:
    """A sequence Recommender with fresh random weights (no training needed to check serving)."""
    torch.manual_seed(0)
    train = _train()
    extra: dict[str, Any] = {"n_interests": 3} if model != "mean" else {}
    rec = Recommender(model=model, dim=8, max_len=6, **extra)
    encoder = build_encoder(rec.config.model, train)
    rec.encoder, rec.train = encoder.eval(), train
    return rec


@pytest.mark.parametrize("model", ["comirec-sa", "mind", "mean"])
def test_recommend_interests_lam0_equals_recommend_history(model: str) -> None:
    rec = _unfitted_sequence_recommender(model)
    history = ["i3", "i7", "i11", "i2", "i30"]
    out = rec.recommend_interests(history, k=6)
    plain = rec.recommend_history(history, k=6)
    assert out.aggregated.columns == ["rank", "item_id", "score"]
    assert out.aggregated["item_id"].to_list() == plain["item_id"].to_list()
    assert np.allclose(out.aggregated["score"].to_numpy(), plain["score"].to_numpy(), atol=1e-6)
    assert out.per_interest.columns == ["interest", "rank", "item_id", "score"]
    assert out.per_interest.height == 6 * out.n_active
    assert not set(out.per_interest["item_id"].to_list()) & set(history)
    # each interest's list is its own top-6 over the unseen items
    encoder = rec.encoder
    assert isinstance(encoder, HistoryModel) and rec.train is not None
    idx = torch.from_numpy(rec.train.item_vocab.index(history)).unsqueeze(0)
    with torch.no_grad():
        v, m = encoder.sequence.interests(idx, torch.ones_like(idx, dtype=torch.bool))
        s = torch.einsum("kd,nd->kn", v[0], encoder.sequence.item_emb.weight[: rec.train.n_items])
    s[:, idx[0]] = -math.inf
    for k in range(v.shape[1]):
        rows = out.per_interest.filter(out.per_interest["interest"] == k)
        if not m[0, k]:
            assert rows.height == 0
            continue
        expect = rec.train.item_vocab.to_raw(canonical_topk(s[k : k + 1], 6)[0].numpy()).tolist()
        assert rows["item_id"].to_list() == expect


def test_recommend_interests_with_lam_diversifies_and_checks_its_inputs() -> None:
    rec = _unfitted_sequence_recommender("comirec-sa")
    assert rec.train is not None
    cats = np.arange(rec.train.n_items) % 5
    history = ["i1", "i2", "i3"]
    plain = rec.recommend_interests(history, k=8, item_categories=cats)
    spread = rec.recommend_interests(history, k=8, lam=100.0, item_categories=cats)
    assert spread.aggregated.columns == ["rank", "item_id", "score", "category"]
    assert spread.aggregated["category"].n_unique() >= plain.aggregated["category"].n_unique()
    pool = set(plain.per_interest["item_id"].to_list())
    assert set(spread.aggregated["item_id"].to_list()) <= pool  # chosen from the interests' lists
    with pytest.raises(ValueError, match="lam > 0 needs item_categories"):
        rec.recommend_interests(history, k=3, lam=0.5)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        rec.recommend_interests(history, k=3, lam=-1.0, item_categories=cats)
    short = rf"categories has {cats.size - 1} entries; expected one per item \({cats.size}\)"
    with pytest.raises(ValueError, match=short):
        rec.recommend_interests(history, k=3, item_categories=cats[:-1])
    with pytest.raises(KeyError, match="i999"):
        rec.recommend_interests(["i1", "i999"], k=3)
    if faiss is not None:
        flat = rec.build_item_index("flat")
        assert rec.recommend_interests(history, k=8, index=flat).aggregated.equals(
            rec.recommend_interests(history, k=8).aggregated)


def test_recommend_interests_refuses_a_non_sequence_model() -> None:
    train = _train()
    rec = Recommender(model="mf", dim=8)
    rec.encoder, rec.train = build_encoder(rec.config.model, train), train
    with pytest.raises(TypeError, match="recommend_interests needs a sequence model"):
        rec.recommend_interests(["i1"], k=3)


@needs_faiss
def test_ann_recall_script_prints_its_table() -> None:
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "benchmarks/ann_recall.py", "--items", "300", "--users", "8", "--n", "10",
                          "--repeats", "1", "--ef-search", "32", "--ef-construction", "40", "--data", "gaussian"],
                         cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| exact (torch top-k) | 0.00 | 1.0000 | 1.0000 |" in out.stdout
    assert "| faiss IndexFlatIP |" in out.stdout and "| faiss HNSW (M 32, efC 40, efSearch 32) |" in out.stdout
