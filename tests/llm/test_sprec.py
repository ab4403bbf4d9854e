"""The SPRec loop and its baselines (recpref.llm.sprec) on a tiny Llama: stages, self-play
rejected items, void pairs, negatives, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

import recpref.llm.sprec as sprec  # noqa: E402
from recpref.llm.grounding import constrained_beam_search  # noqa: E402
from recpref.llm.lm import build_tiny_lm  # noqa: E402
from recpref.llm.prompts import ItemCatalog, NextItemExample, render_prompts  # noqa: E402
from recpref.llm.sprec import SPRecConfig, run_sprec, self_play_rejected  # noqa: E402

TITLES = ("Dune", "Dune Messiah", "Emma", "The Hobbit", "Ulysses", "Middlemarch", "Beloved", "Rebecca")
CATALOG = ItemCatalog(titles=TITLES, genres=((0,), (0,), (1,), (0, 2), (1,), (1,), (2,), (1, 2)),
                      genre_names=("sf", "classic", "other"))


def _examples(n: int, seed: int) -> list[NextItemExample]:
    rng = np.random.default_rng(seed)
    out = []
    for u in range(n):
        items = rng.permutation(len(TITLES))[:4]
        out.append(NextItemExample(user=f"u{seed}-{u}", history=tuple(int(i) for i in items[:3]), target=int(items[3])))
    return out


TRAIN, EVAL = _examples(24, 0), _examples(6, 1)


@pytest.fixture(scope="module")
def base(tmp_path_factory):  # type: ignore[no-untyped-def]
    texts = render_prompts(TRAIN + EVAL, CATALOG, style="alpaca", noun="book")
    directory = tmp_path_factory.mktemp("tiny")
    build_tiny_lm(texts.prompts + texts.completions, directory, vocab_size=400, seed=2)
    return directory


def _model(base):  # type: ignore[no-untyped-def]
    from recpref.llm.lm import load_causal_lm

    return load_causal_lm(base)


SMALL = dict(sft0_prompts=8, iteration_prompts=8, batch_size=4, num_beams=4, k=(1, 4), groundings=("beam",),
             rejected_from="trie", lora_r=4, warmup_steps=0, sft_lr=1e-3, dpo_lr=1e-3)


def test_sprec_runs_every_stage_and_counts_pairs(base, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, tok = _model(base)
    result = run_sprec(model, tok, CATALOG, TRAIN, EVAL, SPRecConfig(method="sprec", iterations=2, **SMALL),
                       tmp_path / "run", noun="book", progress=False, accelerator="cpu", log=lambda s: None)
    assert [e["stage"] for e in result.evaluations] == ["sft0", "sft1", "dpo1", "sft2", "dpo2"]
    for e in result.evaluations:
        assert e["n_rows"] == len(EVAL) and 0 <= e["hit@4"] <= 1 and e["hit@1"] <= e["hit@4"]
        assert "mgu@4" in e and "popularity@1" in e
    for r in result.reports[1:]:
        assert r["pairs"] + r["void_pairs"] + r["unparseable"] == r["prompts"] == 8
        assert r["unparseable"] == 0  # trie decoding always yields a catalogue item
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["done"] == ["sft0", "sft1", "dpo1", "sft2", "dpo2"] and not state["pending"]
    assert (tmp_path / "run" / "trainable.safetensors").is_file()


def test_rejected_items_are_the_models_own_predictions(base, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model, tok = _model(base)
    seen: dict[str, object] = {}
    real_rejected = sprec.self_play_rejected

    def spy_rejected(m, tk, prompts, trie, grounder, **kw):  # type: ignore[no-untyped-def]
        items, texts = real_rejected(m, tk, prompts, trie, grounder, **kw)
        # what the model predicts, decoded independently, at the moment the pairs are drawn
        own = constrained_beam_search(m, tk, list(prompts), trie, num_beams=1)[:, 0]
        np.testing.assert_array_equal(items, own)
        seen["predicted"], seen["prompts"] = items.copy(), list(prompts)
        return items, texts

    real_pref = sprec._Run.preference_batches

    def spy_pref(self, prompts, rejected, rng):  # type: ignore[no-untyped-def]
        seen["rejected"], seen["kept_prompts"] = [r[0] for r in rejected], list(prompts.prompts)
        seen["kept_targets"] = [ex.target for ex in prompts.examples]
        return real_pref(self, prompts, rejected, rng)

    monkeypatch.setattr(sprec, "self_play_rejected", spy_rejected)
    monkeypatch.setattr(sprec._Run, "preference_batches", spy_pref)
    run_sprec(model, tok, CATALOG, TRAIN, EVAL, SPRecConfig(method="sprec", iterations=1, **SMALL), tmp_path / "r",
              noun="book", progress=False, accelerator="cpu", log=lambda s: None)
    predicted = dict(zip(seen["prompts"], seen["predicted"]))  # type: ignore[call-overload]
    assert seen["rejected"] == [int(predicted[p]) for p in seen["kept_prompts"]]  # type: ignore[attr-defined]
    assert all(r != t for r, t in zip(seen["rejected"], seen["kept_targets"]))  # type: ignore[call-overload]


def test_void_pairs_and_unparseable_generations_are_dropped(base, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model, tok = _model(base)

    def fake(m, tk, prompts, trie, grounder, **kw):  # type: ignore[no-untyped-def]
        by_prompt = {p: ex.target for p, ex in zip(render_prompts(TRAIN, CATALOG, style="alpaca", noun="book",
                                                                  tokenizer=tk, max_prompt_tokens=512).prompts, TRAIN)}
        targets = np.array([by_prompt[p] for p in prompts])
        out = (targets + 1) % len(TITLES)
        out[:3] = targets[:3]  # three correct predictions: void pairs
        out[3] = -1  # an unparseable generation
        return out, [None] * len(prompts)

    captured: dict[str, list[list[int]]] = {}
    real_pref = sprec._Run.preference_batches

    def spy_pref(self, prompts, rejected, rng):  # type: ignore[no-untyped-def]
        captured["rejected"] = rejected
        return real_pref(self, prompts, rejected, rng)

    monkeypatch.setattr(sprec, "self_play_rejected", fake)
    monkeypatch.setattr(sprec._Run, "preference_batches", spy_pref)
    result = run_sprec(model, tok, CATALOG, TRAIN, EVAL, SPRecConfig(method="sprec", iterations=1, **SMALL),
                       tmp_path / "r", noun="book", progress=False, accelerator="cpu", log=lambda s: None)
    report = result.reports[1]
    assert (report["void_pairs"], report["unparseable"], report["pairs"]) == (3, 1, 4)
    assert len(captured["rejected"]) == 4


@pytest.mark.parametrize("method,extra", [("dpo-random", {}), ("dpo-popular", {}), ("sdpo", {"n_negatives": 2})])
def test_baselines_draw_negatives_that_are_never_the_target(base, tmp_path, monkeypatch, method, extra) -> None:  # type: ignore[no-untyped-def]
    model, tok = _model(base)
    captured: dict[str, object] = {}
    real_pref = sprec._Run.preference_batches

    def spy_pref(self, prompts, rejected, rng):  # type: ignore[no-untyped-def]
        captured["rejected"], captured["targets"] = rejected, [ex.target for ex in prompts.examples]
        return real_pref(self, prompts, rejected, rng)

    monkeypatch.setattr(sprec._Run, "preference_batches", spy_pref)
    result = run_sprec(model, tok, CATALOG, TRAIN, EVAL, SPRecConfig(method=method, iterations=1, **SMALL, **extra),
                       tmp_path / "r", noun="book", progress=False, accelerator="cpu", log=lambda s: None)
    n = extra.get("n_negatives", 1)
    rejected, targets = captured["rejected"], captured["targets"]
    assert len(rejected) == 8 and all(len(r) == n and len(set(r)) == n for r in rejected)  # type: ignore[arg-type]
    assert all(t not in r for r, t in zip(rejected, targets))  # type: ignore[call-overload]
    assert result.reports[1]["pairs"] == 8


def test_sft_only_and_resume_equals_an_uninterrupted_run(base, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = SPRecConfig(method="dpo-random", iterations=1, **SMALL)
    model, tok = _model(base)
    full = run_sprec(model, tok, CATALOG, TRAIN, EVAL, cfg, tmp_path / "full", noun="book", progress=False,
                     accelerator="cpu", log=lambda s: None)

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    model, tok = _model(base)
    monkeypatch.setattr(sprec, "reference_logprobs", boom, raising=False)
    import recpref.modules.llm as mod

    monkeypatch.setattr(mod, "reference_logprobs", boom)
    with pytest.raises(KeyboardInterrupt):  # interrupted after sft1, before DPO
        run_sprec(model, tok, CATALOG, TRAIN, EVAL, cfg, tmp_path / "cut", noun="book", progress=False,
                  accelerator="cpu", log=lambda s: None)
    assert json.loads((tmp_path / "cut" / "state.json").read_text())["done"] == ["sft0", "sft1"]
    monkeypatch.undo()
    model, tok = _model(base)  # a fresh process would start from the base model again
    resumed = run_sprec(model, tok, CATALOG, TRAIN, EVAL, cfg, tmp_path / "cut", noun="book", progress=False,
                        accelerator="cpu", log=lambda s: None)
    assert [e["stage"] for e in resumed.evaluations] == ["sft0", "sft1", "dpo1"]
    for a, b in zip(full.evaluations, resumed.evaluations):
        assert a == pytest.approx(b)
    with pytest.raises(ValueError, match="other settings .*beta"):
        run_sprec(*_model(base), CATALOG, TRAIN, EVAL, SPRecConfig(method="dpo-random", beta=0.2, **SMALL),
                  tmp_path / "cut", noun="book", progress=False, accelerator="cpu", log=lambda s: None)


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        SPRecConfig(method="ppo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sdpo.*n_negatives >= 2"):
        SPRecConfig(method="sdpo")
    with pytest.raises(ValueError, match="n_negatives applies to method 'sdpo'"):
        SPRecConfig(method="sprec", n_negatives=3)
    with pytest.raises(ValueError, match="k must be"):
        SPRecConfig(k=(1, 20), num_beams=10)
    with pytest.raises(ValueError, match="rejected_from"):
        SPRecConfig(rejected_from="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iterations"):
        SPRecConfig(iterations=0)


def test_self_play_rejected_trie_matches_greedy_constrained(base) -> None:  # type: ignore[no-untyped-def]
    model, tok = _model(base)
    from recpref.llm.grounding import TitleTrie

    trie = TitleTrie(tok, TITLES)
    prompts = render_prompts(EVAL, CATALOG, style="alpaca", noun="book").prompts
    items, texts = self_play_rejected(model, tok, prompts, trie, lambda: None,  # type: ignore[arg-type,return-value]
                                      rejected_from="trie")
    assert texts == [None] * len(prompts) and bool(((items >= 0) & (items < len(TITLES))).all())


def test_stage0_from_shares_the_sft_model(base, tmp_path) -> None:  # type: ignore[no-untyped-def]
    quiet = dict(noun="book", progress=False, accelerator="cpu", log=lambda s: None)
    sft = run_sprec(*_model(base), CATALOG, TRAIN, EVAL, SPRecConfig(method="sft", **SMALL), tmp_path / "sft", **quiet)
    cfg = SPRecConfig(method="dpo-random", iterations=1, **SMALL)
    own = run_sprec(*_model(base), CATALOG, TRAIN, EVAL, cfg, tmp_path / "own", **quiet)
    shared = run_sprec(*_model(base), CATALOG, TRAIN, EVAL, cfg, tmp_path / "shared", stage0_from=tmp_path / "sft",
                       **quiet)
    assert shared.evaluations[0] == {**sft.evaluations[0], "method": "dpo-random"}
    for a, b in zip(own.evaluations, shared.evaluations):  # stage 0 is deterministic: the same run either way
        assert a == pytest.approx(b)
    with pytest.raises(ValueError, match="other settings .*seed"):
        run_sprec(*_model(base), CATALOG, TRAIN, EVAL, SPRecConfig(method="dpo-random", **{**SMALL, "seed": 1}),
                  tmp_path / "other", stage0_from=tmp_path / "sft", **quiet)
    with pytest.raises(ValueError, match="past stage 0"):
        run_sprec(*_model(base), CATALOG, TRAIN, EVAL, SPRecConfig(method="sprec", **SMALL), tmp_path / "x",
                  stage0_from=tmp_path / "own", **quiet)
