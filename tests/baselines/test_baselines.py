from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.baselines import MostPopular, RandomScorer
from recpref.data import Interactions
from recpref.evaluation import evaluate


def _train() -> Interactions:
    # item 2 most popular (3), then item 0 (2), then 1 (1); item 3 never seen
    return Interactions.from_indices([0, 1, 2, 0, 1, 2], [2, 2, 2, 0, 0, 1], n_users=3, n_items=4)


def test_most_popular_scores_are_training_counts() -> None:
    mp = MostPopular().fit(_train())
    s = mp.score_all(torch.tensor([0, 2]))
    assert s.shape == (2, 4)
    assert s[0].tolist() == [2.0, 1.0, 3.0, 0.0]
    assert torch.equal(s[0], s[1])


def test_most_popular_recommends_most_popular_unseen_item() -> None:
    train = _train()
    test = Interactions.from_indices([2], [0], n_users=3, n_items=4)  # user 2 saw 2 and 1
    r = evaluate(MostPopular().fit(train).score_all, train, test, k=1, metrics=("hit",))
    assert r["hit@1"] == 1.0


def test_random_is_a_function_of_seed_user_item() -> None:
    rs = RandomScorer(seed=3).fit(_train())
    full = rs.score_all(torch.arange(3))
    assert torch.equal(full[1:2], rs.score_all(torch.tensor([1])))
    assert not torch.equal(full, RandomScorer(seed=4).fit(_train()).score_all(torch.arange(3)))
    assert float(full.min()) >= 0.0 and float(full.max()) < 1.0


def test_random_scores_are_roughly_uniform() -> None:
    data = Interactions.from_indices([0], [0], n_users=500, n_items=200)
    s = RandomScorer(seed=1).fit(data).score_all(torch.arange(500)).numpy().ravel()
    hist, _ = np.histogram(s, bins=10, range=(0, 1))
    assert np.all(np.abs(hist / s.size - 0.1) < 0.01)


def test_unfitted_baselines_raise() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        MostPopular().score_all(torch.tensor([0]))
    with pytest.raises(RuntimeError, match="not fitted"):
        RandomScorer().score_all(torch.tensor([0]))
