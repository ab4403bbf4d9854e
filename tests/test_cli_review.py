"""CLI defects found by outside review (issue 8): each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import data_loaders
from recpref.cli import main
from recpref.data import random_split


def test_train_refuses_predefined_protocol_without_a_split(capsys: pytest.CaptureFixture[str]) -> None:
    # defect 7: `train --protocol predefined` silently used a random split on ml-100k
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "ml-100k", "--protocol", "predefined", "--epochs", "1", "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--protocol predefined" in err and "ml-100k" in err
    assert "Traceback" not in err


def test_train_checks_output_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # defect 6: the directory was checked only after training; the message named overwrite=True
    (tmp_path / "keep.txt").write_text("x")
    from recpref.serving import Recommender

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before checking --output")

    monkeypatch.setattr(Recommender, "fit", no_training)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "1", "--no-progress", "--output", str(tmp_path)])
    assert exc.value.code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "x"


def test_bad_value_is_one_line_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "0", "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "--epochs" in err[-1]


def test_mnar_retrained_model_is_scored_with_its_own_clicks_masked(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # defect 2: after retraining on all of split.train the test ranking masked only the inner 80%
    ds = data_loaders.load("ml-100k")
    split = random_split(ds.interactions, test_ratio=0.2, seed=1)
    fake = data_loaders.Dataset(name="mnar-toy", interactions=ds.interactions,
                                splits={"train": split.train, "test": split.test})
    monkeypatch.setattr(data_loaders, "load", lambda name, root=None: fake)
    out = tmp_path / "model"
    main(["train", "--dataset", "mnar-toy", "--loss", "naive", "--epochs", "2", "--dim", "8", "--no-progress",
          "--k", "20", "--output", str(out)])
    from recpref.evaluation import evaluate
    from recpref.serving import Recommender

    rec = Recommender.load(out)
    assert rec.train is not None and rec.train.nnz == split.train.nnz
    expected = evaluate(rec.score_all, split.train, split.test, k=(20,), metrics=("recall",))["recall@20"]
    reported = json.loads((out / "metrics.json").read_text())["test"]["metrics"]["recall@20"]
    assert reported == pytest.approx(expected, abs=1e-12)
