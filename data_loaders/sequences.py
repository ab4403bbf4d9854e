"""Time-ordered sequence datasets: Amazon Beauty / Toys / Sports (S3-Rec preprocessing)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from data_loaders._core import Dataset, DatasetInfo, register
from data_loaders._parse import read_user_lines
from recpref.data import Interactions, Vocabulary

_SOURCE = ("Amazon product data 2014 (McAuley et al. 2015; He & McAuley 2016), 5-core, S3-Rec preprocessing "
           "(github.com/RUCAIBox/CIKM2020-S3Rec data/{file}); research use, do not redistribute")


def _items_frame(path: Path) -> pl.DataFrame | None:
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pl.DataFrame({
        "item_id": [r["item_id"] for r in rows],
        "asin": [r.get("asin") for r in rows],
        "title": [r.get("title") for r in rows],
        "categories": [[c for path_ in r.get("categories", []) for c in path_] for r in rows],
    })


def parse_sequences(root: Path, name: str, seq_file: str) -> Dataset:
    users, items, position = read_user_lines(root / seq_file)
    # Position within the line is the time order (timestamps are not shipped): use it as the
    # timestamp so leave_last_out(by="timestamp") / temporal splits work.
    data = Interactions.from_raw(users, items, timestamps=position.astype(np.float64))
    extras: dict[str, object] = {"time_is_position": True}
    attrs = root / seq_file.replace(".txt", "_item2attributes.json")
    if attrs.is_file():
        extras["item_attributes"] = {int(k): v for k, v in json.loads(attrs.read_text(encoding="utf-8")).items()}
    users_frame = None
    if (root / "users.tsv").is_file():
        users_frame = pl.read_csv(root / "users.tsv", separator="\t")
    return Dataset(name, data, items=_items_frame(root / "items.jsonl"), users=users_frame, extras=extras,
                   root=root, source=_SOURCE.format(file=seq_file))


def _register(name: str, seq_file: str, files: dict[str, str | None]) -> DatasetInfo:
    return register(DatasetInfo(name=name, files=files, source=_SOURCE.format(file=seq_file),
                                parse=lambda root: parse_sequences(root, name, seq_file)))


BEAUTY = _register("amazon-beauty", "Beauty.txt", {
    "Beauty.txt": "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
    "Beauty_item2attributes.json": "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
    "attribute_names.tsv": "a01d86179c3663307c5e6e021b3bb1a11affc4ca8815b0b73ebf0137351767af",
    "items.jsonl": "be1df1948ba42d0ef9e9a94807cac2d2481df9a83b648ac15c07f3be6983b930",
    "users.tsv": "61e443ab0aa5cdadc3cdbc8803cd31d73aaba7af2966f6fb3ce9d8c0fe34a479",
})
TOYS = _register("amazon-toys", "Toys_and_Games.txt", {
    "Toys_and_Games.txt": "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
    "Toys_and_Games_item2attributes.json": "d371acd25101eedac04afc727626464b7acec770c4eda708705d51eb76eb1ad0",
    "items.jsonl": "f73001a5cb95f70f21185083024fdd2ac35a6b8bc9aa198951483aa160464123",
    "users.tsv": "b6834376bc13c305c803a3fdcbcd71fe79af3785e654c0c0fd76087cb31a67c6",
})
# Not staged here and no published checksum: loads with an UNVERIFIED warning (Dataset.unverified).
SPORTS = _register("amazon-sports", "Sports_and_Outdoors.txt", {"Sports_and_Outdoors.txt": None})


# ----------------------------------------------------------------------------- item categories
UNKNOWN_CATEGORY = "<unknown>"
CategoryLevel = int | Literal["leaf"]
CATEGORY_SEPARATOR = " > "


@dataclass(frozen=True)
class ItemCategories:
    """One category per item index of an `Interactions` item vocabulary.

    ``ids`` (n_items,) int64: ``ids[i]`` is the category of item index ``i``; ``names[c]`` the
    category's path from the root (``"Beauty > Makeup > Nails"``); categories are numbered in the
    sorted order of their names, with :data:`UNKNOWN_CATEGORY` last when some item has no
    category (``n_unknown`` items; never dropped). ``n_shallow`` items have a first path that
    ends above ``level`` and keep its last node (a coarser category)."""

    ids: np.ndarray
    names: tuple[str, ...]
    level: CategoryLevel
    n_unknown: int
    n_shallow: int

    @property
    def n_categories(self) -> int:
        return len(self.names)


def categories_from_paths(paths: Sequence[Sequence[str] | None], level: CategoryLevel = "leaf") -> ItemCategories:
    """Category paths (one per item, root first, e.g. the first category path of an Amazon item;
    None or empty = no category) -> `ItemCategories` of the node at depth ``level`` (0 = the
    root, e.g. "Beauty"; 1 = "Beauty > Makeup") or the path's ``"leaf"``. A path that ends above
    ``level`` keeps its own last node. Categories are keyed by their full path, so equal leaf names
    under different parents stay apart."""
    if level != "leaf" and (isinstance(level, bool) or not isinstance(level, int) or level < 0):
        raise ValueError(f"level must be 'leaf' or an integer depth >= 0 (0 = the root category); got {level!r}")
    keys: list[str | None] = []
    n_shallow = 0
    for path in paths:
        nodes = [str(c) for c in path] if path else []
        if not nodes:
            keys.append(None)
            continue
        if level != "leaf":
            n_shallow += len(nodes) <= level
            nodes = nodes[: level + 1]
        keys.append(CATEGORY_SEPARATOR.join(nodes))
    names = sorted({key for key in keys if key is not None})
    n_unknown = sum(key is None for key in keys)
    if n_unknown:
        names.append(UNKNOWN_CATEGORY)
    index = {name: c for c, name in enumerate(names)}
    ids = np.array([index[UNKNOWN_CATEGORY if key is None else key] for key in keys], dtype=np.int64)
    ids.setflags(write=False)
    return ItemCategories(ids, tuple(names), level, n_unknown, n_shallow)


def _first_paths(path: Path) -> dict[int, list[str]]:
    """items.jsonl -> {raw item_id: first category path} (the raw nested lists, not `Dataset.items`'
    flattened column, where the paths of items with several are run together)."""
    out: dict[int, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cats = row.get("categories") or []
            out[int(row["item_id"])] = list(cats[0]) if cats and cats[0] else []
    return out


def item_categories(ds: Dataset, level: CategoryLevel = "leaf", *,
                    vocab: Vocabulary | None = None) -> ItemCategories:
    """One category per item index of ``ds.interactions`` (or of ``vocab``, raw item ids) for the
    Amazon sequence datasets (amazon-beauty, amazon-toys; read from ``items.jsonl`` next to the
    data): the node at depth ``level`` of the item's **first** category path, keyed by its full
    path (see `categories_from_paths`). The default ``"leaf"`` is ComiRec's choice
    (``categories[0][-1]`` in its preprocessing), except that ComiRec keys by the leaf's name alone.
    ``level=1`` gives the top departments ("Beauty > Skin Care", ...). Items of the vocabulary
    without a row or without categories get :data:`UNKNOWN_CATEGORY` (counted in ``n_unknown``)."""
    src = ds.root / "items.jsonl"
    if not src.is_file():
        raise FileNotFoundError(f"{src} not found: item_categories reads the Amazon items.jsonl of {ds.name!r}")
    paths: Mapping[int, list[str]] = _first_paths(src)
    voc = ds.interactions.item_vocab if vocab is None else vocab
    raw = voc.to_raw(np.arange(len(voc))).tolist()
    return categories_from_paths([paths.get(int(r)) if str(r).isdigit() else None for r in raw], level)
