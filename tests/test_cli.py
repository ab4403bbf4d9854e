from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recpref.cli import build_parser, main


@pytest.mark.parametrize("argv", [["--help"], ["datasets", "--help"], ["benchmark", "--help"]])
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage: recpref" in capsys.readouterr().out


def test_datasets_lists_every_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    import data_loaders

    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in data_loaders.names():
        assert name in out
    line = next(ln for ln in out.splitlines() if ln.startswith("ml-100k"))
    assert "yes" in line and "sha256 ok" in line


def test_benchmark_quick_writes_table_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["benchmark", "--dataset", "ml-100k", "--quick", "--models", "popularity,random,implicit-bpr,implicit-als",
                 "--output", str(tmp_path), "--k", "5", "20"])
    assert code == 0
    out = capsys.readouterr().out
    assert "| MostPopular |" in out and "| implicit ALS |" in out and "recall@20" in out
    blob = json.loads((tmp_path / "benchmark-ml-100k.json").read_text())
    rows = {r["name"]: r for r in blob["results"]}
    assert set(rows) == {"MostPopular", "Random", "implicit BPR", "implicit ALS"}
    assert rows["MostPopular"]["metrics"]["recall@20"] > 5 * rows["Random"]["metrics"]["recall@20"]
    assert blob["seed"] == 2020 and "random per-user 80%/20%" in blob["protocol"]
    assert (tmp_path / "benchmark-ml-100k.png").stat().st_size > 1000


def test_benchmark_rejects_unknown_model_before_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "--models", "popularity,xgboost", "--output", str(tmp_path)])
    assert exc.value.code == 2
    assert "--models: unknown model(s) ['xgboost']" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "recpref"
    if not exe.exists():
        pytest.skip("recpref console script not installed in this environment")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "benchmark" in out.stdout


def test_parser_defaults_follow_the_protocol() -> None:
    args = build_parser().parse_args(["benchmark"])
    assert args.dataset == "ml-100k" and args.seed == 2020 and args.test_ratio == 0.2


def test_train_saves_a_loadable_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from recpref.serving import Recommender

    out = tmp_path / "model"
    code = main(["train", "--dataset", "ml-100k", "--epochs", "2", "--output", str(out), "--no-progress",
                 "--k", "10"])
    assert code == 0
    text = capsys.readouterr().out
    assert "test: recall@10=" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 < metrics["test"]["metrics"]["recall@10"] < 1.0
    rec = Recommender.load(out)
    recs = rec.recommend(["196"], k=5)
    assert recs.height == 5 and recs["user_id"].to_list() == ["196"] * 5
    again = Recommender.load(out)
    assert torch.equal(rec.score_all(torch.arange(5)), again.score_all(torch.arange(5)))


def test_train_mnar_on_coat_with_popularity_propensities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import data_loaders

    try:
        data_loaders.load("coat")
    except data_loaders.DatasetNotFoundError:
        pytest.skip("coat is not staged under $RECPREF_DATA_DIR")
    out = tmp_path / "coat-relmf"
    code = main(["train", "--dataset", "coat", "--loss", "relmf", "--propensity", "popularity", "--clip", "0.01",
                 "--dim", "16", "--epochs", "3", "--batch-size", "256", "--no-progress", "--output", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "propensity popularity" in text and "clip 0.01" in text and "local squared" in text
    assert "test: dcg@1=" in text and "randomly shown test items" in text
    metrics = json.loads((out / "metrics.json").read_text())["test"]["metrics"]
    assert 0 < metrics["recall@5"] <= 1


def test_train_mnar_needs_a_biased_train_and_unbiased_test_split(capsys: pytest.CaptureFixture[str]) -> None:
    import data_loaders

    with pytest.raises(SystemExit):
        main(["train", "--dataset", "ml-100k", "--loss", "ubpr", "--epochs", "1", "--no-progress"])
    assert "has none" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "ml-100k", "--loss", "relmf", "--model", "lightgcn", "--no-progress"])
    assert "trains model mf only" in capsys.readouterr().err
    try:
        data_loaders.load("coat")
    except data_loaders.DatasetNotFoundError:
        pytest.skip("coat is not staged under $RECPREF_DATA_DIR")
    with pytest.raises(ValueError, match="needs propensities|zero or negative"):
        from recpref.serving import Recommender

        Recommender(loss="relmf", epochs=1).fit(data_loaders.load("coat").split().train, progress=False)


def test_train_with_many_per_positive_negatives_points_to_the_shared_pool(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--dataset", "ml-100k", "--loss", "ccl", "--n-neg", "100", "--epochs", "1",
                 "--batch-size", "8192", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0 and "test: recall@10=" in captured.out
    assert "--neg-pool 100" in captured.err
    main(["train", "--dataset", "ml-100k", "--loss", "ccl", "--neg-pool", "100", "--epochs", "1", "--no-progress"])
    assert "--neg-pool" not in capsys.readouterr().err  # already pooled: no note
