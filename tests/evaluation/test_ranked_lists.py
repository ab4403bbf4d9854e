"""Metrics on given ranked lists (`recpref.evaluation.evaluate_ranked_lists`, the SPRec / LLM
recommender protocol): hand-computed values on a small case, a slow per-row reference on random
lists, and every ValueError."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from recpref.evaluation import RankedListResult, evaluate_ranked_lists

# --- the hand case -------------------------------------------------------------------------------
# 6 items, 4 genres (genre 3 is never used, it still counts in MGU's mean)
GENRES = [[0], [0, 1], [1], [2], [], [1, 2]]
RANKED = [[0, 1, 2],  # target 2 at rank 2
          [0, 3, -1],  # target 3 at rank 1, one empty slot
          [-1, -1, -1],  # unparseable
          [0, 5, 4]]  # target 0 at rank 0; item 0 is recommended in three rows
TARGETS = [2, 3, 0, 0]
HISTORY = [[3, 4], [2], [1, 5], [0]]
POP = [10.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def _hand() -> RankedListResult:
    return evaluate_ranked_lists(np.array(RANKED), np.array(TARGETS), n_items=6, k=(2, 3), item_genres=GENRES,
                                 n_genres=4, history_items=HISTORY, popularity=np.array(POP))


def test_hand_computed_values() -> None:
    r = _hand()
    assert r.n_rows == 4 and r.n_unparseable == 1 and r.k == (2, 3)
    inv_log3 = 1 / math.log2(3)
    # top-2 slots: items 0,1 | 0,3 | - | 0,5 -> counts {0: 3, 1: 1, 3: 1, 5: 1}, 6 filled of 8
    # top-3 slots: adds item 2 (row 0) and item 4 (row 3) -> 8 filled of 12, six distinct items
    # genre mass (1/|G| per genre): GP@2 = [3.5, 1, 1.5, 0] / 6, GP@3 = [3.5, 2, 1.5, 0] / 7
    # GH: items 3, 4, 2, 1, 5, 0 -> [1.5, 2, 1.5, 0] / 5 = [0.3, 0.4, 0.3, 0]
    # GP@2 - GH = [17, -14, -3, 0] / 60; GP@3 - GH = [14, -8, -6, 0] / 70
    expected = {
        "hit@2": 2 / 4, "hit@3": 3 / 4,
        "ndcg@2": (1 + inv_log3) / 4, "ndcg@3": (1 + inv_log3 + 0.5) / 4,
        "div_ratio@2": 4 / 8, "div_ratio@3": 6 / 12,
        "or_ratio@2": (3 + 1 + 1) / 8, "or_ratio@3": (3 + 1 + 1) / 12,
        "mgu@2": (17 + 14 + 3 + 0) / 60 / 4, "mgu@3": (14 + 8 + 6 + 0) / 70 / 4,
        "dgu@2": (17 + 14) / 60, "dgu@3": (14 + 8) / 70,
        "popularity@2": (10 + 1 + 10 + 3 + 10 + 5) / 6, "popularity@3": (10 + 1 + 2 + 10 + 3 + 10 + 5 + 4) / 8,
    }
    assert list(r.metrics) == list(expected)  # metric by metric, then by k
    for name, value in expected.items():
        assert r[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_hand_case_without_optional_inputs_and_default_k() -> None:
    r = evaluate_ranked_lists(RANKED, TARGETS, n_items=6, k=3)
    assert list(r.metrics) == ["hit@3", "ndcg@3", "div_ratio@3", "or_ratio@3"]
    assert r["hit@3"] == 0.75 and r["or_ratio@3"] == 5 / 12
    padded = np.full((4, 10), -1)
    padded[:, :3] = RANKED
    d = evaluate_ranked_lists(padded, TARGETS, n_items=6)  # k = (1, 5, 10)
    assert d.k == (1, 5, 10)
    assert d["hit@1"] == 0.25 and d["hit@5"] == d["hit@10"] == 0.75
    assert d["div_ratio@1"] == 1 / 4 and d["or_ratio@1"] == 3 / 4  # item 0 fills 3 of the 4 first slots
    assert d["div_ratio@10"] == 6 / 40  # empty slots stay in the denominator
    only_pop = evaluate_ranked_lists(RANKED, TARGETS, n_items=6, k=2, popularity=POP)
    assert list(only_pop.metrics)[-1] == "popularity@2" and "mgu@2" not in only_pop.metrics


def test_unparseable_rows_are_misses_kept_in_the_denominator() -> None:
    base = evaluate_ranked_lists([[1, 0]], [1], n_items=3, k=(1, 2))
    more = evaluate_ranked_lists([[1, 0], [-1, -1], [-1, -1]], [1, 0, 2], n_items=3, k=(1, 2), popularity=[1, 2, 3])
    assert base["hit@1"] == 1.0 and more["hit@1"] == 1 / 3 and more["ndcg@2"] == 1 / 3
    assert more["div_ratio@2"] == 2 / 6 and more["or_ratio@2"] == 2 / 6  # fewer than 3 items: all of them
    assert more.n_unparseable == 2 and more.n_rows == 3
    assert more["popularity@2"] == 1.5  # mean over the two filled slots only
    none = evaluate_ranked_lists([[-1], [-1]], [0, 1], n_items=2, k=1, popularity=[1, 2], item_genres=[[0], [1]],
                                 history_items=[[0], [1]])
    assert none.n_unparseable == 2 and none["hit@1"] == 0 and none["div_ratio@1"] == 0 and none["or_ratio@1"] == 0
    assert math.isnan(none["popularity@1"]) and math.isnan(none["mgu@1"]) and math.isnan(none["dgu@1"])


def test_genre_metrics_nan_when_no_recommended_item_has_a_genre() -> None:
    r = evaluate_ranked_lists([[2, 0]], [0], n_items=3, k=(1, 2), item_genres=[[0], [1], []],
                              history_items=[[0, 1]])
    assert math.isnan(r["mgu@1"]) and math.isnan(r["dgu@1"])
    # top 2 = item 0 only: GP = [1, 0], GH = [.5, .5]
    assert r["mgu@2"] == 0.5 and r["dgu@2"] == 1.0


def test_gaps_keep_the_slot_as_the_rank() -> None:
    r = evaluate_ranked_lists([[-1, 4]], [4], n_items=5, k=(1, 2))
    assert r["hit@1"] == 0 and r["hit@2"] == 1 and r["ndcg@2"] == pytest.approx(1 / math.log2(3))
    assert r.n_unparseable == 0


def test_result_helpers() -> None:
    r = _hand()
    assert r.to_dict() == {"metrics": r.metrics, "k": [2, 3], "n_rows": 4, "n_unparseable": 1}
    s = str(r)
    assert s.startswith("RankedListResult(hit@2=0.5000, hit@3=0.7500") and "rows=4, unparseable=1" in s
    lines = r.table().splitlines()
    assert lines[0].split() == ["metric", "@2", "@3"]
    assert lines[1].split() == ["hit", "0.5000", "0.7500"]
    assert [ln.split()[0] for ln in lines[1:-1]] == ["hit", "ndcg", "div_ratio", "or_ratio", "mgu", "dgu",
                                                     "popularity"]
    assert lines[-1] == "rows=4, unparseable=1"
    with pytest.raises(KeyError, match="no metric 'recall@2'"):
        r["recall@2"]
    with pytest.raises(AttributeError):
        r.n_rows = 5  # type: ignore[misc]


# --- the slow reference -------------------------------------------------------------------------
def _reference(ranked: list[list[int]], targets: list[int], ks: tuple[int, ...], genres: list[list[int]],
               n_genres: int, history: list[list[int]], pop: list[float]) -> dict[str, float]:
    n = len(ranked)

    def dist(item_list: list[int]) -> list[float] | None:
        mass = [0.0] * n_genres
        for i in item_list:
            for g in genres[i]:
                mass[g] += 1.0 / len(genres[i])
        total = sum(mass)
        return [m / total for m in mass] if total > 0 else None

    gh = dist([i for h in history for i in h])
    assert gh is not None
    out: dict[str, dict[int, float]] = {m: {} for m in
                                        ("hit", "ndcg", "div_ratio", "or_ratio", "mgu", "dgu", "popularity")}
    for kk in ks:
        hit = ndcg = 0.0
        for row, t in zip(ranked, targets):
            if t in row[:kk]:
                hit += 1
                ndcg += 1 / math.log2(row.index(t) + 2)
        recommended = [i for row in ranked for i in row[:kk] if i != -1]
        counts = Counter(recommended)
        out["hit"][kk] = hit / n
        out["ndcg"][kk] = ndcg / n
        out["div_ratio"][kk] = len(counts) / (n * kk)
        out["or_ratio"][kk] = sum(c for _, c in counts.most_common(3)) / (n * kk)
        gp = dist(recommended)
        if gp is None:
            out["mgu"][kk] = out["dgu"][kk] = math.nan
        else:
            diff = [p - h for p, h in zip(gp, gh)]
            out["mgu"][kk] = sum(abs(d) for d in diff) / n_genres
            out["dgu"][kk] = max(diff) - min(diff)
        out["popularity"][kk] = sum(pop[i] for i in recommended) / len(recommended) if recommended else math.nan
    return {f"{m}@{kk}": v for m, per in out.items() for kk, v in per.items()}


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_a_per_row_reference_on_random_lists(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_items, n_genres, n_rows, k_max = 30 + seed, 5, 40 + 7 * seed, 8
    weights = rng.random(n_items) ** 3  # a few popular items, so the top-3 share is large
    weights /= weights.sum()
    ranked = np.full((n_rows, k_max), -1, dtype=np.int64)
    for r in range(n_rows):
        length = int(rng.integers(0, k_max + 1))  # 0 = unparseable
        ranked[r, :length] = rng.choice(n_items, size=length, replace=False, p=weights)
    targets = np.where(rng.random(n_rows) < 0.5, ranked[:, 0], rng.integers(0, n_items, n_rows))
    targets = np.where(targets < 0, 0, targets)
    genres = [sorted(rng.choice(n_genres - 1, size=int(rng.integers(0, 4)), replace=False).tolist())
              for _ in range(n_items)]  # the last genre is never used
    history = [rng.integers(0, n_items, size=int(rng.integers(0, 6))).tolist() for _ in range(n_rows)]
    pop = rng.random(n_items) * 100
    ks = (1, 3, k_max)
    got = evaluate_ranked_lists(ranked, targets, n_items=n_items, k=ks, item_genres=genres, n_genres=n_genres,
                                history_items=history, popularity=pop)
    ref = _reference(ranked.tolist(), targets.tolist(), ks, genres, n_genres, history, pop.tolist())
    assert got.n_unparseable == int((ranked == -1).all(1).sum()) and got.n_rows == n_rows
    assert set(got.metrics) == set(ref)
    for name, value in ref.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), name
    # numpy inputs for the ragged lists give the same numbers
    same = evaluate_ranked_lists(ranked, targets, n_items=n_items, k=ks,
                                 item_genres=[np.array(g, dtype=np.int32) for g in genres], n_genres=n_genres,
                                 history_items=[np.array(h, dtype=np.int64) for h in history], popularity=pop)
    assert same.metrics == pytest.approx(got.metrics, nan_ok=True)


def test_n_genres_defaults_to_the_largest_genre_id_plus_one() -> None:
    kw = dict(n_items=3, k=2, item_genres=[[0], [2], [1, 2]], history_items=[[0, 1]])
    r = evaluate_ranked_lists([[2, 0]], [0], **kw)  # type: ignore[arg-type]
    assert r.metrics == evaluate_ranked_lists([[2, 0]], [0], n_genres=3, **kw).metrics  # type: ignore[arg-type]
    wider = evaluate_ranked_lists([[2, 0]], [0], n_genres=6, **kw)  # type: ignore[arg-type]
    assert wider["mgu@2"] == pytest.approx(r["mgu@2"] * 3 / 6) and wider["dgu@2"] == r["dgu@2"]


# --- errors -------------------------------------------------------------------------------------
def _call(**overrides: object) -> RankedListResult:
    kw: dict[str, object] = dict(ranked=RANKED, targets=TARGETS, n_items=6, k=(2, 3), item_genres=GENRES,
                                 n_genres=4, history_items=HISTORY, popularity=POP)
    kw.update(overrides)
    return evaluate_ranked_lists(kw.pop("ranked"), kw.pop("targets"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(ranked=[[0.0, 1.0]]), r"ranked must hold integers"),
    (dict(ranked=[0, 1, 2]), r"ranked must be 2-D"),
    (dict(ranked=np.zeros((0, 3), dtype=np.int64), targets=[]), r"ranked has no row"),
    (dict(ranked=np.zeros((4, 0), dtype=np.int64), k=1), r"ranked has no column"),
    (dict(ranked=[[0, 1, -2]] * 4), r"ranked holds item id -2 \(row 0, slot 2\)"),
    (dict(ranked=[[0, 1, 2], [0, 6, -1], [-1] * 3, [0, 5, 4]]), r"ranked holds item id 6 \(row 1, slot 1\)"),
    (dict(ranked=[[0, 1, 2], [0, 3, -1], [-1] * 3, [4, 5, 4]]), r"ranked row 3 repeats item 4"),
    (dict(k=(2, 4)), r"k=4 exceeds the number of slots per row of ranked \(K_max = 3\)"),
    (dict(k=()), r"k is empty"),
    (dict(k=(0, 2)), r"every k must be a positive integer"),
    (dict(n_items=0), r"n_items must be a positive integer"),
    (dict(n_items=6.0), r"n_items must be a positive integer"),
    (dict(targets=[2, 3, 0]), r"targets must be 1-D with one item per row of ranked \(4\)"),
    (dict(targets=[[2, 3, 0, 0]]), r"targets must be 1-D"),
    (dict(targets=[2, 3, 0, 6]), r"targets holds item id 6 \(row 3\)"),
    (dict(targets=[2, -1, 0, 0]), r"targets holds item id -1 \(row 1\)"),
    (dict(targets=[2.0, 3.0, 0.0, 0.0]), r"targets must hold integers"),
    (dict(popularity=POP[:5]), r"popularity must have shape \(n_items,\) = \(6,\)"),
    (dict(popularity=[1.0, math.nan, 1, 1, 1, 1]), r"popularity must be finite"),
    (dict(popularity=["a"] * 6), r"popularity must be numeric"),
    (dict(history_items=None), r"item_genres was given without history_items"),
    (dict(item_genres=None), r"history_items was given without item_genres"),
    (dict(item_genres=None, history_items=None, n_genres=3), r"n_genres was given without item_genres"),
    (dict(n_genres=0), r"n_genres must be a positive integer"),
    (dict(n_genres=True), r"n_genres must be a positive integer"),
    (dict(n_genres=2), r"item_genres holds genre id 2; genre ids must be in \[0, n_genres=2\)"),
    (dict(item_genres=GENRES[:5]), r"item_genres must hold one list of genre ids per item \(6\); got 5"),
    (dict(item_genres=[[0], [0, -1], [], [], [], []]), r"item_genres holds genre id -1"),
    (dict(item_genres=[[0], [1, 0, 1], [], [], [], []]), r"item_genres lists genre 1 twice for item 1"),
    (dict(item_genres=[[0], 1, [], [], [], []]), r"item_genres must be a sequence of sequences"),
    (dict(item_genres=[[0], [0.5], [], [], [], []]), r"item_genres must hold integers"),
    (dict(history_items=HISTORY[:3]), r"history_items must hold one list of item ids per row of ranked \(4\)"),
    (dict(history_items=[[3], [6], [], []]), r"history_items holds item id 6"),
    (dict(history_items=[[4], [], [], []]), r"history_items hold no item with a genre"),
    (dict(history_items=[[], [], [], []]), r"history_items hold no item with a genre"),
])
def test_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _call(**overrides)


def test_the_error_test_base_call_is_valid() -> None:
    assert _call().metrics == _hand().metrics
