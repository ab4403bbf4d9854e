from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from recpref.data import Interactions, random_split
from recpref.evaluation import evaluate
from recpref.serving import Recommender, RecommenderConfig


def _clustered(n_users: int = 80, n_items: int = 40, str_ids: bool = True) -> Interactions:
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(n_users):
        pool = np.arange(n_items // 2) + (n_items // 2) * (u % 2)
        chosen = rng.choice(pool, size=12, replace=False)
        users += [u] * chosen.size
        items += chosen.tolist()
    if str_ids:
        return Interactions.from_raw([f"user-{u}" for u in users], [f"item-{i}" for i in items])
    return Interactions.from_raw(np.asarray(users) + 100, np.asarray(items) + 1000)


@pytest.fixture(scope="module")
def fitted() -> Recommender:
    return Recommender(model="mf", epochs=15, batch_size=128, lr=0.02, dim=16, seed=1).fit(_clustered(), progress=False)


def test_recommend_returns_raw_ids_and_excludes_seen(fitted: Recommender) -> None:
    out = fitted.recommend(["user-3", "user-4"], k=5)
    assert out.columns == ["user_id", "rank", "item_id", "score"]
    assert out.height == 10 and out["rank"].to_list() == [1, 2, 3, 4, 5] * 2
    train = fitted.train
    assert train is not None
    for uid in ("user-3", "user-4"):
        u = int(train.user_vocab.index(np.array([uid]))[0])
        seen = set(train.item_vocab.to_raw(train.items_of(u)).tolist())
        recs = out.filter(out["user_id"] == uid)
        assert not seen & set(recs["item_id"].to_list())
        scores = recs["score"].to_numpy()
        assert np.all(np.diff(scores) <= 0)
    # user-3 is odd: its unseen cluster items (20..39) should come first
    odd = out.filter(out["user_id"] == "user-3")["item_id"].to_list()
    assert sum(int(i.split("-")[1]) >= 20 for i in odd) >= 4


def test_recommend_with_seen_included(fitted: Recommender) -> None:
    out = fitted.recommend(["user-3"], k=40, exclude_seen=False)
    assert out.height == 40


def test_recommend_fewer_rows_when_user_has_few_unseen_items(fitted: Recommender) -> None:
    out = fitted.recommend(["user-3"], k=40)
    assert out.height == 40 - 12


def test_recommend_errors(fitted: Recommender) -> None:
    with pytest.raises(KeyError, match="nobody"):
        fitted.recommend(["user-1", "nobody"], k=3)
    with pytest.raises(ValueError, match="positive integer"):
        fitted.recommend(["user-1"], k=0)
    with pytest.raises(ValueError, match="exceeds the number of items"):
        fitted.recommend(["user-1"], k=41)
    with pytest.raises(ValueError, match="non-empty"):
        fitted.recommend([], k=3)
    with pytest.raises(RuntimeError, match="not fitted"):
        Recommender().recommend(["user-1"], k=1)


def test_save_load_round_trip_identical_scores(fitted: Recommender, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "rec")
    meta = json.loads((path / "config.json").read_text())
    assert meta["config"]["dim"] == 16 and meta["user_vocab"]["type"] == "str"
    loaded = Recommender.load(path)
    users = torch.arange(80)
    assert torch.equal(fitted.score_all(users), loaded.score_all(users))
    a = fitted.recommend(["user-7", "user-8"], k=7)
    b = loaded.recommend(["user-7", "user-8"], k=7)
    assert a.equals(b)
    with pytest.raises(FileExistsError):
        fitted.save(path)
    fitted.save(path, overwrite=True)


def test_save_load_int_ids_and_lightgcn(tmp_path: Path) -> None:
    data = _clustered(str_ids=False)
    rec = Recommender(model="lightgcn", epochs=3, batch_size=256, dim=8, n_layers=2).fit(data, progress=False)
    loaded = Recommender.load(rec.save(tmp_path / "lg"))
    assert torch.equal(rec.score_all(torch.arange(10)), loaded.score_all(torch.arange(10)))
    assert loaded.recommend([101], k=2)["item_id"].dtype.is_integer()


def test_load_rejects_missing_files_and_never_unpickles(tmp_path: Path) -> None:
    from recpref.serving.persistence import ModelFileError

    with pytest.raises(ModelFileError, match="config.json"):
        Recommender.load(tmp_path)


def test_validation_keeps_best_weights_and_early_stops() -> None:
    split = random_split(_clustered(), test_ratio=0.25, seed=0)
    rec = Recommender(model="mf", epochs=40, batch_size=128, lr=0.05, dim=16, patience=3, seed=0)
    rec.fit(split.train, valid=split.test, progress=False)
    recalls = [h["val/recall@20"] for h in rec.history if "val/recall@20" in h]
    assert recalls and len(rec.history) <= 40
    final = evaluate(rec.score_all, split.train, split.test, k=20, metrics=("recall",))["recall@20"]
    assert final == pytest.approx(max(recalls), abs=1e-6)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="model must be"):
        RecommenderConfig.of(model="svd")
    with pytest.raises(ValueError, match="lr"):
        Recommender(lr=-1.0)
    with pytest.raises(TypeError, match="unknown setting"):
        Recommender(learning_rate=0.1)


