"""`recpref train` with a sequence model: the leave-one-out protocol on amazon-beauty, saved and
loaded; flags that do not apply are refused in one line naming the flag, before any data work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recpref.cli import main


def test_train_help_names_the_sequence_models_and_their_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "leave-one-out" in out and "comirec-sa" in out and "--max-len" in out and "--mask-history" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "comirec-sa", "--reg", "0.1"],
     "--reg applies to the interaction models (mf, lightgcn, ngcf), not --model comirec-sa"),
    (["--model", "sasrec", "--layers", "2", "--engine", "fused"], "--layers, --engine apply to the interaction models"),
    (["--model", "mind", "--protocol", "random"], "--protocol applies to the interaction models"),
    (["--model", "comirec-sa", "--power", "2"], "--power applies to model mind, not 'comirec-sa'"),
    (["--model", "sasrec", "--interests", "2"], "--interests applies to model mind, comirec-dr, comirec-sa"),
    (["--model", "mean", "--blocks", "3"], "--blocks applies to model sasrec, not 'mean'"),
    (["--model", "mf", "--max-len", "20"], "--max-len applies to the sequence models (mind, comirec-dr"),
    (["--model", "lightgcn", "--mask-history"], "--mask-history applies to the sequence models"),
    (["--model", "sasrec", "--loss", "bpr"], "--loss bpr does not train the sequence models"),
    (["--model", "mf", "--loss", "full"], "--loss full trains the sequence models"),
    (["--model", "mind", "--loss", "full", "--n-neg", "10"], "--n-neg applies to loss ssm (sampled softmax), not 'full'"),
    (["--model", "mind", "--max-len", "0"], "--max-len must be an integer >= 1; got 0"),
    (["--model", "comirec-dr", "--routing-iterations", "0"], "--routing-iterations must be an integer >= 1"),
    (["--model", "sasrec", "--dropout", "1.5"], "--dropout must be a finite number in [0, 1)"),
    (["--model", "mean", "--min-history", "0"], "--min-history must be an integer >= 1"),
])
def test_inapplicable_or_bad_sequence_flags_are_one_line_errors(argv: list[str], message: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "no-such-dataset", *argv, "--no-progress"])  # refused before loading data
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err, err


def test_one_epoch_of_comirec_sa_on_amazon_beauty_trains_saves_and_loads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import data_loaders

    try:
        data_loaders.load("amazon-beauty")
    except data_loaders.DatasetNotFoundError:
        pytest.skip("amazon-beauty is not staged under $RECPREF_DATA_DIR")
    out = tmp_path / "beauty-sa"
    code = main(["train", "--dataset", "amazon-beauty", "--model", "comirec-sa", "--epochs", "1",
                 "--steps-per-epoch", "5", "--dim", "16", "--max-len", "20", "--n-neg", "200",
                 "--negatives", "popularity", "--accelerator", "cpu", "--no-progress", "--output", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "leave-one-out over 22363 users" in text
    assert "test: recall@5=" in text and "ndcg@10=" in text and "all items ranked" in text
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["n_users"] == 22363 and 0.0 <= saved["test"]["metrics"]["recall@10"] <= 1.0
    assert [h["epoch"] for h in saved["history"]] == [0.0] and "val/recall@10" in saved["history"][0]

    from recpref.serving import Recommender

    rec = Recommender.load(out)
    assert rec.config.model.model == "comirec-sa" and rec.config.max_len == 20 and rec.config.negatives == "popularity"
    known = rec.recommend([1], k=5)  # user 1 of Beauty.txt
    assert known.height == 5
    fresh = rec.recommend_history([1, 2, 3], k=5)
    assert fresh.height == 5 and not {1, 2, 3} & set(fresh["item_id"].to_list())
