"""SPRec Goodreads and ml-100k next-item loaders, title parsing, and the seeded split by user.

The Goodreads tests skip with a reason when ``$RECPREF_DATA_DIR/sprec-goodreads`` is absent;
ml-100k is read from the recbole wheel and never skips."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from data_loaders.llm_data import (
    ML100K_GENRES,
    SPREC_GOODREADS_NOUN,
    load_ml100k_next_item,
    load_sprec_goodreads,
    parse_title_list,
    split_examples,
)
from data_loaders.movielens import recbole_ml100k_dir
from recpref.llm import ItemCatalog, NextItemExample, alpaca_prompt, render_prompts, sprec_input, sprec_instruction

SHARED = Path(os.environ.get("RECPREF_DATA_DIR", "../shared/datasets"))
N_SPREC_ITEMS = 4058


@pytest.fixture(scope="module")
def goodreads_root() -> Path:
    root = SHARED / "sprec-goodreads"
    if not root.is_dir():
        pytest.skip(f"sprec-goodreads not found under {root}; set RECPREF_DATA_DIR to the shared datasets directory")
    return root


@pytest.fixture(scope="module")
def goodreads(goodreads_root: Path) -> tuple[ItemCatalog, list[NextItemExample]]:
    return load_sprec_goodreads(goodreads_root)


@pytest.fixture(scope="module")
def samples(goodreads_root: Path) -> list[dict[str, str]]:
    data: list[dict[str, str]] = json.loads((goodreads_root / "train.json").read_text(encoding="utf-8"))
    return data


# ----------------------------------------------------------------------------- parsing
def test_parse_title_list_keeps_quoted_titles_whole() -> None:
    known = {'A "x", "y" B': 0, "C": 1, 'D "It"': 2}
    text = 'pre: "A "x", "y" B", "C", "unknown", "D "It"", post'
    assert parse_title_list(text, known, prefix="pre: ", suffix=", post") == ['A "x", "y" B', "C", "unknown", 'D "It"']
    with pytest.raises(ValueError, match="expected 'pre: '"):
        parse_title_list("other text", known, prefix="pre: ", suffix=", post")
    with pytest.raises(ValueError, match="not double-quoted"):
        parse_title_list("pre: C, post", known, prefix="pre: ", suffix=", post")


# ----------------------------------------------------------------------------- Goodreads
def test_goodreads_renders_the_files_text(goodreads: tuple[ItemCatalog, list[NextItemExample]],
                                          samples: list[dict[str, str]]) -> None:
    catalog, examples = goodreads
    ps = render_prompts(examples[:50], catalog, style="alpaca", noun=SPREC_GOODREADS_NOUN)
    for k, sample in enumerate(samples[:50]):
        assert sprec_instruction(SPREC_GOODREADS_NOUN) == sample["instruction"]
        titles = [catalog.titles[i] for i in ps.histories[k]]
        assert sprec_input(titles, SPREC_GOODREADS_NOUN) == sample["input"]
        assert ps.prompts[k] == alpaca_prompt(sample["instruction"], sample["input"])
        assert ps.completions[k] == sample["output"]


def test_goodreads_parse_covers_every_sample(goodreads: tuple[ItemCatalog, list[NextItemExample]],
                                             samples: list[dict[str, str]]) -> None:
    catalog, examples = goodreads
    assert len(examples) == len(samples) == 5000
    assert [ex.user for ex in examples[:2]] == ["goodreads-0", "goodreads-1"]
    # SPRec's 4,058 items plus Stephen King's "It", which 10 histories hold and the catalogue lacks
    assert len(catalog) == N_SPREC_ITEMS + 1 and catalog.titles[-1] == "It" and catalog.item_ids is not None
    assert catalog.item_ids[-1] == "added:It" and catalog.item_ids[:2] == ("0", "1")
    assert sum(len(ex.history) for ex in examples) == 49995
    assert Counter(len(ex.history) for ex in examples) == {10: 4999, 5: 1}
    assert all(ex.target < N_SPREC_ITEMS for ex in examples)
    assert sum(ex.history.count(N_SPREC_ITEMS) for ex in examples) == 10
    child = catalog.index_of('A Child Called "It" (Dave Pelzer #1)')
    assert sum(ex.history.count(child) for ex in examples) == 2
    # every prompt renders back to the file: nothing was lost or reordered
    ps = render_prompts(examples, catalog, style="alpaca", noun=SPREC_GOODREADS_NOUN)
    assert ps.truncation.n_truncated == 0
    assert ps.prompts == [alpaca_prompt(s["instruction"], s["input"]) for s in samples]
    assert ps.completions == [s["output"] for s in samples]


def test_goodreads_missing_titles_modes(goodreads_root: Path,
                                        goodreads: tuple[ItemCatalog, list[NextItemExample]]) -> None:
    catalog, examples = load_sprec_goodreads(goodreads_root, missing_titles="drop", verify=False)
    assert len(catalog) == N_SPREC_ITEMS and "It" not in catalog
    added = goodreads[1]
    changed = [k for k, (a, b) in enumerate(zip(added, examples)) if a != b]
    assert len(changed) == 10 and all(len(examples[k].history) == 9 for k in changed)
    with pytest.raises(ValueError, match=r"10 history title\(s\) are not in eval/id2name.json: 'It' x10"):
        load_sprec_goodreads(goodreads_root, missing_titles="raise", verify=False)
    with pytest.raises(ValueError, match="missing_titles must be one of 'add', 'drop', 'raise'"):
        load_sprec_goodreads(goodreads_root, missing_titles="skip")  # type: ignore[arg-type]


def test_goodreads_genres_are_the_seven_buckets(goodreads_root: Path,
                                                goodreads: tuple[ItemCatalog, list[NextItemExample]]) -> None:
    catalog, _ = goodreads
    buckets = json.loads((goodreads_root / "eval" / "genre_dict.json").read_text(encoding="utf-8"))
    assert catalog.genre_names == tuple(buckets) and len(buckets) == 7 and catalog.genres is not None
    name2genre = json.loads((goodreads_root / "eval" / "name2genre.json").read_text(encoding="utf-8"))
    for i in (0, 1, 100, 4057):
        expected = {g for g, name in enumerate(buckets) if name in name2genre[catalog.titles[i]]}
        assert set(catalog.genres[i]) == expected
    # 14 items have no genre at all, 10 only genres outside the buckets; "It" (added) has none
    assert sum(not g for g in catalog.genres) == 25 and catalog.genres[-1] == ()


# ----------------------------------------------------------------------------- ml-100k
def test_ml100k_catalogue_and_leave_one_out() -> None:
    catalog, examples = load_ml100k_next_item()
    assert len(catalog) == 1682 and len(set(catalog.titles)) == 1682 and len(examples) == 943
    assert catalog.titles[0] == "Toy Story (1995)" and catalog.item_ids is not None and catalog.item_ids[0] == "1"
    assert catalog.genre_names == ML100K_GENRES and catalog.genres is not None
    assert [ML100K_GENRES[g] for g in catalog.genres[0]] == ["Animation", "Children's", "Comedy"]
    # shared titles: the year separates some, the item id the rest (both ids of "Chasing Amy")
    assert "Sabrina (1954)" in catalog and "Sabrina (1995)" in catalog
    assert "Chasing Amy (1997) [246]" in catalog and "Chasing Amy (1997) [268]" in catalog
    assert "unkonwn" in catalog  # item 267: no title, no year in recbole's file
    assert sum(len(ex.history) + 1 for ex in examples) == 100000
    assert len({ex.user for ex in examples}) == 943 and examples[0].user == "1"
    # user 1's target is the last of their interactions by time (ties: file order)
    inter = pl.read_csv(recbole_ml100k_dir() / "ml-100k.inter", separator="\t", infer_schema=False)
    rows = inter.with_row_index().filter(pl.col("user_id:token") == "1")
    rows = rows.with_columns(pl.col("timestamp:float").cast(pl.Float64)).sort(["timestamp:float", "index"])
    sequence = [catalog.item_ids.index(i) for i in rows["item_id:token"].to_list()]
    assert examples[0] == NextItemExample("1", tuple(sequence[:-1]), sequence[-1])


# ----------------------------------------------------------------------------- split
def _toy_examples(n_users: int = 50) -> list[NextItemExample]:
    return [NextItemExample(f"u{u % n_users}", (u % 7,), u % 5) for u in range(2 * n_users)]


def test_split_by_user_is_deterministic_disjoint_and_complete() -> None:
    examples = _toy_examples()
    train, valid, test = split_examples(examples, valid_fraction=0.1, test_fraction=0.2, seed=3)
    users = [{ex.user for ex in part} for part in (train, valid, test)]
    assert [len(u) for u in users] == [35, 5, 10]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])
    assert sorted(map(id, train + valid + test)) == sorted(map(id, examples))
    assert train == [ex for ex in examples if ex.user in users[0]]  # input order kept
    assert split_examples(examples, valid_fraction=0.1, test_fraction=0.2, seed=3) == (train, valid, test)
    assert split_examples(examples, valid_fraction=0.1, test_fraction=0.2, seed=4) != (train, valid, test)
    assert split_examples(examples, valid_fraction=0, test_fraction=0.5)[1] == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"valid_fraction": -0.1}, r"valid_fraction must be a number in \[0, 1\)"),
    ({"test_fraction": 1.0}, r"test_fraction must be a number in \[0, 1\)"),
    ({"valid_fraction": 0.5, "test_fraction": 0.5}, "must be < 1"),
    ({"test_fraction": 0.001}, "rounds to no user"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_split_rejects(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_examples(_toy_examples(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="examples is empty"):
        split_examples([])


def test_goodreads_split_sizes(goodreads: tuple[ItemCatalog, list[NextItemExample]]) -> None:
    train, valid, test = split_examples(goodreads[1], seed=0)
    assert (len(train), len(valid), len(test)) == (4000, 500, 500)
