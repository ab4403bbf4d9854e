"""Time-ordered sequence datasets: Amazon Beauty / Toys / Sports (S3-Rec preprocessing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from data_loaders._core import Dataset, DatasetInfo, register
from data_loaders._parse import read_user_lines
from recpref.data import Interactions

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
