"""Next-item examples with item titles for the LLM recommenders (`recpref.llm`).

* `load_sprec_goodreads`: SPRec's Goodreads sample (``train.json`` + ``eval/``; files and sha256
  from the ``sprec-goodreads`` registry entry). Each of the 5,000 samples is one user (train.json
  has no user ids): ``user = f"goodreads-{row}"``.
* `load_ml100k_next_item`: MovieLens-100K (the recbole wheel's atomic files, ``ml-100k`` registry
  entry), one leave-one-out example per user.
* `split_examples`: a seeded split of examples by user.

Both loaders return ``(ItemCatalog, list[NextItemExample])``; render them with
`recpref.llm.render_prompts` (Goodreads: ``noun=SPREC_GOODREADS_NOUN`` reproduces the file's
wording). Nothing is dropped silently: whatever does not map raises, or is handled as the caller
asked and logged with its count.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import polars as pl

from data_loaders._core import REGISTRY, check_files, resolve_root
from recpref.llm.prompts import ItemCatalog, NextItemExample, sprec_completion, sprec_input, sprec_instruction

__all__ = [
    "ML100K_GENRES",
    "MissingTitles",
    "SPREC_GOODREADS_NOUN",
    "load_ml100k_next_item",
    "load_sprec_goodreads",
    "parse_title_list",
    "split_examples",
]

log = logging.getLogger(__name__)

SPREC_GOODREADS_NOUN = "books"
"""The noun of SPRec's Goodreads wording ("a new books", "the following books")."""

MissingTitles = Literal["add", "drop", "raise"]
"""What `load_sprec_goodreads` does with a history title that is not in SPRec's catalogue."""
_MISSING: tuple[str, ...] = get_args(MissingTitles)


# ----------------------------------------------------------------------------- SPRec Goodreads
def parse_title_list(text: str, known: Mapping[str, object], *, prefix: str, suffix: str) -> list[str]:
    """``prefix + '"T1", "T2", ...' + suffix`` -> [T1, T2, ...].

    Titles may contain ``"`` and even ``", "``, so the list is split on ``", "`` and, at each
    position, the longest run of pieces that joins (with ``", "``) into a title of ``known``
    is one title. A piece that starts no known title is returned on its own (the caller decides
    what to do with it). Raises ValueError when the text does not have the expected frame.
    """
    if not (text.startswith(prefix) and text.endswith(suffix)):
        raise ValueError(f"expected {prefix!r} ... {suffix!r}; got {text[:80]!r}...{text[-60:]!r}")
    body = text[len(prefix):len(text) - len(suffix)]
    if len(body) < 2 or not (body.startswith('"') and body.endswith('"')):
        raise ValueError(f"the title list is not double-quoted: {body[:80]!r}")
    pieces = body[1:-1].split('", "')
    titles: list[str] = []
    pos = 0
    while pos < len(pieces):
        end = next((e for e in range(len(pieces), pos, -1) if '", "'.join(pieces[pos:e]) in known), pos + 1)
        titles.append('", "'.join(pieces[pos:end]))
        pos = end
    return titles


