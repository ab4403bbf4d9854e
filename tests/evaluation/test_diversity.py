"""Diversity@N (`recpref.evaluation.diversity`) against a brute-force pair count, reported next to
`evaluate`'s accuracy on the very same lists; and the Amazon category ids it is computed with
(`data_loaders.sequences.item_categories`)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import data_loaders
from data_loaders import Dataset
from data_loaders.sequences import UNKNOWN_CATEGORY, categories_from_paths, item_categories
from recpref.data import Interactions
from recpref.evaluation import diversity, evaluate, evaluate_with_diversity, topk_unseen


def _brute(row: list[int], cats: list[int]) -> float:
    items = [i for i in row if i >= 0]
    pairs = list(itertools.combinations(items, 2))
    return sum(cats[i] != cats[j] for i, j in pairs) / len(pairs) if pairs else math.nan


@pytest.mark.parametrize("seed", range(5))
def test_diversity_equals_a_brute_force_pair_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cats = rng.integers(0, 1 + seed * 2, size=40)
    topn = np.stack([rng.choice(40, size=12, replace=False) for _ in range(30)])
    topn[rng.random(topn.shape) < 0.2] = -1  # empty slots
    topn[0, 1:] = -1  # one item: no pair
    got = diversity(topn, cats)
    ref = np.array([_brute(r, cats.tolist()) for r in topn.tolist()])
    assert got.shape == (30,) and got.dtype == np.float64
    assert np.array_equal(np.isnan(got), np.isnan(ref)) and np.isnan(got[0])
    assert np.array_equal(got[~np.isnan(ref)], ref[~np.isnan(ref)])  # one division of two counts each
    assert np.array_equal(diversity(torch.from_numpy(topn), torch.from_numpy(cats)), got, equal_nan=True)


def test_diversity_hand_cases() -> None:
    cats = [0, 0, 1, 2]
    assert diversity([[0, 1]], cats).tolist() == [0.0]  # one pair, same category
    assert diversity([[0, 2, 3]], cats).tolist() == [1.0]
    assert diversity([[0, 1, 2, 3]], cats).tolist() == [5 / 6]  # only the pair (0, 1) is alike


def test_diversity_errors() -> None:
    with pytest.raises(ValueError, match="topn must be 2-D"):
        diversity([0, 1], [0, 1])
    with pytest.raises(ValueError, match="categories has 2 entries but topn holds item id 2"):
        diversity([[0, 2]], [0, 1])
    with pytest.raises(ValueError, match="categories must be >= 0"):
        diversity([[0, 1]], [0, -1])
    with pytest.raises(ValueError, match="categories must hold integers"):
        diversity([[0, 1]], [0.0, 1.0])
    with pytest.raises(ValueError, match="topn must hold integers"):
        diversity([[0.0, 1.0]], [0, 1])
    with pytest.raises(ValueError, match=r"categories must be 1-D \(n_items,\)"):
        diversity([[0, 1]], [[0, 1]])


def _toy(seed: int = 0) -> tuple[Interactions, Interactions, torch.Tensor]:
    rng = np.random.default_rng(seed)
    n_users, n_items = 25, 30
    pairs = {(u, int(i)) for u in range(n_users) for i in rng.choice(n_items, size=6, replace=False)}
    rows = sorted(pairs)
    train_rows = [p for j, p in enumerate(rows) if j % 3]
    test_rows = [p for j, p in enumerate(rows) if not j % 3]
    make = lambda ps: Interactions.from_indices([u for u, _ in ps], [i for _, i in ps], n_users=n_users,  # noqa: E731
                                                n_items=n_items)
    scores = torch.from_numpy(rng.normal(size=(n_users, n_items)))
    return make(train_rows), make(test_rows), scores


def test_evaluate_with_diversity_adds_diversity_of_the_same_lists() -> None:
    train, test, scores = _toy()
    cats = np.random.default_rng(3).integers(0, 4, size=train.n_items)
    scorer = lambda u: scores[u]  # noqa: E731
    plain = evaluate(scorer, train, test, k=(5, 10), metrics=("recall", "ndcg"))
    both = evaluate_with_diversity(scorer, train, test, cats, k=(5, 10), metrics=("recall", "ndcg"), batch_size=7,
                                   per_user=True)
    assert {name: v for name, v in both.metrics.items() if not name.startswith("diversity")} == plain.metrics
    assert both.n_users == plain.n_users and both.k == (5, 10)
    assert both.per_user is not None
    users = both.per_user["user"].to_numpy().copy()
    top, _, valid = topk_unseen(scores[users], train, users, 10)
    items = torch.where(valid, top, -1)
    for k in (5, 10):
        per = diversity(items[:, :k], cats)
        assert both[f"diversity@{k}"] == pytest.approx(float(per.mean()))
        assert np.allclose(both.per_user[f"diversity@{k}"].to_numpy(), per)
    assert evaluate_with_diversity(scorer, train, test, cats, k=5).per_user is None
    with pytest.raises(ValueError, match=r"categories has 29 entries; expected one per item \(30\)"):
        evaluate_with_diversity(scorer, train, test, cats[:-1], k=5)


# ------------------------------------------------------------------------------ category ids
def test_categories_from_paths_levels_unknown_and_names() -> None:
    paths = [
        ["Beauty", "Makeup", "Nails", "Polish"],
        ["Beauty", "Skin Care", "Body"],
        ["Beauty", "Bath", "Body"],  # same leaf name, another parent: another category
        ["Beauty", "Makeup"],
        None,
        [],
    ]
    leaf = categories_from_paths(paths)
    assert leaf.names == ("Beauty > Bath > Body", "Beauty > Makeup", "Beauty > Makeup > Nails > Polish",
                          "Beauty > Skin Care > Body", UNKNOWN_CATEGORY)
    assert leaf.ids.tolist() == [2, 3, 0, 1, 4, 4] and leaf.n_unknown == 2 and leaf.n_categories == 5
    top = categories_from_paths(paths, 1)
    assert [top.names[c] for c in top.ids] == ["Beauty > Makeup", "Beauty > Skin Care", "Beauty > Bath",
                                               "Beauty > Makeup", UNKNOWN_CATEGORY, UNKNOWN_CATEGORY]
    two = categories_from_paths(paths, 2)
    assert two.n_shallow == 1 and two.names[two.ids[3]] == "Beauty > Makeup"  # ends above level 2: its own node
    assert categories_from_paths([["a"], ["b"]]).n_unknown == 0
    assert UNKNOWN_CATEGORY not in categories_from_paths([["a"], ["b"]]).names
    for bad in (-1, 1.5, True, "top"):
        with pytest.raises(ValueError, match="level must be 'leaf' or an integer depth >= 0"):
            categories_from_paths(paths, bad)  # type: ignore[arg-type]


def test_item_categories_follow_the_vocabulary_and_count_unknown_items(tmp_path: Path) -> None:
    rows = [{"item_id": 1, "categories": [["Toys", "Games"], ["Toys", "Puzzles"]]},
            {"item_id": 2, "categories": []},
            {"item_id": 3, "categories": [["Toys", "Dolls"]]}]
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    data = Interactions.from_raw([1, 1, 2, 2], [3, 1, 4, 2])  # item 4 has no row in items.jsonl
    ds = Dataset("toy", data, root=tmp_path)
    cats = item_categories(ds)
    names = [cats.names[c] for c in cats.ids]
    assert data.item_vocab.raw.tolist() == [1, 2, 3, 4]
    assert names == ["Toys > Games", UNKNOWN_CATEGORY, "Toys > Dolls", UNKNOWN_CATEGORY]  # first path only
    assert cats.n_unknown == 2
    with pytest.raises(FileNotFoundError, match="items.jsonl"):
        item_categories(Dataset("toy", data, root=tmp_path / "nowhere"))


@pytest.mark.parametrize(("name", "leaf", "top", "n_items"), [("amazon-beauty", 245, 6, 12101),
                                                                ("amazon-toys", 367, 24, 11924)])
def test_amazon_category_ids_cover_every_item(name: str, leaf: int, top: int, n_items: int) -> None:
    try:
        ds = data_loaders.load(name)
    except data_loaders.DatasetNotFoundError:
        pytest.skip(f"{name} is not staged under $RECPREF_DATA_DIR")
    cats = item_categories(ds)
    assert cats.ids.shape == (n_items,) and cats.n_unknown == 0
    assert cats.n_categories == leaf and np.bincount(cats.ids).min() >= 1
    assert item_categories(ds, level=1).n_categories == top