@pytest.mark.parametrize("loss", ["bpr", "bpo"])
def test_fused_engine_equals_lightning_engine(loss: str) -> None:
    """engine='auto' picks the fused kernel for MF + BPR/BPO on CPU; it keeps the same best
    epoch, history and weights as the Lightning path."""
    split = random_split(_clustered(), test_ratio=0.25, seed=0)
    kw = dict(model="mf", loss=loss, epochs=12, batch_size=128, lr=0.05, dim=16, patience=3, seed=0, reg=1e-3)
    fused = Recommender(engine="auto", **kw).fit(split.train, valid=split.test, progress=False)  # type: ignore[arg-type]
    light = Recommender(engine="lightning", **kw).fit(split.train, valid=split.test,  # type: ignore[arg-type]
                                                      progress=False, accelerator="cpu")
    assert [h["val/recall@20"] for h in fused.history] == pytest.approx(
        [h["val/recall@20"] for h in light.history], abs=1e-6)
    users = torch.arange(split.train.n_users)
    torch.testing.assert_close(fused.score_all(users), light.score_all(users), rtol=1e-4, atol=1e-5)


def test_fused_engine_refuses_other_settings() -> None:
    with pytest.raises(ValueError, match="engine 'fused' trains MF with loss bpr or bpo"):
        Recommender(engine="fused", loss="nbpo")
    with pytest.raises(ValueError, match="engine must be"):
        Recommender(engine="jit")  # type: ignore[arg-type]


def test_mnar_recommender_round_trips_and_checks_its_inputs(tmp_path: Path) -> None:
    from recpref.simulation import SemiSynthetic, low_rank_relevance, popularity_exposure

    sim = SemiSynthetic(low_rank_relevance(50, 30, dim=3, offset=-1.0), popularity_exposure(np.linspace(1, 0.05, 30)))
    clicks = sim.draw(0).to_interactions()
    rec = Recommender(model="mf", loss="ubpr", dim=8, epochs=3, batch_size=128, nonneg=0.01, seed=0)
    rec.fit(clicks, progress=False, propensity=sim.theta)
    assert len(rec.history) == 3
    path = rec.save(tmp_path / "ubpr")
    again = Recommender.load(path)
    assert again.config.loss == "ubpr" and again.config.nonneg == 0.01
    users = torch.arange(clicks.n_users)
    assert torch.equal(rec.score_all(users), again.score_all(users))
    from recpref.data import random_split

    split = random_split(clicks, test_ratio=0.2, seed=0)
    early = Recommender(model="mf", loss="relmf", local="squared", dim=8, epochs=8, batch_size=128, lr=0.01,
                        patience=2, monitor_k=5, seed=0)
    early.fit(split.train, valid=split.test, progress=False, propensity=sim.theta)
    values = [h["val/snips_dcg@5"] for h in early.history if "val/snips_dcg@5" in h]
    assert values and "val/dcg@5" in early.history[0]
    final = evaluate(early.score_all, split.train, split.test, k=5, metrics=("snips_dcg",), propensity=sim.theta)
    assert final["snips_dcg@5"] == pytest.approx(max(values), abs=1e-6)  # the best epoch's weights are kept
    with pytest.raises(ValueError, match="apply to the MNAR losses"):
        Recommender(loss="bpr").fit(clicks, propensity=sim.theta, progress=False)
    with pytest.raises(ValueError, match="trains model mf only"):
        Recommender(loss="relmf", model="lightgcn")
