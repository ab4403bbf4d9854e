"""Catalogue and example validation, SPRec's prompt wording, both styles, and truncation counts."""

from __future__ import annotations

from typing import Any

import pytest
from llm_fixtures import tiny_tokenizer  # noqa: F401 - pytest fixture

from recpref.llm import (
    ALPACA_TEMPLATE,
    ItemCatalog,
    NextItemExample,
    alpaca_prompt,
    default_plural,
    render_prompts,
    sprec_completion,
    sprec_input,
    sprec_instruction,
)

TITLES = ("Alpha", "Beta Two", 'Gamma "G"', "Delta", "Epsilon", "Zeta", "Eta", "Theta", "Iota", "Kappa")


@pytest.fixture()
def catalog() -> ItemCatalog:
    return ItemCatalog(TITLES, genres=tuple((i % 3,) for i in range(len(TITLES))), genre_names=("a", "b", "c"),
                       item_ids=tuple(f"raw{i}" for i in range(len(TITLES))))


# ----------------------------------------------------------------------------- catalogue
def test_catalog_lookup(catalog: ItemCatalog) -> None:
    assert len(catalog) == catalog.n_items == 10
    assert catalog.index_of('Gamma "G"') == 2 and "Delta" in catalog and "delta" not in catalog
    with pytest.raises(KeyError, match="'Omega' is not in the catalogue"):
        catalog.index_of("Omega")


def test_catalog_accepts_lists_and_stores_tuples() -> None:
    cat = ItemCatalog(["x", "y"], genres=[[0], []], genre_names=["g"])  # type: ignore[arg-type]
    assert cat.titles == ("x", "y") and cat.genres == ((0,), ()) and cat.genre_names == ("g",)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"titles": ("a", "b", "a")}, "duplicate title 'a': items 0 and 2"),
    ({"titles": ("a", " ")}, "title of item 1 must be a non-empty string"),
    ({"titles": ("a", "b\nc")}, "spans several lines"),
    ({"titles": ("a",), "genres": ((0,),)}, "genres and genre_names come together"),
    ({"titles": ("a",), "genres": ((1,),), "genre_names": ("g",)}, r"genre id\(s\) \[1\] outside 0..0"),
    ({"titles": ("a", "b"), "genres": ((0,),), "genre_names": ("g",)}, "genres has 1 entries for 2 titles"),
    ({"titles": ("a", "b"), "item_ids": ("1", "1")}, "duplicate item id '1'"),
])
def test_catalog_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemCatalog(**kwargs)


def test_example_validation() -> None:
    ex = NextItemExample("u", [1, 2], 3)  # type: ignore[arg-type]
    assert ex.history == (1, 2)
    with pytest.raises(ValueError, match="user 'u': history is empty"):
        NextItemExample("u", (), 1)
    with pytest.raises(ValueError, match=r"history holds \[-1\]"):
        NextItemExample("u", (0, -1), 1)
    with pytest.raises(ValueError, match="target -2"):
        NextItemExample("u", (0,), -2)


# ----------------------------------------------------------------------------- wording
def test_wording_and_alpaca_wrapper() -> None:
    assert default_plural("movie") == "movies" and default_plural("books") == "books"
    assert sprec_instruction("movie") == ("Given a list of movies the user recently enjoys, please recommend a new "
                                          "movie that the user may like")
    assert sprec_input(["A", 'B "b"'], "game") == ('The user has played the following games before: "A", "B "b"", '
                                                   "please write a new game that the user may bought")
    assert sprec_input(["A"], "person", "people").startswith("The user has played the following people before")
    assert sprec_completion("A") == '"A"\n'
    assert alpaca_prompt("I", "X") == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.  \n\n"
        "### Instruction:\nI\n\n### Input:\nX\n\n### Response:\n")
    assert ALPACA_TEMPLATE.count("{") == 2


def test_alpaca_render(catalog: ItemCatalog) -> None:
    ps = render_prompts([NextItemExample("u1", (0, 2), 3)], catalog, style="alpaca", noun="movie")
    assert ps.prompts == [alpaca_prompt(sprec_instruction("movie"), sprec_input(["Alpha", 'Gamma "G"'], "movie"))]
    assert ps.completions == ['"Delta"\n'] and ps.histories == [(0, 2)] and len(ps) == 1
    assert ps.truncation.n_truncated == 0 and "0 histories cut" in ps.summary()


def test_chat_render(catalog: ItemCatalog, tiny_tokenizer: Any) -> None:  # noqa: F811
    ex = NextItemExample("u1", (0, 1), 4)
    ps = render_prompts([ex], catalog, style="chat", tokenizer=tiny_tokenizer)
    content = sprec_instruction() + "\n" + sprec_input(["Alpha", "Beta Two"])
    assert ps.prompts == [f"<|user|>\n{content}\n<|assistant|>\n"]
    assert ps.completions == ['"Epsilon"\n']


# ----------------------------------------------------------------------------- truncation
def test_max_history_cuts_oldest_and_counts(catalog: ItemCatalog) -> None:
    examples = [NextItemExample("a", (0, 1, 2), 9), NextItemExample("b", (0, 1, 2, 3, 4), 9),
                NextItemExample("c", tuple(range(8)), 9)]
    ps = render_prompts(examples, catalog, style="alpaca", max_history=4)
    assert ps.histories == [(0, 1, 2), (1, 2, 3, 4), (4, 5, 6, 7)]
    t = ps.truncation
    assert (t.n_examples, t.n_cut_by_max_history, t.n_titles_cut_by_max_history, t.n_cut_by_tokens) == (3, 2, 5, 0)
    assert t.n_truncated == 2 and "2 histories cut to the last 4 items (5 items dropped)" in t.summary()
    assert '"Alpha"' not in ps.prompts[2] and '"Theta"' in ps.prompts[2]
    assert ps.examples == examples  # the examples keep their full histories


