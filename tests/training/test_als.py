"""The ``als`` family: implicit's solver behind the training core, so Recommender, evaluate and
save/load treat weighted-MF ALS like any other model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import data_loaders
from recpref.benchmarking.implicit_runner import ImplicitALS
from recpref.cli import main
from recpref.data import random_split
from recpref.evaluation import evaluate
from recpref.serving import Recommender
from recpref.training import settings_from_flat


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    return random_split(data_loaders.load("ml-100k").interactions, test_ratio=0.2, seed=2020)


def test_als_through_the_core_equals_implicit_and_round_trips(split, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rec = Recommender(loss="als", dim=16, epochs=5, reg=1.0, alpha=3.0, seed=7).fit(split.train, progress=False)
    assert rec.engine == "implicit-als"
    peer = ImplicitALS(factors=16, regularization=1.0, alpha=3.0, iterations=5, num_threads=0)
    peer.fit(split.train, seed=7)
    users = torch.arange(split.train.n_users)
    torch.testing.assert_close(rec.score_all(users), peer.score_all(users))
    ours = evaluate(rec.score_all, split.train, split.test, k=(20,), metrics=("recall",))["recall@20"]
    assert ours > 0.2  # far above MostPopular's 0.17 on this split
    again = Recommender.load(rec.save(tmp_path / "als"))
    assert again.config.alpha == 3.0 and torch.equal(again.score_all(users), rec.score_all(users))
    assert again.recommend("196", k=5).height == 5


@pytest.mark.parametrize(("settings", "error"), [
    ({"loss": "als", "lr": 0.1}, r"\['lr'\] apply to the pairwise losses"),
    ({"loss": "als", "alpha": -1.0}, "alpha must be a finite number"),
    ({"loss": "als", "model": "lightgcn"}, "trains model mf only"),
    ({"loss": "bpr", "alpha": 2.0}, r"\['alpha'\] apply to the ALS loss als"),
])
def test_als_settings_are_validated(settings: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        settings_from_flat(**settings)


def test_cli_trains_als_and_refuses_gradient_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--loss", "als", "--dim", "16", "--epochs", "3", "--alpha", "3", "--valid-ratio", "0",
                 "--no-progress"]) == 0
    assert "test: recall@10=" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--loss", "als", "--lr", "0.01", "--no-progress"])
    assert "--lr applies to the gradient-trained losses, not --loss als" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--loss", "bpr", "--alpha", "2", "--no-progress"])
    assert "--alpha applies to the ALS loss" in capsys.readouterr().err
