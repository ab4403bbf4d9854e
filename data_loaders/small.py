"""NBPO's Amazon split and SPRec's Goodreads sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from data_loaders._core import Dataset, DatasetInfo, log, register
from recpref.data import Interactions, Vocabulary

NBPO_SOURCE = ("Amazon Electronics 14-core split of NBPO (github.com/Wenhui-Yu/NBPO @ d2187a1 dataset/amazon); "
               "research use")
SPREC_SOURCE = ("SPRec Goodreads sample (github.com/RegionCh/SPRec @ 5fec95b data/Goodreads, eval/Goodreads); "
                "UCSD Book Graph, academic use")


def _lists(path: Path) -> list[list[int]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise ValueError(f"{path}: expected a JSON list of per-user item lists")
    return data


def _parse_nbpo(root: Path) -> Dataset:
    parts = {name: _lists(root / f"{file}_data.json")
             for name, file in (("train", "train"), ("valid", "validation"), ("test", "test"))}
    n_users = max(len(p) for p in parts.values())
    n_items = 1 + max(max((max(r) for r in p if r), default=-1) for p in parts.values())
    uv, iv = Vocabulary.identity(n_users), Vocabulary.identity(n_items)
    splits: dict[str, Interactions] = {}
    all_u: list[np.ndarray] = []
    all_i: list[np.ndarray] = []
    for name, rows in parts.items():
        u = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        i = np.array([x for r in rows for x in r], dtype=np.int64)
        splits[name] = Interactions.from_indices(u, i, n_users=n_users, n_items=n_items, user_vocab=uv, item_vocab=iv)
        all_u.append(u)
        all_i.append(i)
    data = Interactions.from_indices(np.concatenate(all_u), np.concatenate(all_i), n_users=n_users,
                                     n_items=n_items, user_vocab=uv, item_vocab=iv)
    return Dataset("nbpo-amazon", data, splits=splits, root=root, source=NBPO_SOURCE)


NBPO = register(DatasetInfo(
    name="nbpo-amazon",
    files={
        "train_data.json": "9feb28fdce1eceb15bcb6700a4bbda85ccffef9ef6878d1f908dfd50e4f0de0a",
        "validation_data.json": "550a4128b8c4c761b352c93304c21556f6c247d6ea988e171c3bf11fb4fb65b7",
        "test_data.json": "974a2774ef047aecbde3e5118a7138dac80ebe29a3d034952a7f0a49ed2b0911",
    },
    source=NBPO_SOURCE,
    parse=_parse_nbpo,
))

_PREFIX = "The user has played the following books before: "
_SUFFIX = ", please write a new books that the user may bought"


def split_titles(text: str, known: dict[str, int]) -> tuple[list[int], list[str]]:
    """Quoted, comma-separated titles -> (item ids, titles not in the catalogue).

    Titles may contain quotes or '", "' themselves, so at each position the longest run of
    pieces that forms a known title wins; a piece that starts no known title is returned as
    unmatched (the caller reports it; nothing is dropped silently)."""
    if not (text.startswith(_PREFIX) and text.endswith(_SUFFIX)):
        raise ValueError(f"unexpected SPRec input text: {text[:80]!r}")
    body = text[len(_PREFIX):-len(_SUFFIX)]
    if not (body.startswith('"') and body.endswith('"')):
        raise ValueError(f"history titles are not double-quoted: {body[:80]!r}")
    pieces = body[1:-1].split('", "')
    ids: list[int] = []
    unmatched: list[str] = []
    pos = 0
    while pos < len(pieces):
        for end in range(len(pieces), pos, -1):
            title = '", "'.join(pieces[pos:end])
            if title in known:
                ids.append(known[title])
                pos = end
                break
        else:
            unmatched.append(pieces[pos])
            pos += 1
    return ids, unmatched


def _parse_sprec(root: Path) -> Dataset:
    name2id: dict[str, int] = json.loads((root / "eval" / "name2id.json").read_text(encoding="utf-8"))
    id2name = json.loads((root / "eval" / "id2name.json").read_text(encoding="utf-8"))
    genres = json.loads((root / "eval" / "name2genre.json").read_text(encoding="utf-8"))
    samples = json.loads((root / "train.json").read_text(encoding="utf-8"))
    hist_u: list[int] = []
    hist_i: list[int] = []
    hist_pos: list[int] = []
    targets: list[int] = []
    histories: list[list[int]] = []
    unmatched: list[tuple[int, str]] = []
    for s, sample in enumerate(samples):
        history, missing = split_titles(sample["input"], name2id)
        unmatched += [(s, t) for t in missing]
        target_title = sample["output"].strip()
        if not (target_title.startswith('"') and target_title.endswith('"')) or target_title[1:-1] not in name2id:
            raise ValueError(f"train.json sample {s}: output {target_title[:80]!r} is not a known quoted title")
        histories.append(history)
        targets.append(name2id[target_title[1:-1]])
        hist_u += [s] * len(history)
        hist_i += history
        hist_pos += list(range(len(history)))
    if unmatched:
        log.warning("sprec-goodreads: %d history title(s) are not in eval/name2id.json and are not "
                    "interactions (see extras['unmatched_titles']), e.g. %r", len(unmatched), unmatched[0][1])
    n_items = len(id2name)
    n = len(samples)
    uv, iv = Vocabulary.identity(n), Vocabulary.identity(n_items)
    # A sample is one user context: its history is "train", the next book "test". A history can
    # repeat a title; keep its last position (the most recent read).
    train = Interactions.from_indices(hist_u, hist_i, n_users=n, n_items=n_items, user_vocab=uv, item_vocab=iv,
                                      timestamps=np.asarray(hist_pos, dtype=np.float64), dedupe="keep_last")
    test = Interactions.from_indices(np.arange(n), targets, n_users=n, n_items=n_items, user_vocab=uv, item_vocab=iv)
    both = Interactions.from_indices(np.concatenate([np.asarray(hist_u), np.arange(n)]),
                                     np.concatenate([np.asarray(hist_i), np.asarray(targets)]),
                                     n_users=n, n_items=n_items, user_vocab=uv, item_vocab=iv, dedupe="keep_first")
    items = pl.DataFrame({
        "item_id": np.arange(n_items),
        "title": [id2name[str(i)] for i in range(n_items)],
        "genres": [genres.get(id2name[str(i)], []) for i in range(n_items)],
    })
    prompts = pl.DataFrame({
        "sample": np.arange(n),
        "instruction": [x["instruction"] for x in samples],
        "input": [x["input"] for x in samples],
        "output": [x["output"] for x in samples],
        "history": histories,
        "target": targets,
    })
    return Dataset("sprec-goodreads", both, splits={"train": train, "test": test}, items=items,
                   extras={"prompts": prompts, "unmatched_titles": unmatched, "split_overlap_expected": True,
                           "genres": list(json.loads((root / "eval" / "genre_dict.json").read_text()).keys())},
                   root=root, source=SPREC_SOURCE)


SPREC = register(DatasetInfo(
    name="sprec-goodreads",
    files={
        "train.json": "c81b048a15c5051f7d942cd9d1610aff7330fa1f52e3eaed2b0ffad197c073a8",
        "eval/id2name.json": "2c275735eb004f08ccd3464cfd98530ae7b3e446a05ff829550d5e30bf1b23b1",
        "eval/name2id.json": "1ab171e265a45e752d27fce638950913f8fc32291db9e564592fd4e1858cee19",
        "eval/name2genre.json": "50f2bfb2156f5172ea048ea98fc4c351d3c5d7e1f494ba6ebe56ca2a3d8874d9",
        "eval/genre_dict.json": "7dbc35402f611e24d2068326edb1cccd182fc63fbf16bbd84d1020334f7daa71",
    },
    source=SPREC_SOURCE,
    parse=_parse_sprec,
))