def _tokens(tokenizer: Any, text: str, special: bool) -> int:
    return len(tokenizer(text, add_special_tokens=special)["input_ids"])


@pytest.mark.parametrize("style", ["alpaca", "chat"])
def test_token_limit_drops_oldest_titles_one_at_a_time(catalog: ItemCatalog, tiny_tokenizer: Any,  # noqa: F811
                                                       style: str) -> None:
    history = (0, 1, 2, 3, 4, 5)
    short = render_prompts([NextItemExample("u", history[2:], 9)], catalog, style=style,  # type: ignore[arg-type]
                           tokenizer=tiny_tokenizer).prompts[0]
    limit = _tokens(tiny_tokenizer, short, special=style == "alpaca")
    examples = [NextItemExample("long", history, 9), NextItemExample("fits", (5,), 9)]
    ps = render_prompts(examples, catalog, style=style, tokenizer=tiny_tokenizer,  # type: ignore[arg-type]
                        max_history=5, max_prompt_tokens=limit)
    assert ps.histories == [(2, 3, 4, 5), (5,)] and ps.prompts[0] == short
    t = ps.truncation
    assert (t.n_cut_by_max_history, t.n_titles_cut_by_max_history, t.n_cut_by_tokens, t.n_titles_cut_by_tokens,
            t.n_truncated) == (1, 1, 1, 1, 1)
    assert f"1 cut further to fit {limit} prompt tokens (1 titles)" in ps.summary()
    # one token less no longer fits the 4-title prompt: a second title goes
    tighter = render_prompts(examples[:1], catalog, style=style, tokenizer=tiny_tokenizer,  # type: ignore[arg-type]
                             max_prompt_tokens=limit - 1)
    assert tighter.histories == [(3, 4, 5)] and tighter.truncation.n_titles_cut_by_tokens == 3


def test_alpaca_counts_the_bos_token(catalog: ItemCatalog, tiny_tokenizer: Any) -> None:  # noqa: F811
    ex = NextItemExample("u", (0, 1), 9)
    prompt = render_prompts([ex], catalog, style="alpaca").prompts[0]
    n = _tokens(tiny_tokenizer, prompt, special=True)
    assert n == _tokens(tiny_tokenizer, prompt, special=False) + 1
    ps = render_prompts([ex], catalog, style="alpaca", tokenizer=tiny_tokenizer, max_prompt_tokens=n)
    assert ps.truncation.n_cut_by_tokens == 0
    ps = render_prompts([ex], catalog, style="alpaca", tokenizer=tiny_tokenizer, max_prompt_tokens=n - 1)
    assert ps.histories == [(1,)]


def test_prompt_that_cannot_fit_names_the_example(catalog: ItemCatalog, tiny_tokenizer: Any) -> None:  # noqa: F811
    examples = [NextItemExample("ok", (0,), 1), NextItemExample("user-7", (0, 1), 2)]
    with pytest.raises(ValueError, match=r"example 0 \(user 'user-7'\).*single history item \('Beta Two'\).*"
                                         r"max_prompt_tokens=5"):
        render_prompts(examples[1:], catalog, style="alpaca", tokenizer=tiny_tokenizer, max_prompt_tokens=5)
    with pytest.raises(ValueError, match="user 'ok'"):
        render_prompts(examples, catalog, style="chat", tokenizer=tiny_tokenizer, max_prompt_tokens=5)


# ----------------------------------------------------------------------------- argument errors
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"style": "llama"}, "style must be one of 'alpaca', 'chat'; got 'llama'"),
    ({"style": "alpaca", "max_history": 0}, "max_history must be an integer >= 1; got 0"),
    ({"style": "alpaca", "max_history": 2.5}, "max_history must be an integer >= 1"),
    ({"style": "alpaca", "max_prompt_tokens": 100}, "max_prompt_tokens needs the tokenizer"),
    ({"style": "chat"}, "style='chat' needs the tokenizer"),
    ({"style": "alpaca", "noun": ""}, "noun must be a non-empty string"),
])
def test_bad_arguments(catalog: ItemCatalog, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_prompts([NextItemExample("u", (0,), 1)], catalog, **kwargs)


def test_max_prompt_tokens_must_be_positive(catalog: ItemCatalog, tiny_tokenizer: Any) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="max_prompt_tokens must be None or an integer >= 1; got 0"):
        render_prompts([NextItemExample("u", (0,), 1)], catalog, style="alpaca", tokenizer=tiny_tokenizer,
                       max_prompt_tokens=0)


def test_item_index_out_of_range(catalog: ItemCatalog) -> None:
    with pytest.raises(ValueError, match=r"example 1 \(user 'v'\) refers to item index\(es\) \[10\]; the catalogue "
                                         r"has 10 items"):
        render_prompts([NextItemExample("u", (0,), 1), NextItemExample("v", (0,), 10)], catalog, style="alpaca")


def test_chat_needs_a_chat_template(catalog: ItemCatalog, tiny_tokenizer: Any) -> None:  # noqa: F811
    import copy

    plain = copy.deepcopy(tiny_tokenizer)
    plain.chat_template = None
    with pytest.raises(ValueError, match="has no chat_template"):
        render_prompts([NextItemExample("u", (0,), 1)], catalog, style="chat", tokenizer=plain)
