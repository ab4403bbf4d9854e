"""Defects found by outside review (issue 8): each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recpref.data import Interactions
from recpref.serving import Recommender


def _data(n_users: int = 60, n_items: int = 30) -> Interactions:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n_users), 8)
    items = np.concatenate([rng.choice(n_items, 8, replace=False) for _ in range(n_users)])
    return Interactions.from_raw(users + 100, items + 1000)


@pytest.fixture(scope="module")
def fitted() -> Recommender:
    return Recommender(model="mf", epochs=2, batch_size=64, dim=8, seed=0).fit(_data(), progress=False)


def test_recommend_takes_one_raw_id_as_one_user(fitted: Recommender) -> None:
    # defect 3: a string id was iterated character by character
    data = Interactions.from_raw(np.array(["196", "196", "1", "9", "6"]), np.array(["a", "b", "a", "b", "c"]))
    rec = Recommender(model="mf", epochs=1, dim=4, batch_size=4).fit(data, progress=False)
    out = rec.recommend("196", k=1)
    assert out["user_id"].to_list() == ["196"]
    out = fitted.recommend(101, k=3)
    assert out.height == 3 and set(out["user_id"].to_list()) == {101}


@pytest.mark.parametrize(("setting", "value", "names"), [
    ("negatives", "uniformm", ["uniform", "popularity"]),
    ("loss", "bogus", ["bpr", "bpo", "nbpo", "nbpo_exact", "naive", "relmf", "snips", "dr", "wmf", "ubpr"]),
    ("model", "gru", ["mf", "lightgcn", "ngcf"]),
    ("optimizer", "rmsprop", ["adam", "sgd", "adagrad"]),
    ("stream", "all", ["interactions", "users", "shuffle"]),
    ("init", "zeros", ["normal", "xavier"]),
    ("engine", "gpu", ["auto", "lightning", "fused"]),
    ("monitor", "auc", ["recall", "ndcg", "f1"]),
])
def test_every_choice_is_validated_at_construction(setting: str, value: str, names: list[str]) -> None:
    # defect 4: negatives="uniformm" trained with popularity sampling on the fused engine
    with pytest.raises(ValueError, match=setting) as exc:
        Recommender(**{setting: value})
    for name in names:
        assert repr(name) in str(exc.value) or name in str(exc.value)


@pytest.mark.parametrize(("setting", "value"), [
    ("reg", -1.0), ("reg", float("nan")), ("lr", float("inf")), ("dim", 0), ("n_layers", -1),
    ("message_dropout", 1.0), ("batch_size", 0), ("epochs", 0), ("n_neg", 0),
])
def test_numeric_settings_are_validated_at_construction(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=setting):
        Recommender(**{setting: value})


@pytest.mark.parametrize("engine", ["fused", "lightning"])
def test_diverged_fit_raises_a_clear_error(engine: str) -> None:
    # defect 5: lr=1e30 gave empty recommendations (lightning) or a raw ZeroDivisionError (fused)
    rec = Recommender(model="mf", epochs=3, batch_size=64, dim=8, lr=1e30, engine=engine)
    with pytest.raises(FloatingPointError, match="lr"):
        rec.fit(_data(), progress=False, accelerator="cpu")


def test_nan_weights_refuse_to_recommend(fitted: Recommender) -> None:
    # defect 5: a model whose weights are NaN gave empty recommendations with no error
    rec = fitted
    assert rec.encoder is not None
    saved = {k: v.clone() for k, v in rec.encoder.state_dict().items()}
    try:
        with torch.no_grad():
            rec.encoder.user_emb.weight[3] = float("nan")  # type: ignore[union-attr,index]
        with pytest.raises(ValueError, match="NaN"):
            rec.recommend([103], k=3)
    finally:
        rec.encoder.load_state_dict(saved)


def test_best_epoch_is_the_epoch_whose_weights_were_kept() -> None:
    from recpref.data import random_split

    split = random_split(_data(), test_ratio=0.25, seed=0)
    rec = Recommender(model="mf", epochs=6, batch_size=64, dim=8, lr=0.05, seed=0, engine="lightning")
    rec.fit(split.train, valid=split.test, progress=False)
    recalls = [h["val/recall@20"] for h in rec.history]
    assert rec.best_epoch == int(np.argmax(recalls))
    assert Recommender(model="mf", epochs=2, dim=4, batch_size=64).fit(_data(), progress=False).best_epoch == 1