def _read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _goodreads_genres(titles: Sequence[str], name2genre: Mapping[str, list[str]],
                      buckets: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    bucket_id = {name: g for g, name in enumerate(buckets)}
    outside: Counter[str] = Counter()
    genres: list[tuple[int, ...]] = []
    for title in titles:
        names = name2genre.get(title, [])
        outside.update(n for n in names if n not in bucket_id)
        genres.append(tuple(sorted({bucket_id[n] for n in names if n in bucket_id})))
    if outside:
        log.info("sprec-goodreads: genre names outside genre_dict.json's %d buckets are not item genres "
                 "(as in SPRec's evaluation): %s; %d item(s) have no bucket genre", len(buckets),
                 ", ".join(f"{n!r} ({c} items)" for n, c in outside.most_common()), sum(not g for g in genres))
    return tuple(genres)


def load_sprec_goodreads(root: str | Path | None = None, *, missing_titles: MissingTitles = "add",
                         verify: bool = True) -> tuple[ItemCatalog, list[NextItemExample]]:
    """SPRec's Goodreads sample as a catalogue and one example per ``train.json`` sample.

    ``root`` defaults to ``$RECPREF_DATA_DIR/sprec-goodreads``; files are sha256-checked as
    `data_loaders.load` does (``verify``). Every sample must carry SPRec's Goodreads instruction,
    its input must render back exactly from the parsed titles (`recpref.llm.sprec_input`) and its
    output must be a quoted catalogue title plus newline; otherwise ValueError naming the row.

    * **Catalogue**: ``eval/id2name.json`` (ids 0..4057, contiguous) gives item index = SPRec's id,
      ``item_ids`` = those ids as strings.
    * **History titles** are parsed with `parse_title_list` (titles with quotes stay whole: the 2
      occurrences of 'A Child Called "It" (Dave Pelzer #1)' map). One title occurs in histories
      but not in SPRec's catalogue: Stephen King's "It" (10 samples, once each). With
      ``missing_titles="add"`` (default) such titles are appended to the catalogue (after
      SPRec's items, in order of first occurrence, ``item_id = "added:<title>"``, no genres), so
      every prompt renders back to the file's text; ``"drop"`` removes them from the histories
      (the catalogue stays SPRec's 4,058 items); ``"raise"`` raises ValueError listing them. The
      count is logged either way. Every ``output`` title is in the catalogue (checked).
    * **Genres**: ``eval/name2genre.json`` lists 10 genre names; 7 are exactly the keys of
      ``eval/genre_dict.json`` (the fairness buckets, in that file's order = genre ids). An item's
      genres are its names that are buckets; "comics, graphic", "non-fiction" and "poetry" are
      not buckets and are left out, as SPRec's evaluation (``evaluate.py``'s ``gh``: keep the
      genres found in genre_dict) does. Counts are logged.
    * **History order** is the file's, taken as oldest first (BIGRec's preprocessing, which
      SPRec reuses, lists the most recent item last; the sample itself cannot confirm it).
    """
    if missing_titles not in _MISSING:
        raise ValueError(f"missing_titles must be one of {', '.join(map(repr, _MISSING))}; got {missing_titles!r}")
    info = REGISTRY["sprec-goodreads"]
    path = resolve_root(info, root)
    check_files(info, path, verify=verify)
    id2name = _read_json(path / "eval" / "id2name.json")
    name2genre = _read_json(path / "eval" / "name2genre.json")
    buckets = _read_json(path / "eval" / "genre_dict.json")
    samples = _read_json(path / "train.json")
    if not (isinstance(id2name, dict) and isinstance(name2genre, dict) and isinstance(buckets, dict)
            and isinstance(samples, list)):
        raise ValueError(f"{path}: unexpected JSON layout (id2name/name2genre/genre_dict objects, train.json a list)")
    if sorted(id2name, key=int) != [str(i) for i in range(len(id2name))]:
        raise ValueError(f"{path / 'eval' / 'id2name.json'}: ids are not 0..{len(id2name) - 1}")
    titles = [id2name[str(i)] for i in range(len(id2name))]
    index = {t: i for i, t in enumerate(titles)}
    instruction = sprec_instruction(SPREC_GOODREADS_NOUN)
    # the sentence around the title list, taken from recpref's own wording (one source of truth)
    probe = sprec_input(["\0"], SPREC_GOODREADS_NOUN)
    prefix, suffix = probe.split('"\0"')

    added: dict[str, int] = {}
    missing: Counter[str] = Counter()
    examples: list[NextItemExample] = []
    for row, sample in enumerate(samples):
        if sample.get("instruction") != instruction:
            raise ValueError(f"train.json row {row}: instruction {sample.get('instruction')!r} is not {instruction!r}")
        parsed = parse_title_list(sample["input"], index, prefix=prefix, suffix=suffix)
        if sprec_input(parsed, SPREC_GOODREADS_NOUN) != sample["input"]:
            raise ValueError(f"train.json row {row}: the parsed titles do not render back to the input")
        history: list[int] = []
        for title in parsed:
            if title in index:
                history.append(index[title])
                continue
            missing[title] += 1
            if missing_titles == "add":
                if title not in added:
                    added[title] = len(titles) + len(added)
                history.append(added[title])
        output = sample.get("output", "")
        quoted = isinstance(output, str) and output.startswith('"') and output.endswith('"\n')
        target: str = output[1:-2] if quoted else ""
        if target not in index or sprec_completion(target) != output:
            raise ValueError(f"train.json row {row}: output {output!r} is not a quoted catalogue title + newline")
        if not history:
            raise ValueError(f"train.json row {row}: no history title is in the catalogue: {parsed}")
        examples.append(NextItemExample(f"goodreads-{row}", tuple(history), index[target]))
    if missing:
        listing = ", ".join(f"{t!r} x{c}" for t, c in missing.most_common())
        if missing_titles == "raise":
            raise ValueError(f"sprec-goodreads: {sum(missing.values())} history title(s) are not in "
                             f"eval/id2name.json: {listing}; pass missing_titles='add' or 'drop'")
        log.warning("sprec-goodreads: %d history title(s) not in eval/id2name.json (%s) were %s", sum(missing.values()),
                    listing, "added to the catalogue" if missing_titles == "add" else "dropped from the histories")
    all_titles = titles + list(added)
    genres = _goodreads_genres(titles, name2genre, list(buckets)) + ((),) * len(added)
    catalog = ItemCatalog(tuple(all_titles), genres=genres, genre_names=tuple(buckets),
                          item_ids=tuple([str(i) for i in range(len(titles))] + [f"added:{t}" for t in added]))
    return catalog, examples


# ----------------------------------------------------------------------------- MovieLens-100K
ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
"""GroupLens' ``u.genre`` order (genre ids 0..18); "unknown" is one of its genres."""


def _ml100k_titles(titles: Sequence[str], years: Sequence[str | None], item_ids: Sequence[str]) -> list[str]:
    """Title + `` (year)`` when the year is four digits, else the title alone; titles still shared
    get `` [<item_id>]`` appended, on every item that shares them."""
    out = [f"{t} ({y})" if y is not None and len(y) == 4 and y.isdigit() else t for t, y in zip(titles, years)]
    no_year = [(i, y) for i, y in zip(item_ids, years) if y is None or not (len(y) == 4 and y.isdigit())]
    counts = Counter(out)
    shared = {t for t, c in counts.items() if c > 1}
    out = [f"{t} [{i}]" if t in shared else t for t, i in zip(out, item_ids)]
    log.info("ml-100k: %d raw titles are shared by several items; with the release year %d still are (%d items, "
             "given their item id); %d item(s) without a 4-digit year keep the bare title: %s",
             sum(c > 1 for c in Counter(titles).values()), len(shared), sum(counts[t] for t in shared),
             len(no_year), no_year)
    return out


def load_ml100k_next_item(root: str | Path | None = None, *,
                          verify: bool = True) -> tuple[ItemCatalog, list[NextItemExample]]:
    """MovieLens-100K as a catalogue and one leave-one-out example per user.

    ``root`` defaults to the recbole wheel's ``dataset_example/ml-100k`` (``$RECPREF_DATA_DIR/ml-100k``
    when that exists), files sha256-checked as `data_loaders.load` does; only recbole's atomic
    layout (``ml-100k.item``, ``ml-100k.inter``) is read.

    * **Catalogue**: the rows of ``ml-100k.item`` in file order (item index = row; ``item_ids`` =
      the file's ids). ml-100k has 22 titles shared by two or three items; titles are made unique
      as ``"Title (1995)"`` (18 are still shared: the same film under two ids, e.g. "Chasing Amy
      (1997)", ids 246 and 268), and those get the item id too: ``"Chasing Amy (1997) [246]"``.
      Two items have no four-digit year and keep their bare title (267 "unkonwn", 1412 "Land
      Before Time III: ..." with year "V"). Genres: the ``class`` tokens as ids into
      `ML100K_GENRES`; an unknown token raises ValueError.
    * **Examples**: all 100,000 ratings are interactions (no rating threshold). Each user's
      interactions are ordered by timestamp, ties by file order; the last is the target and all
      earlier ones the history (cut at prompt time by ``max_history``). Users are ordered by
      their numeric id; ``user`` is the raw id. A user with fewer than 2 interactions raises.
    """
    info = REGISTRY["ml-100k"]
    path = resolve_root(info, root)
    check_files(info, path, verify=verify)
    items = pl.read_csv(path / "ml-100k.item", separator="\t", quote_char=None, infer_schema=False)
    inter = pl.read_csv(path / "ml-100k.inter", separator="\t", infer_schema=False)
    item_ids = items["item_id:token"].to_list()
    titles = _ml100k_titles(items["movie_title:token_seq"].to_list(), items["release_year:token"].to_list(),
                            item_ids)
    genre_id = {g: k for k, g in enumerate(ML100K_GENRES)}
    genres: list[tuple[int, ...]] = []
    for raw, cls in zip(item_ids, items["class:token_seq"].fill_null("").to_list()):
        unknown = [g for g in cls.split() if g not in genre_id]
        if unknown:
            raise ValueError(f"ml-100k.item: item {raw} has genre(s) {unknown} not in {ML100K_GENRES}")
        genres.append(tuple(sorted({genre_id[g] for g in cls.split()})))
    catalog = ItemCatalog(tuple(titles), genres=tuple(genres), genre_names=ML100K_GENRES, item_ids=tuple(item_ids))

    index = {raw: i for i, raw in enumerate(item_ids)}
    unknown_items = sorted(set(inter["item_id:token"].to_list()) - set(index))
    if unknown_items:
        raise ValueError(f"ml-100k.inter: {len(unknown_items)} item id(s) not in ml-100k.item, "
                         f"e.g. {unknown_items[:5]}")
    users = np.asarray(inter["user_id:token"].to_list(), dtype=object)
    item_index = np.array([index[i] for i in inter["item_id:token"].to_list()], dtype=np.int64)
    times = inter["timestamp:float"].cast(pl.Float64).to_numpy()
    user_key = np.array([int(u) for u in users], dtype=np.int64)
    order = np.lexsort((np.arange(len(users)), times, user_key))  # user, then time, then file row
    examples: list[NextItemExample] = []
    bounds = np.flatnonzero(np.diff(user_key[order])) + 1
    for rows in np.split(order, bounds):
        user = str(users[rows[0]])
        seq = item_index[rows].tolist()
        if len(seq) < 2:
            raise ValueError(f"ml-100k: user {user} has {len(seq)} interaction(s); leave-one-out needs 2")
        examples.append(NextItemExample(user, tuple(seq[:-1]), seq[-1]))
    return catalog, examples


# ----------------------------------------------------------------------------- split
def _check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
    return float(value)


def split_examples(examples: Sequence[NextItemExample], *, valid_fraction: float = 0.1, test_fraction: float = 0.1,
                   seed: int = 0) -> tuple[list[NextItemExample], list[NextItemExample], list[NextItemExample]]:
    """(train, valid, test) by user: all examples of a user fall in one part.

    The distinct users (in order of first appearance) are permuted with
    ``numpy.random.default_rng(seed)``; the first ``round(test_fraction * n_users)`` (halves round
    up) are test users, the next ``round(valid_fraction * n_users)`` valid users, the rest train.
    Each part keeps the input order of its examples. Deterministic given ``seed``. Raises
    ValueError for fractions outside [0, 1) or summing to 1 or more, for a positive fraction
    that gets no user, and when no user is left for train.
    """
    valid_f = _check_fraction("valid_fraction", valid_fraction)
    test_f = _check_fraction("test_fraction", test_fraction)
    if valid_f + test_f >= 1:
        raise ValueError(f"valid_fraction + test_fraction must be < 1; got {valid_f} + {test_f}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    if not examples:
        raise ValueError("examples is empty")
    users = list(dict.fromkeys(ex.user for ex in examples))
    n = len(users)
    n_test, n_valid = math.floor(test_f * n + 0.5), math.floor(valid_f * n + 0.5)
    for name, f, count in (("test_fraction", test_f, n_test), ("valid_fraction", valid_f, n_valid)):
        if f > 0 and count == 0:
            raise ValueError(f"{name}={f} of {n} users rounds to no user; use a larger fraction or 0")
    if n - n_test - n_valid < 1:
        raise ValueError(f"no train user left: {n} users, {n_test} test, {n_valid} valid")
    perm = np.random.default_rng(seed).permutation(n)
    part = {users[u]: 2 for u in perm[:n_test]} | {users[u]: 1 for u in perm[n_test:n_test + n_valid]}
    out: tuple[list[NextItemExample], list[NextItemExample], list[NextItemExample]] = ([], [], [])
    for ex in examples:
        out[part.get(ex.user, 0)].append(ex)
    return out
